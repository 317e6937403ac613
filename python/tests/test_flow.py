"""The whole flow with wechatpy, each test in a world of its own."""

from __future__ import annotations

import secrets
import time

import pytest
from wechatpy.exceptions import WeChatClientException

from fastreg import DEMO_OA, FastregError, Sandbox, World

from conftest import Wechat


def test_wechatpy_walks_the_flow_in_a_world_of_its_own(wechat: Wechat, fastreg_world: World,
                                                       fastreg_sandbox: Sandbox) -> None:
    assert wechat.component.fetch_access_token()["component_access_token"]
    client = wechat.authorised_client()

    result = wechat.fastregister(client)

    assert result["errcode"] == 0
    assert result["is_wx_verify_succ"] in (True, "true")
    mp = wechat.component.query_auth(result["authorization_code"])["authorization_info"]
    assert mp["authorizer_appid"] == result["appid"]
    linked = client.post("wxopen/wxamplinkget", data={})
    assert result["appid"] in [w["appid"] for w in linked["wxopens"]["items"]]
    registered = fastreg_world.client.registrations(appid=DEMO_OA)
    assert [r["mp_appid"] for r in registered] == [result["appid"]]
    # The server's default world, and every other, saw nothing of it.
    assert fastreg_sandbox.client.registrations(appid=DEMO_OA) == []


def test_refusals_are_wechat_client_exceptions_with_wechats_errcode(wechat: Wechat,
                                                                    fastreg_world: World) -> None:
    client = wechat.authorised_client()
    with pytest.raises(WeChatClientException) as unknown:
        client.post("account/fastregister", data={"ticket": secrets.token_hex(16)})
    assert unknown.value.errcode == 61058

    # The demo world's personal entity may not fast-register.
    personal = wechat.authorised_client("wx0a00000000000003")
    with pytest.raises(WeChatClientException) as refused:
        wechat.fastregister(personal, "wx0a00000000000003")
    assert refused.value.errcode == 61051

    # The page refuses a redirect_uri outside the component's auth_domain, as WeChat does.
    with pytest.raises(FastregError) as page:
        fastreg_world.fastregister_ticket(redirect_uri="https://elsewhere.example/cb")
    assert (page.value.errcode, page.value.status) == (61060, 403)


def test_a_fault_armed_in_one_world_strikes_only_that_world(wechat: Wechat, fastreg_world: World,
                                                           fastreg_sandbox: Sandbox) -> None:
    fastreg_world.client.add_fault("/cgi-bin/component/api_component_token", 45009, times=1)
    with pytest.raises(WeChatClientException) as struck:
        wechat.component.fetch_access_token()
    assert struck.value.errcode == 45009
    assert fastreg_world.client.faults() == []
    assert wechat.component.fetch_access_token()["component_access_token"]


@pytest.mark.fastreg_world(frozen=True, start=1774929600)
def test_a_frozen_world_stands_still_until_advanced(wechat: Wechat, fastreg_world: World) -> None:
    assert fastreg_world.now() == 1774929600
    wechat.component.fetch_access_token()
    time.sleep(1.1)
    assert fastreg_world.now() == 1774929600

    fastreg_world.advance_clock(7201)

    assert fastreg_world.now() == 1774929600 + 7201
    # The component token wechatpy holds expired on this world's clock: wechatpy is refused
    # (42001), fetches a new one and retries, as against WeChat.
    assert wechat.component.create_preauthcode()["pre_auth_code"]
    counts = fastreg_world.client.token_counts(fastreg_world.component.appid)
    assert counts["component_access_tokens"] == 2
