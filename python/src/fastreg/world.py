"""A world (platform.md §9): a sandbox of its own inside one fastreg server, under
``{server}/w/{id}``, with its own objects, credentials, clock, faults and settings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Type, Union

from . import pages
from .client import JSON, FastregError, SandboxClient

if TYPE_CHECKING:
    from .sandbox import Sandbox

DEMO_COMPONENT = "wxc0ffee0000000001"
"""The demo world's component."""
DEMO_OA = "wx0a00000000000001"
"""The demo world's Official Account that fast-registers cleanly (five times a month)."""

# The quota month is Asia/Shanghai's, which has been UTC+8 without daylight saving since 1991.
_SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class Component:
    """A component's credentials, as a WeChat client is configured with them."""

    appid: str
    appsecret: str
    token: str
    encoding_aes_key: str

    def __repr__(self) -> str:  # no secrets in reprs (test reports print them)
        return f"Component(appid={self.appid!r})"


def next_month_start(now: int) -> int:
    """The first second of the Asia/Shanghai month after the one ``now`` (unix seconds) is in."""
    t = dt.datetime.fromtimestamp(now, _SHANGHAI)
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return int(dt.datetime(year, month, 1, tzinfo=_SHANGHAI).timestamp())


class World:
    """A world of a fastreg server: its base URL (point a WeChat client there), its admin token,
    a sandbox client bound to it, its (first) component's credentials, and the admin's pages.

    Created by :func:`create_world` or the ``fastreg_world`` fixture; :meth:`delete` (or leaving
    a ``with`` block) removes it.
    """

    def __init__(self, server: SandboxClient, created: JSON):
        self.id: str = created["id"]
        self.name: str = str(created.get("name") or self.id)
        self.admin_token: str = created["admin_token"]
        self.base_url: str = f"{server.base_url}{created['base_path']}"
        self.created: JSON = {k: v for k, v in created.items() if k != "admin_token"}
        self.client = SandboxClient(self.base_url, self.admin_token, timeout=server.timeout)
        self._server = server
        self._component: Optional[Component] = None
        self._deleted = False

    def __repr__(self) -> str:
        return f"World(id={self.id!r}, base_url={self.base_url!r})"

    # --- the component ----------------------------------------------------------------------------

    @property
    def component(self) -> Component:
        """The world's first component (the demo world's ``wxc0ffee0000000001``)."""
        if self._component is None:
            components = self.client.components()
            if not components:
                raise LookupError(f"world {self.id} has no component")
            self._component = _component(components[0])
        return self._component

    def component_of(self, appid: str) -> Component:
        return _component(self.client.component(appid))

    def verify_ticket(self, component_appid: Optional[str] = None) -> str:
        """The component's newest ``component_verify_ticket`` (what WeChat pushes)."""
        return self.client.verify_ticket(component_appid or self.component.appid)

    # --- the admin's pages --------------------------------------------------------------------------

    def login_page_url(
        self, pre_auth_code: str, redirect_uri: str = pages.DEFAULT_REDIRECT, *,
        component_appid: Optional[str] = None, auth_type: Optional[int] = None,
        biz_appid: Optional[str] = None,
    ) -> str:
        return pages.login_page_url(
            self.base_url, component_appid or self.component.appid, pre_auth_code, redirect_uri,
            auth_type=auth_type, biz_appid=biz_appid,
        )

    def authorize(
        self, pre_auth_code_or_url: str, appid: Optional[str] = DEMO_OA, *,
        sets: Optional[Sequence[int]] = None, redirect_uri: str = pages.DEFAULT_REDIRECT,
        component_appid: Optional[str] = None,
    ) -> pages.Authorized:
        """The OA's admin confirms on componentloginpage: from a link (as a client built it) or a
        pre_auth_code (the link is built here), picking ``appid``; → the auth_code."""
        url = pre_auth_code_or_url
        if not url.startswith(("http://", "https://")):
            url = self.login_page_url(url, redirect_uri, component_appid=component_appid)
        return pages.confirm_authorization(url, appid, sets=sets)

    def fastregister_url(
        self, appid: str = DEMO_OA, *, component_appid: Optional[str] = None,
        copy_wx_verify: bool = True, redirect_uri: str = pages.DEFAULT_REDIRECT,
    ) -> str:
        return pages.fastregister_url(
            self.base_url, appid, component_appid or self.component.appid,
            copy_wx_verify=copy_wx_verify, redirect_uri=redirect_uri,
        )

    def fastregister_ticket(
        self, appid: str = DEMO_OA, *, component_appid: Optional[str] = None,
        copy_wx_verify: bool = True, redirect_uri: str = pages.DEFAULT_REDIRECT,
    ) -> str:
        """The OA's admin confirms on fastregisterauth; → the ticket for account/fastregister."""
        return pages.confirm_fast_registration(
            self.fastregister_url(appid, component_appid=component_appid,
                                  copy_wx_verify=copy_wx_verify, redirect_uri=redirect_uri)
        )

    # --- its clock ------------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.client.clock()["now"])

    def advance_clock(self, seconds: int) -> JSON:
        return self.client.advance_clock(seconds)

    def advance_to_next_month(self) -> JSON:
        """Moves this world's clock into the next quota month (a minute past its start)."""
        now = self.now()
        return self.client.advance_clock(next_month_start(now) + 60 - now)

    # --- lifetime -----------------------------------------------------------------------------------

    def delete(self) -> None:
        """Deletes the world (its credentials stop working at once). Deleting twice is fine."""
        if self._deleted:
            return
        try:
            self._server.delete_world(self.id)
        except FastregError as e:
            if e.status != 404:
                raise
        self._deleted = True

    def __enter__(self) -> "World":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.delete()


def _component(c: JSON) -> Component:
    return Component(c["appid"], c["appsecret"], c["token"], c["encoding_aes_key"])


def create_world(
    server: Union["Sandbox", SandboxClient],
    *,
    seed: Optional[Dict[str, Any]] = None,
    name: Optional[str] = None,
    start: Union[int, dt.datetime, None] = None,
    frozen: Optional[bool] = None,
    config: Optional[JSON] = None,
) -> World:
    """Creates a world on ``server`` (a :class:`~fastreg.sandbox.Sandbox` or a client of the
    server's root with its admin token). ``start`` is unix seconds or an aware datetime."""
    client = server if isinstance(server, SandboxClient) else server.client
    if isinstance(start, dt.datetime):
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        start = int(start.timestamp())
    created = client.create_world(name=name, start=start, frozen=frozen, config=config, seed=seed)
    return World(client, created)
