"""fastreg for Python tests: the ``fastreg`` binary (a faithful WeChat open-platform sandbox) in
a wheel, a sandbox that starts it, a client of its sandbox API, the admin's pages, and pytest
fixtures (``fastreg_sandbox``, ``fastreg_world``).

    from fastreg import Sandbox, create_world

    with Sandbox() as sandbox, create_world(sandbox, seed=sandbox.demo_seed()) as world:
        world.client.advance_clock(3600)      # only this world's clock moves
        ticket = world.fastregister_ticket()  # the OA's admin confirms on fastregisterauth
"""

from .client import FastregError, SandboxClient
from .pages import Authorized, confirm_authorization, confirm_fast_registration, fastregister_url, login_page_url
from .sandbox import Sandbox, find_binary
from .world import DEMO_COMPONENT, DEMO_OA, Component, World, create_world, next_month_start

__all__ = [
    "Authorized",
    "Component",
    "DEMO_COMPONENT",
    "DEMO_OA",
    "FastregError",
    "Sandbox",
    "SandboxClient",
    "World",
    "confirm_authorization",
    "confirm_fast_registration",
    "create_world",
    "fastregister_url",
    "find_binary",
    "login_page_url",
    "next_month_start",
]
