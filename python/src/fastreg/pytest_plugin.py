"""pytest fixtures for fastreg (registered through the ``pytest11`` entry point).

- ``fastreg_sandbox`` (session): one ``fastreg serve`` per session, on a free port with a
  temporary database; with pytest-xdist, one per worker. ``--fastreg-url`` and
  ``--fastreg-admin-token`` (or ``FASTREG_URL`` and ``FASTREG_ADMIN_TOKEN``) attach to a running
  server instead; ``--fastreg-bin`` (or ``FASTREG_BIN``) names the binary.
- ``fastreg_seed`` (session): what each world starts with; by default the demo world (the new
  server's default world, exported). Override it in a conftest.py to seed your own (a seed
  file's shapes as a dict), or to return ``None`` for empty worlds.
- ``fastreg_world`` (function): a fresh world for the test, deleted after it. Mark a test with
  ``@pytest.mark.fastreg_world(frozen=True, start=..., config=..., seed=..., name=...)`` to
  change how it is created.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, Optional

import pytest

from .sandbox import Sandbox
from .world import World, create_world

_MARKER = (
    "fastreg_world(frozen=False, start=None, config=None, seed=..., name=None): how the "
    "fastreg_world fixture creates this test's world (start: unix seconds or an aware datetime; "
    "seed: a seed document, or None for an empty world)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fastreg")
    group.addoption("--fastreg-url", default=None,
                    help="attach to this running fastreg server instead of starting one [env: FASTREG_URL]")
    group.addoption("--fastreg-admin-token", default=None,
                    help="its admin token [env: FASTREG_ADMIN_TOKEN]")
    group.addoption("--fastreg-bin", default=None,
                    help="the fastreg binary to start [env: FASTREG_BIN; default: the wheel's]")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER)


@pytest.fixture(scope="session")
def fastreg_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A fastreg platform for the session (per xdist worker)."""
    opt = request.config.getoption
    url: Optional[str] = opt("--fastreg-url") or os.environ.get("FASTREG_URL")
    if url:
        token = opt("--fastreg-admin-token") or os.environ.get("FASTREG_ADMIN_TOKEN")
        if not token:
            raise pytest.UsageError("--fastreg-url needs --fastreg-admin-token (or FASTREG_ADMIN_TOKEN)")
        yield Sandbox.attach(url, token)
        return
    with Sandbox(binary=opt("--fastreg-bin")) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def fastreg_seed(fastreg_sandbox: Sandbox) -> Optional[Dict[str, Any]]:
    """The seed of every ``fastreg_world``: the server's default world as exported (on a new
    server, the demo world: component ``wxc0ffee0000000001``, Official Accounts
    ``wx0a00000000000001``… ``07``, each authorised with set 27)."""
    return fastreg_sandbox.demo_seed()


@pytest.fixture
def fastreg_world(
    request: pytest.FixtureRequest, fastreg_sandbox: Sandbox, fastreg_seed: Optional[Dict[str, Any]]
) -> Iterator[World]:
    """A world of its own for this test (seeded with ``fastreg_seed``), deleted after it."""
    marker = request.node.get_closest_marker("fastreg_world")
    options: Dict[str, Any] = dict(marker.kwargs) if marker else {}
    unknown = set(options) - {"frozen", "start", "config", "seed", "name"}
    if unknown:
        raise pytest.UsageError(f"fastreg_world marker: unknown argument(s) {sorted(unknown)}")
    world = create_world(
        fastreg_sandbox,
        seed=options.get("seed", fastreg_seed),
        name=options.get("name") or request.node.nodeid[-200:],
        start=options.get("start"),
        frozen=options.get("frozen"),
        config=options.get("config"),
    )
    with world:
        yield world
