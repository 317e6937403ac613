"""What an Official Account's admin does on fastreg's two pages, done the way a browser does it.

- componentloginpage: open the link the component built (from its pre_auth_code), pick the
  account, press "Confirm authorisation" (the form's hidden fields, its csrf token and the ticked
  permission sets); the browser is redirected to ``redirect_uri`` with ``auth_code``.
- fastregisterauth: open the link, press "Confirm registration"; the browser is redirected to
  ``redirect_uri`` with ``ticket``.

Nothing here calls the sandbox API: the pages check what a real admin's browser would send (the
csrf token bound to the page as shown), so a test using these helpers exercises the pages. A page
that refuses raises :class:`~fastreg.client.FastregError` with the errcode it shows.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Dict, List, Optional, Sequence, Tuple

from .client import DEFAULT_TIMEOUT, FastregError

DEFAULT_REDIRECT = "http://localhost/callback"
"""A redirect_uri on ``localhost``, the demo world component's ``auth_domain``."""


@dataclass(frozen=True)
class Authorized:
    """Where confirming on componentloginpage sent the browser."""

    auth_code: str
    expires_in: int
    redirect_url: str


class _Page(HTMLParser):
    """What a browser sees of a fastreg page: its links, its form, the inputs it would send,
    and, on a refusal, the errcode and the text shown."""

    def __init__(self, html: str):
        super().__init__()
        self.links: List[str] = []
        self.action: Optional[str] = None
        self.fields: List[Tuple[str, str]] = []
        self.sets: List[str] = []
        self.errcode: Optional[int] = None
        self.texts: List[str] = []
        self._in: Optional[str] = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        a = {k: v or "" for k, v in attrs}
        present = {k for k, _ in attrs}
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "form":
            self.action = a.get("action")
        elif tag == "input" and "disabled" not in present:
            kind = a.get("type", "text")
            if kind == "hidden":
                self.fields.append((a["name"], a.get("value", "")))
            elif kind == "checkbox" and "checked" in present and a.get("name") == "set":
                self.sets.append(a.get("value", "on"))
        elif tag == "p":
            self._in = "code" if a.get("class") == "code" else "p"

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._in = None

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not text or self._in is None:
            return
        if self._in == "code" and self.errcode is None:
            try:
                self.errcode = int(text)
            except ValueError:
                pass
        elif self._in == "p" and self.errcode is not None and len(self.texts) < 2:
            self.texts.append(text)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _open(method: str, url: str, data: Optional[bytes], timeout: float) -> Tuple[int, Dict[str, str], str]:
    """One browser request without following redirects: (status, headers, body)."""
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    path = urllib.parse.urlsplit(url).path
    try:
        with _opener.open(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        raise FastregError(-1, f"no answer: {getattr(e, 'reason', e)}", 0, method, path) from None


def _refused(method: str, url: str, status: int, body: str) -> FastregError:
    page = _Page(body)
    path = urllib.parse.urlsplit(url).path
    if page.errcode is not None:
        return FastregError(page.errcode, ": ".join(page.texts) or "refused", status, method, path)
    return FastregError(-1, f"unexpected answer (HTTP {status})", status, method, path)


def _browse(url: str, timeout: float) -> _Page:
    status, _, body = _open("GET", url, None, timeout)
    if status != 200:
        raise _refused("GET", url, status, body)
    return _Page(body)


def _submit(url: str, page: _Page, fields: List[Tuple[str, str]], timeout: float) -> Dict[str, str]:
    """Presses the page's confirm button; returns the query of where the browser is sent."""
    if not page.action:
        raise FastregError(-1, "the page has no confirmation form", 200, "GET", urllib.parse.urlsplit(url).path)
    target = urllib.parse.urljoin(url, page.action)
    status, headers, body = _open("POST", target, urllib.parse.urlencode(fields).encode(), timeout)
    location = headers.get("Location") or headers.get("location")
    if status != 302 or not location:
        raise _refused("POST", target, status, body)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    landed = {k: v[0] for k, v in query.items()}
    landed["__url__"] = location
    return landed


def login_page_url(
    base_url: str,
    component_appid: str,
    pre_auth_code: str,
    redirect_uri: str = DEFAULT_REDIRECT,
    *,
    auth_type: Optional[int] = None,
    biz_appid: Optional[str] = None,
) -> str:
    """componentloginpage's link under ``base_url`` (a world's base URL, or the server's), as a
    component builds it from its pre_auth_code."""
    params: Dict[str, str] = {
        "component_appid": component_appid,
        "pre_auth_code": pre_auth_code,
        "redirect_uri": redirect_uri,
    }
    if auth_type is not None:
        params["auth_type"] = str(auth_type)
    if biz_appid is not None:
        params["biz_appid"] = biz_appid
    return f"{base_url.rstrip('/')}/cgi-bin/componentloginpage?" + urllib.parse.urlencode(params)


def fastregister_url(
    base_url: str,
    appid: str,
    component_appid: str,
    *,
    copy_wx_verify: bool = True,
    redirect_uri: str = DEFAULT_REDIRECT,
) -> str:
    """fastregisterauth's link under ``base_url``, as WeChat documents it."""
    params = {
        "appid": appid,
        "component_appid": component_appid,
        "copy_wx_verify": "1" if copy_wx_verify else "0",
        "redirect_uri": redirect_uri,
    }
    return f"{base_url.rstrip('/')}/cgi-bin/fastregisterauth?" + urllib.parse.urlencode(params)


def confirm_authorization(
    url: str,
    appid: Optional[str] = None,
    *,
    sets: Optional[Sequence[int]] = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Authorized:
    """Opens componentloginpage at ``url``, picks the account ``appid`` (needed when the page
    offers a choice and more than one account), confirms with the sets the page ticks (or only
    ``sets``), and returns the ``auth_code`` the browser is redirected with."""
    page = _browse(url, timeout)
    if page.action is None:
        choices = [link for link in page.links if "biz_appid=" in link]
        if appid is not None:
            wanted = f"biz_appid={urllib.parse.quote(appid, safe='')}"
            choices = [link for link in choices if wanted in urllib.parse.urlsplit(link).query.split("&")]
        if len(choices) != 1:
            which = "no account" if not choices else f"{len(choices)} accounts; pass appid="
            raise FastregError(-1, f"the page offers {which}", 200, "GET", urllib.parse.urlsplit(url).path)
        url = urllib.parse.urljoin(url, choices[0])
        page = _browse(url, timeout)
    ticked = page.sets
    if sets is not None:
        wanted_sets = [str(s) for s in sets]
        missing = [s for s in wanted_sets if s not in page.sets]
        if missing:
            raise FastregError(
                -1, f"the page does not offer set(s) {', '.join(missing)}", 200, "GET",
                urllib.parse.urlsplit(url).path,
            )
        ticked = wanted_sets
    fields = page.fields + [("set", s) for s in ticked]
    landed = _submit(url, page, fields, timeout)
    if "auth_code" not in landed:
        raise FastregError(-1, "the redirect carries no auth_code", 302, "POST", urllib.parse.urlsplit(url).path)
    return Authorized(landed["auth_code"], int(landed.get("expires_in", "0") or 0), landed["__url__"])


def confirm_fast_registration(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Opens fastregisterauth at ``url``, confirms, and returns the ``ticket`` the browser is
    redirected with (for ``account/fastregister``)."""
    page = _browse(url, timeout)
    landed = _submit(url, page, page.fields, timeout)
    if "ticket" not in landed:
        raise FastregError(-1, "the redirect carries no ticket", 302, "POST", urllib.parse.urlsplit(url).path)
    return landed["ticket"]
