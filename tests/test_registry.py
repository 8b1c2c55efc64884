"""The server registry: every variant in it runs, and adding one is one module and one line."""

import importlib
import sys

import pytest
from helpers.commands import HELPERS, SHORT, client_json, importable

from aionetbench.wire import FRAMINGS
from bench.analyse.order import ordered_apis
from bench.plan.profiles import Plan
from servers import SERVERS, Server, framing_of

# The one line that adds an API, before the servers' command line reads the registry.
ADD_EXTRA = (
    "import servers; servers.SERVERS['extra'] = servers.Server('extra', 'registry_extra'); "
    "from servers.cli import main; main(sys.argv[1:])"
)


def test_every_variant_is_a_module_that_serves() -> None:
    for name, server in SERVERS.items():
        assert server.name == name and server.framing in FRAMINGS
        module = importlib.import_module(server.module)
        assert hasattr(module, "serve") or hasattr(module, "exec_server"), name
        assert server.reference == bool(server.own_loop)


def test_an_api_added_with_one_registry_line_runs_and_plans(server_pool, monkeypatch) -> None:
    env = importable(HELPERS)
    command = [sys.executable, "-c", f"import sys; {ADD_EXTRA}", "extra", "--loop", "uvloop",
               "--port", "0"]  # fmt: skip
    server = server_pool.start(command, env=env)
    summary = client_json(server.endpoint, *SHORT)
    assert summary["errors"] == 0 and summary["requests"] > 0
    # The orchestrator derives the rest from the same line.
    monkeypatch.setitem(SERVERS, "extra", Server("extra", "registry_extra"))
    cells = Plan(apis=("extra", "native"), loops=("asyncio", "uvloop")).cells
    assert [c.name for c in cells] == [
        "tcp/extra/asyncio/1024B/c10",
        "tcp/extra/uvloop/1024B/c10",
        "tcp/native/epoll/1024B/c10",
    ]
    assert framing_of("extra") == "tcp" and ordered_apis(cells) == ["extra"]


def test_capabilities_come_from_the_registry(monkeypatch) -> None:
    monkeypatch.setitem(SERVERS, "extra", Server("extra", "registry_extra", no_tls="no reason"))
    plan = Plan(apis=("extra", "protocol"), transports=("tcp", "tls"), loops=("asyncio",))
    assert [c.name for c in plan.cells if c.transport == "tls"] == [
        "tls/protocol/asyncio/1024B/c10"
    ]
    with pytest.raises(KeyError):
        framing_of("not-registered")
