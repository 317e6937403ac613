"""wechatpy 1.8.18, unchanged, walks the fast-registration flow against fastreg with only its base
URLs changed: pushes verified and decrypted by its WeChatCrypto, the component token, the pre-auth
URL it builds, the admin's confirmation on the pages, query_auth, fastregister through its
authorizer client, and refusals as WeChatClientException with WeChat's errcode."""

import secrets
import urllib.error
import urllib.request
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import pytest
from wechatpy.client import WeChatComponentClient
from wechatpy.component import WeChatComponent
from wechatpy.exceptions import WeChatClientException

REDIRECT = "https://localhost/callback"


class Page(HTMLParser):
    """What a browser sees of a fastreg page: its links, its form and the inputs it would send."""

    def __init__(self, html):
        super().__init__()
        self.links, self.action, self.fields, self.codes = [], None, [], []
        self._in_code = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "form":
            self.action = a.get("action")
        elif tag == "input":
            kind = a.get("type", "text")
            if kind == "hidden" or (kind == "checkbox" and "checked" in a):
                self.fields.append((a["name"], a.get("value", "on")))
        elif tag == "p" and a.get("class") == "code":
            self._in_code = True

    def handle_data(self, data):
        if self._in_code:
            self.codes.append(data.strip())
            self._in_code = False


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browse(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return Page(resp.read().decode())
    except urllib.error.HTTPError as e:
        page = Page(e.read().decode())
        raise AssertionError(f"{url} answered HTTP {e.code}, errcode {page.codes}") from None


def submit(base, page):
    """Presses the page's confirm button; returns the query of where the browser is sent."""
    assert page.action, "the page has no confirmation form"
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(urljoin(base, page.action), data=urlencode(page.fields).encode())
    try:
        opener.open(req, timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 302, f"confirming answered HTTP {e.code}"
        return {k: v[0] for k, v in parse_qs(urlparse(e.headers["Location"]).query).items()}
    raise AssertionError("confirming did not redirect")


@pytest.fixture
def wechat(platform, inbox, monkeypatch):
    """A component created for this test, its push inbox, and wechatpy pointed at fastreg by
    base URL (the only change a wechatpy user makes)."""
    appid = "wxc" + secrets.token_hex(8)[:15]
    token = secrets.token_hex(16)
    aes_key = secrets.token_urlsafe(40).replace("-", "a").replace("_", "b")[:43]
    secret = secrets.token_hex(16)
    component = WeChatComponent(appid, secret, token, aes_key)
    component.API_BASE_URL = f"{platform.base}/cgi-bin"
    component.PRE_AUTH_URL = f"{platform.base}/cgi-bin/componentloginpage"
    monkeypatch.setattr(WeChatComponentClient, "API_BASE_URL", f"{platform.base}/cgi-bin/")
    inbox.handler = component.parse_message
    # Creating the component pushes its first verify ticket to the event URL at once.
    platform.sandbox("POST", "/components", {
        "appid": appid, "appsecret": secret, "token": token, "encoding_aes_key": aes_key,
        "event_url": inbox.url, "auth_domain": "localhost", "published": True,
        "permission_sets": [1, 2, 3, 4, 7, 11, 15, 17, 18, 27, 30, 31],
        "mp_permission_sets": [17, 18, 19, 25, 30, 31],
    })
    entity = platform.sandbox("POST", "/entities", {"name": f"Acme {appid}", "type": "enterprise"})
    oa = platform.sandbox("POST", "/official-accounts", {
        "nickname": "Acme Official", "entity_id": entity["id"], "verified": True,
    })
    return component, oa["appid"]


def authorise(platform, component, oa):
    """The OA's admin opens the link wechatpy built, picks the account and confirms."""
    page = browse(component.get_pre_auth_url(REDIRECT))
    choice = [l for l in page.links if f"biz_appid={oa}" in l]
    assert choice, f"the page offers no link for {oa}"
    landed = submit(platform.base, browse(urljoin(platform.base, choice[0])))
    assert "auth_code" in landed, landed


def fast_register_ticket(platform, component, oa):
    """The OA's admin confirms on fastregisterauth (WeChat's documented link) → the ticket."""
    link = f"{platform.base}/cgi-bin/fastregisterauth?" + urlencode({
        "appid": oa, "component_appid": component.component_appid, "copy_wx_verify": 1,
        "redirect_uri": REDIRECT,
    })
    landed = submit(platform.base, browse(link))
    assert "ticket" in landed, landed
    return landed["ticket"]


def test_wechatpy_walks_the_whole_flow_with_only_its_base_urls_changed(platform, inbox, wechat):
    component, oa = wechat
    inbox.wait_for("component_verify_ticket")
    assert component.component_verify_ticket

    assert component.fetch_access_token()["component_access_token"]
    authorise(platform, component, oa)
    # wechatpy's parse_message exchanges the pushed authorization_code itself.
    authorized = inbox.wait_for("authorized")
    info = authorized.query_auth_result["authorization_info"]
    assert info["authorizer_appid"] == oa
    assert 27 in [f["funcscope_category"]["id"] for f in info["func_info"]]

    client = component.get_client_by_appid(oa)
    ticket = fast_register_ticket(platform, component, oa)
    result = client.post("account/fastregister", data={"ticket": ticket})
    assert result["errcode"] == 0
    assert result["is_wx_verify_succ"] in (True, "true")
    mp = component.query_auth(result["authorization_code"])["authorization_info"]
    assert mp["authorizer_appid"] == result["appid"]
    assert component.session.get(f"{result['appid']}_refresh_token")

    # The Mini Program is linked to the OA, seen through wechatpy's authorizer client.
    linked = client.post("wxopen/wxamplinkget", data={})
    assert result["appid"] in [w["appid"] for w in linked["wxopens"]["items"]]


def test_refusals_surface_as_wechat_client_exceptions_with_wechats_errcode(platform, inbox, wechat):
    component, oa = wechat
    inbox.wait_for("component_verify_ticket")
    authorise(platform, component, oa)
    inbox.wait_for("authorized")
    client = component.get_client_by_appid(oa)

    with pytest.raises(WeChatClientException) as unknown:
        client.post("account/fastregister", data={"ticket": secrets.token_hex(16)})
    assert unknown.value.errcode == 61058

    for _ in range(5):
        ticket = fast_register_ticket(platform, component, oa)
        assert client.post("account/fastregister", data={"ticket": ticket})["errcode"] == 0
    ticket = fast_register_ticket(platform, component, oa)
    with pytest.raises(WeChatClientException) as quota:
        client.post("account/fastregister", data={"ticket": ticket})
    assert quota.value.errcode == 61055
