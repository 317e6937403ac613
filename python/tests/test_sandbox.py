"""The package itself: the binary the wheel installed, Sandbox's start and stop, the client's
errors, and the world lifecycle the fixture relies on."""

from __future__ import annotations

import os
import sysconfig
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fastreg import DEMO_COMPONENT, DEMO_OA, FastregError, Sandbox, SandboxClient, World, create_world, find_binary


def test_the_binary_is_the_one_the_wheel_installed_beside_this_python() -> None:
    if os.environ.get("FASTREG_BIN"):
        pytest.skip("FASTREG_BIN names another binary")
    assert Path(find_binary()).parent == Path(sysconfig.get_path("scripts"))


def test_a_sandbox_with_its_proxy_starts_on_free_ports_and_stops(fastreg_sandbox: Sandbox) -> None:
    with Sandbox(proxy=True) as other:
        assert other.url != fastreg_sandbox.url
        assert other.proxy_url and other.proxy_url.startswith("http://127.0.0.1:")
        assert other.ca_path and Path(other.ca_path).is_file()
        assert other.client.get_world("default")["id"] == "default"
        attached = Sandbox.attach(other.url, other.admin_token)
        assert attached.client.worlds()[0]["id"] == "default"
        url = other.url
    assert not other.running
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/readyz", timeout=2)


def test_refusals_carry_the_errcode_the_status_and_never_the_token(fastreg_sandbox: Sandbox,
                                                                   fastreg_world: World) -> None:
    with pytest.raises(FastregError) as unknown:
        fastreg_sandbox.client.get_world("nosuchworld0000")
    assert (unknown.value.status, unknown.value.errcode) == (404, 40001)

    wrong = SandboxClient(fastreg_sandbox.url, "not-the-token-" + fastreg_sandbox.admin_token[:4])
    with pytest.raises(FastregError) as denied:
        wrong.worlds()
    assert (denied.value.status, denied.value.errcode) == (401, 40001)
    assert "not-the-token" not in str(denied.value)

    # A world's own token opens that world only.
    with pytest.raises(FastregError) as other:
        SandboxClient(fastreg_sandbox.url, fastreg_world.admin_token).worlds()
    assert other.value.status == 401
    with pytest.raises(FastregError) as bad:
        fastreg_world.client.create_entity("", "enterprise")
    assert (bad.value.status, bad.value.errcode) == (400, 47001)


def test_the_fixtures_world_is_the_demo_world_and_goes_away_with_delete(fastreg_sandbox: Sandbox,
                                                                       fastreg_world: World) -> None:
    assert fastreg_world.component.appid == DEMO_COMPONENT
    assert len(fastreg_world.component.encoding_aes_key) == 43
    assert DEMO_OA in [oa["appid"] for oa in fastreg_world.client.official_accounts()]
    assert fastreg_world.id in [w["id"] for w in fastreg_sandbox.client.worlds()]
    ticket = fastreg_world.fastregister_ticket()
    assert len(ticket) == 32

    copy = create_world(fastreg_sandbox, seed=fastreg_world.client.export(), frozen=True)
    with copy:
        assert copy.component == fastreg_world.component
        assert copy.client.clock()["frozen"] is True
    with pytest.raises(FastregError) as gone:
        copy.client.clock()
    assert (gone.value.status, gone.value.errcode) == (404, 40001)
    copy.delete()  # twice is fine


def test_reset_takes_a_world_back_to_its_creation(fastreg_world: World) -> None:
    fastreg_world.client.create_entity("Later Co.")
    fastreg_world.client.add_fault("/cgi-bin/account/fastregister", -1)
    fastreg_world.client.reset()
    assert len(fastreg_world.client.entities()) == 5
    assert fastreg_world.client.faults() == []
