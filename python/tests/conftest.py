"""The wheel's own suite: wechatpy (from PyPI, pinned) walks the fast-registration flow against the
wheel's fastreg binary through the plugin's fixtures, one world per test, run in parallel with
pytest-xdist (`-n 4`). Nothing here starts a server or knows a port: the plugin does."""

from __future__ import annotations

import pytest
from wechatpy.client import WeChatComponentClient
from wechatpy.component import WeChatComponent

from fastreg import DEMO_OA, World

REDIRECT = "http://localhost/callback"


class Wechat:
    """wechatpy, unchanged, pointed at one world by base URL (the only change a wechatpy user
    makes), with the component's verify ticket (WeChat pushes it; the sandbox API hands it over)."""

    def __init__(self, world: World):
        c = world.component
        self.world = world
        self.component = WeChatComponent(c.appid, c.appsecret, c.token, c.encoding_aes_key)
        self.component.API_BASE_URL = f"{world.base_url}/cgi-bin"
        self.component.PRE_AUTH_URL = f"{world.base_url}/cgi-bin/componentloginpage"
        self.receive_verify_ticket()

    def receive_verify_ticket(self) -> None:
        """What wechatpy's parse_message does with a component_verify_ticket push."""
        self.component.session.set("component_verify_ticket", self.world.verify_ticket())

    def authorised_client(self, oa: str = DEMO_OA) -> WeChatComponentClient:
        """The OA's admin opens the link wechatpy built and confirms; wechatpy exchanges the
        auth_code (query_auth) and hands out its authorizer client for the OA."""
        url = self.component.get_pre_auth_url(REDIRECT)
        confirmed = self.world.authorize(url, oa)
        info = self.component.query_auth(confirmed.auth_code)["authorization_info"]
        assert info["authorizer_appid"] == oa
        client = self.component.get_client_by_appid(oa)
        client.API_BASE_URL = f"{self.world.base_url}/cgi-bin/"
        return client

    def fastregister(self, client: WeChatComponentClient, oa: str = DEMO_OA) -> dict:
        """The OA's admin confirms on fastregisterauth; wechatpy calls account/fastregister."""
        ticket = self.world.fastregister_ticket(oa)
        return client.post("account/fastregister", data={"ticket": ticket})


def pytest_collection_modifyitems(items: list) -> None:
    """The two quota tests first, the one that moves its clock first of all (test_quota.py)."""
    items.sort(key=lambda item: 0 if item.module.__name__ == "test_quota" else 1)


@pytest.fixture
def wechat(fastreg_world: World) -> Wechat:
    return Wechat(fastreg_world)
