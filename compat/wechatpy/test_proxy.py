"""wechatpy 1.8.18 with NOTHING changed in its code or its URLs: its default
https://api.weixin.qq.com and https://mp.weixin.qq.com, reached through fastreg's proxy by the two
settings every requests-based client honours, HTTPS_PROXY and REQUESTS_CA_BUNDLE (fastreg's CA).
The admin's pages are opened on mp.weixin.qq.com through the same proxy, as a browser set up
with it would."""

import secrets
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import pytest
import requests
from wechatpy.component import WeChatComponent
from wechatpy.exceptions import WeChatClientException

from test_flow import REDIRECT, Page

WECHAT_MP = "https://mp.weixin.qq.com"


@pytest.fixture
def unchanged(platform, inbox, monkeypatch):
    """A component created for this test and a stock WeChatComponent: only the environment
    points it at fastreg."""
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, platform.proxy)
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", platform.ca)
    appid = "wxc" + secrets.token_hex(8)[:15]
    token = secrets.token_hex(16)
    aes_key = secrets.token_urlsafe(40).replace("-", "a").replace("_", "b")[:43]
    secret = secrets.token_hex(16)
    component = WeChatComponent(appid, secret, token, aes_key)
    assert component.API_BASE_URL.startswith("https://api.weixin.qq.com/")
    inbox.handler = component.parse_message
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


def open_page(browser, url):
    resp = browser.get(url, timeout=10)
    assert resp.status_code == 200, f"{url} answered HTTP {resp.status_code}"
    return Page(resp.text)


def confirm(browser, page):
    """Presses the page's confirm button on mp.weixin.qq.com; returns where it redirects."""
    assert page.action, "the page has no confirmation form"
    resp = browser.post(urljoin(WECHAT_MP, page.action), data=page.fields,
                        allow_redirects=False, timeout=10)
    assert resp.status_code == 302, f"confirming answered HTTP {resp.status_code}"
    return {k: v[0] for k, v in parse_qs(urlparse(resp.headers["Location"]).query).items()}


def test_wechatpy_walks_the_flow_through_the_proxy_with_nothing_changed(platform, inbox, unchanged):
    component, oa = unchanged
    browser = requests.Session()
    inbox.wait_for("component_verify_ticket")

    assert component.fetch_access_token()["component_access_token"]
    url = component.get_pre_auth_url(REDIRECT)
    assert url.startswith(WECHAT_MP + "/cgi-bin/componentloginpage?"), url
    page = open_page(browser, url)
    choice = [l for l in page.links if f"biz_appid={oa}" in l]
    assert choice, f"the page offers no link for {oa}"
    landed = confirm(browser, open_page(browser, urljoin(WECHAT_MP, choice[0])))
    assert "auth_code" in landed, landed
    authorized = inbox.wait_for("authorized")
    assert authorized.query_auth_result["authorization_info"]["authorizer_appid"] == oa

    # The authorizer options, as wechatpy sends them (option_value as given: a number here).
    component.set_authorizer_option(oa, "voice_recognize", 1)
    assert component.get_authorizer_option(oa, "voice_recognize")["option_value"] == "1"

    client = component.get_client_by_appid(oa)
    link = f"{WECHAT_MP}/cgi-bin/fastregisterauth?" + urlencode({
        "appid": oa, "component_appid": component.component_appid, "copy_wx_verify": 1,
        "redirect_uri": REDIRECT,
    })
    ticket = confirm(browser, open_page(browser, link))["ticket"]
    result = client.post("account/fastregister", data={"ticket": ticket})
    assert result["errcode"] == 0
    mp = component.query_auth(result["authorization_code"])["authorization_info"]
    assert mp["authorizer_appid"] == result["appid"]

    with pytest.raises(WeChatClientException) as unknown:
        client.post("account/fastregister", data={"ticket": secrets.token_hex(16)})
    assert unknown.value.errcode == 61058


def test_the_proxy_refuses_a_host_that_is_not_wechats(platform, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", platform.ca)
    with pytest.raises(requests.exceptions.ProxyError) as refused:
        requests.get("https://example.com/", proxies={"https": platform.proxy}, timeout=10)
    assert "403" in str(refused.value)
