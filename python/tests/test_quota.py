"""Two tests in parallel (pytest-xdist), each in its own world: one moves its world's clock to the
next month and registers again; the other, after that move, still finds its own quota used up.

The first leaves a file in the run's shared temporary directory once it has moved its clock; the
second waits for it (bounded), so that its check runs after the other world's month turned. The
first comes first in collection order and never waits, so the two cannot wait on each other.
conftest.py puts both at the head of the collection, so that with `--dist loadgroup` (each test
its own unit, the first units dealt one per worker) they start at once on two workers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from wechatpy.exceptions import WeChatClientException

from fastreg import World, next_month_start

from conftest import Wechat

QUOTA = 5  # the demo world's monthly quota per OA (rules.monthly_quota)


@pytest.fixture
def moved_marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker has its own base below the run's.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return shared / "fastreg-next-month-moved"


def use_up_the_quota(wechat: Wechat):
    client = wechat.authorised_client()
    for _ in range(QUOTA):
        assert wechat.fastregister(client)["errcode"] == 0
    with pytest.raises(WeChatClientException) as used_up:
        wechat.fastregister(client)
    assert used_up.value.errcode == 61055
    return client


def test_next_month_the_quota_is_back(wechat: Wechat, fastreg_world: World, moved_marker: Path) -> None:
    client = use_up_the_quota(wechat)
    before = fastreg_world.now()

    fastreg_world.advance_to_next_month()

    assert fastreg_world.now() >= next_month_start(before)
    moved_marker.write_text(f"{fastreg_world.id} {os.environ.get('PYTEST_XDIST_WORKER', 'main')}")
    # A month later every token has expired and so has the verify ticket: WeChat pushes a new
    # one, and wechatpy refreshes its tokens itself (refused with 42001, it fetches and retries).
    wechat.receive_verify_ticket()
    assert wechat.fastregister(client)["errcode"] == 0
    months = {r["month"] for r in fastreg_world.client.registrations()}
    assert len(months) == 2


def test_another_worlds_next_month_leaves_this_quota_used_up(wechat: Wechat, fastreg_world: World,
                                                            moved_marker: Path) -> None:
    client = use_up_the_quota(wechat)
    deadline = time.monotonic() + 30
    while not moved_marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert moved_marker.exists(), "the other test never moved its world's clock"
    other_world, other_worker = moved_marker.read_text().split()
    assert other_world != fastreg_world.id
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        me = os.environ["PYTEST_XDIST_WORKER"]
        assert other_worker != me, "both ran on one worker: run with -n 2 or more --dist loadgroup"

    with pytest.raises(WeChatClientException) as still:
        wechat.fastregister(client)

    assert still.value.errcode == 61055
    assert len({r["month"] for r in fastreg_world.client.registrations()}) == 1
