"""A client of fastreg's sandbox control API (docs/sandbox-api.md), on the standard library only.

One :class:`SandboxClient` talks to one base URL: the server's root (the default world, and the
worlds calls) or a world's base URL ``{server}/w/{id}`` (that world only). Refusals raise
:class:`FastregError` with the errcode, the HTTP status and the errmsg; the admin token and the
bodies sent are never part of an error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union, cast

JSON = Dict[str, Any]
"""A JSON object as answered by the sandbox API."""

DEFAULT_TIMEOUT = 10.0


class FastregError(Exception):
    """A refusal: of the sandbox API (HTTP status and errcode), of a page, or of the transport
    (``errcode`` -1 and ``status`` 0 when no answer came).

    The message names the method and the path (never the query, the body or the token).
    """

    def __init__(self, errcode: int, errmsg: str, status: int, method: str = "", path: str = ""):
        self.errcode = errcode
        self.errmsg = errmsg
        self.status = status
        self.method = method
        self.path = path
        where = f"{method} {path}: " if method or path else ""
        super().__init__(f"{where}HTTP {status}, errcode {errcode}: {errmsg}")


def _path_only(url: str) -> str:
    """The path of a URL, for messages: queries carry codes and tickets."""
    return urllib.parse.urlsplit(url).path


def _refusal(method: str, url: str, status: int, raw: bytes) -> FastregError:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("errcode"), int):
        return FastregError(body["errcode"], str(body.get("errmsg", "")), status, method, _path_only(url))
    text = raw[:200].decode("utf-8", "replace").strip()
    return FastregError(-1, text or "no errcode in the answer", status, method, _path_only(url))


class SandboxClient:
    """The sandbox control API under ``base_url`` (no trailing ``/sandbox/v1``).

    ``base_url`` is the server (``http://127.0.0.1:8080``) or a world's base URL
    (``http://127.0.0.1:8080/w/{id}``); ``admin_token`` is the server's admin token or, for a
    world, that world's own.
    """

    def __init__(self, base_url: str, admin_token: str, *, timeout: float = DEFAULT_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self._token = admin_token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SandboxClient({self.base_url!r})"

    # --- the one HTTP choke point ------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Optional[Any] = None,
        query: Optional[Mapping[str, Union[str, int, None]]] = None,
        *,
        raw: bool = False,
    ) -> Any:
        """Calls ``{base_url}/sandbox/v1{path}``; returns the decoded JSON (``None`` for 204, the
        text when ``raw``). Raises :class:`FastregError` on any refusal or transport failure."""
        url = f"{self.base_url}/sandbox/v1{path}"
        if query:
            pairs = {k: str(v) for k, v in query.items() if v is not None}
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self._token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                content = resp.read()
        except urllib.error.HTTPError as e:
            raise _refusal(method, url, e.code, e.read()) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise FastregError(-1, f"no answer: {reason}", 0, method, _path_only(url)) from None
        if raw:
            return content.decode()
        if not content:
            return None
        answer = json.loads(content)
        # A storage fault is answered HTTP 200 with an errcode (docs/sandbox-api.md, Answers).
        if isinstance(answer, dict) and isinstance(answer.get("errcode"), int) and answer["errcode"] != 0:
            raise FastregError(answer["errcode"], str(answer.get("errmsg", "")), 200, method, _path_only(url))
        return answer

    def _get(self, path: str, **query: Union[str, int, None]) -> Any:
        return self.request("GET", path, query=query)

    def _post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def _patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)

    @staticmethod
    def _fields(**fields: Any) -> JSON:
        return {k: v for k, v in fields.items() if v is not None}

    # --- worlds (at the server's root, with the server's token) --------------------------------

    def create_world(
        self,
        *,
        name: Optional[str] = None,
        start: Optional[int] = None,
        frozen: Optional[bool] = None,
        config: Optional[JSON] = None,
        seed: Optional[JSON] = None,
    ) -> JSON:
        """``POST /worlds``: ``{id, admin_token, base_path, name, now, frozen, created_at}``."""
        clock = self._fields(start=start, frozen=frozen)
        body = self._fields(name=name, clock=clock or None, config=config, seed=seed)
        return cast(JSON, self._post("/worlds", body))

    def worlds(self) -> List[JSON]:
        """``GET /worlds``: every world, the default one first."""
        return cast(List[JSON], self._get("/worlds"))

    def get_world(self, world_id: str) -> JSON:
        return cast(JSON, self._get(f"/worlds/{_seg(world_id)}"))

    def delete_world(self, world_id: str) -> None:
        self.request("DELETE", f"/worlds/{_seg(world_id)}")

    def world(self, world_id: str, admin_token: Optional[str] = None) -> "SandboxClient":
        """A client of the world's own sandbox API (``{server}/w/{id}``), with the world's token
        when given, else this client's (the server's token works in every world)."""
        return SandboxClient(
            f"{self.base_url}/w/{_seg(world_id)}", admin_token or self._token, timeout=self.timeout
        )

    def reset(self) -> JSON:
        """``POST /reset``: this world as right after its creation."""
        return cast(JSON, self._post("/reset", {}))

    def export(self) -> JSON:
        """``GET /export``: this world as a seed document (JSON), to create another from."""
        return cast(JSON, self._get("/export"))

    def export_toml(self) -> str:
        return cast(str, self.request("GET", "/export", query={"format": "toml"}, raw=True))

    # --- clock, faults, config -----------------------------------------------------------------

    def clock(self) -> JSON:
        """``GET /clock``: ``{now, offset, frozen}``."""
        return cast(JSON, self._get("/clock"))

    def advance_clock(self, seconds: int) -> JSON:
        """``POST /clock/advance``: moves this world's clock (expiries, tickets, quota month)."""
        return cast(JSON, self._post("/clock/advance", {"seconds": int(seconds)}))

    def add_fault(self, path: str, inject_errcode: int, *, times: int = 1, when: str = "before") -> JSON:
        """``POST /faults``: the next ``times`` calls to ``path`` answer ``inject_errcode``."""
        return cast(
            JSON, self._post("/faults", {"path": path, "inject_errcode": inject_errcode, "times": times, "when": when})
        )

    def faults(self) -> List[JSON]:
        return cast(List[JSON], self._get("/faults"))

    def clear_faults(self) -> None:
        self.request("DELETE", "/faults")

    def config(self) -> JSON:
        return cast(JSON, self._get("/config"))

    def patch_config(
        self,
        *,
        rules: Optional[JSON] = None,
        processing_delay_ms: Optional[int] = None,
        booleans: Optional[str] = None,
    ) -> JSON:
        body = self._fields(rules=rules, processing_delay_ms=processing_delay_ms, booleans=booleans)
        return cast(JSON, self._patch("/config", body))

    # --- components, entities, official accounts -----------------------------------------------

    def create_component(self, *, auth_domain: str = "localhost", published: bool = True,
                         permission_sets: Sequence[int] = (1, 2, 3, 4, 7, 11, 15, 17, 18, 27, 30, 31),
                         **fields: Any) -> JSON:
        """``POST /components`` (``appid``, ``appsecret``, ``token``, ``encoding_aes_key``,
        ``event_url``, ``mp_permission_sets``, ``ip_whitelist`` as keyword arguments)."""
        body = {"auth_domain": auth_domain, "published": published, "permission_sets": list(permission_sets)}
        body.update(self._fields(**fields))
        return cast(JSON, self._post("/components", body))

    def components(self) -> List[JSON]:
        return cast(List[JSON], self._get("/components"))

    def component(self, appid: str) -> JSON:
        return cast(JSON, self._get(f"/components/{_seg(appid)}"))

    def patch_component(self, appid: str, **fields: Any) -> JSON:
        """``PATCH /components/{appid}``: the fields given, as given (``event_url=None`` removes
        the event URL)."""
        return cast(JSON, self._patch(f"/components/{_seg(appid)}", fields))

    def verify_ticket(self, appid: str) -> str:
        """The component's newest ``component_verify_ticket``."""
        answer = cast(JSON, self._get(f"/components/{_seg(appid)}/verify-ticket"))
        return cast(str, answer["component_verify_ticket"])

    def token_counts(self, appid: str) -> JSON:
        return cast(JSON, self._get(f"/components/{_seg(appid)}/token-counts"))

    def create_entity(self, name: str, type: str = "enterprise", **fields: Any) -> JSON:
        """``POST /entities`` (``id``, ``overseas``, ``blacklisted``, ``mini_program_cap``)."""
        return cast(JSON, self._post("/entities", {"name": name, "type": type, **self._fields(**fields)}))

    def entities(self) -> List[JSON]:
        return cast(List[JSON], self._get("/entities"))

    def entity(self, entity_id: int) -> JSON:
        return cast(JSON, self._get(f"/entities/{int(entity_id)}"))

    def patch_entity(self, entity_id: int, **fields: Any) -> JSON:
        return cast(JSON, self._patch(f"/entities/{int(entity_id)}", fields))

    def create_official_account(self, nickname: str, entity_id: int, verified: bool = True, **fields: Any) -> JSON:
        """``POST /official-accounts`` (``appid``, ``user_name``, ``pending_registration``,
        ``link_cap``)."""
        body = {"nickname": nickname, "entity_id": entity_id, "verified": verified, **self._fields(**fields)}
        return cast(JSON, self._post("/official-accounts", body))

    def official_accounts(self) -> List[JSON]:
        return cast(List[JSON], self._get("/official-accounts"))

    def official_account(self, appid: str) -> JSON:
        return cast(JSON, self._get(f"/official-accounts/{_seg(appid)}"))

    def patch_official_account(self, appid: str, **fields: Any) -> JSON:
        return cast(JSON, self._patch(f"/official-accounts/{_seg(appid)}", fields))

    # --- what people do on WeChat's pages, as API shortcuts -------------------------------------

    def authorize(self, component_appid: str, authorizer_appid: str, permission_sets: Sequence[int]) -> JSON:
        """``POST /authorizations``: what confirming on componentloginpage does (push included):
        ``{auth_code, expires_in, change, permission_sets, withheld_sets}``."""
        body = {
            "component_appid": component_appid,
            "authorizer_appid": authorizer_appid,
            "permission_sets": list(permission_sets),
        }
        return cast(JSON, self._post("/authorizations", body))

    def authorizations(self) -> List[JSON]:
        return cast(List[JSON], self._get("/authorizations"))

    def revoke_authorization(self, component_appid: str, authorizer_appid: str) -> JSON:
        body = {"component_appid": component_appid, "authorizer_appid": authorizer_appid}
        return cast(JSON, self._post("/authorizations/revoke", body))

    def confirm_fast_registration(
        self, component_appid: str, appid: str, *, copy_wx_verify: bool = True,
        redirect_uri: str = "http://localhost/callback",
    ) -> JSON:
        """``POST /fastregister-confirmations``: what confirming on fastregisterauth does:
        ``{ticket, redirect_url, expires_at}``."""
        body = {
            "component_appid": component_appid,
            "appid": appid,
            "copy_wx_verify": 1 if copy_wx_verify else 0,
            "redirect_uri": redirect_uri,
        }
        return cast(JSON, self._post("/fastregister-confirmations", body))

    def registrations(self, appid: Optional[str] = None, limit: Optional[int] = None) -> List[JSON]:
        """``GET /registrations``: newest first."""
        return cast(List[JSON], self._get("/registrations", appid=appid, limit=limit))

    def pushes(self, component_appid: Optional[str] = None, limit: Optional[int] = None) -> List[JSON]:
        """``GET /pushes``: the push log, newest first."""
        return cast(List[JSON], self._get("/pushes", component_appid=component_appid, limit=limit))


def _seg(value: str) -> str:
    """One path segment, escaped."""
    return urllib.parse.quote(str(value), safe="")
