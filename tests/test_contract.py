"""The contract between the orchestrator and a load generator, without sockets: a spec's
command line parses back into the same spec, and a summary survives its JSON."""

import dataclasses
import json
import random

from helpers.synthetic import measurement

from aionetbench.endpoints import Endpoint
from clients.cli import parse_args
from clients.contract import python_generator
from clients.judgement import point_flags
from clients.spec import LoadSpec
from clients.summary import Summary

DEFAULT = LoadSpec("tcp", Endpoint())
# Between them, these set every option to something other than its default.
SPECS = [
    LoadSpec(
        "ws",
        Endpoint("::1", 8765),
        tls=True,
        loop="asyncio",
        size=70_000,
        concurrency=50,
        pipeline=4,
        duration=0.3,
        warmup=0.0,
        workers=3,
        server_pid=4321,
    ),
    LoadSpec(
        "line",
        Endpoint(path="/tmp/echo.sock"),
        loop="rloop",
        rate=12_345.5,
        arrivals="uniform",
        drain=0.25,
        duration=1 / 3,
        warmup=0.1,
        p99_within=0.1,
        max_duration=2.5,
        priority="realtime",
    ),
    LoadSpec("tcp", Endpoint("localhost", 1), requests=1003, concurrency=7, size=1),
    LoadSpec("tcp", Endpoint("127.0.0.1", 2), tls=True, tls_resume=True, churn=3, requests=999),
    LoadSpec("tcp", Endpoint("127.0.0.1", 3), idle=10_000, slow_readers=4),
]


def test_the_command_line_is_the_inverse_of_the_parser() -> None:
    for spec in SPECS:
        parsed, as_json = parse_args([*spec.to_argv(), "--json"])
        assert parsed == spec
        assert as_json
    assert parse_args(DEFAULT.to_argv())[0] == DEFAULT


def test_the_round_trip_covers_every_option() -> None:
    untouched = {
        field.name
        for field in dataclasses.fields(LoadSpec)
        if all(getattr(spec, field.name) == getattr(DEFAULT, field.name) for spec in SPECS)
    }
    assert not untouched, f"no spec sets {untouched}"


def test_a_generator_runs_the_spec_and_asks_for_json() -> None:
    command = python_generator("/usr/bin/python3").command(SPECS[2])
    assert command[:3] == ["/usr/bin/python3", "-m", "clients"]
    assert command[3:-1] == SPECS[2].to_argv() and command[-1] == "--json"


def test_a_summary_survives_its_json() -> None:
    summary = measurement(100_000.0, 50.0, random.Random(1)).client
    text = json.dumps(summary.to_json())
    again = Summary.from_json(json.loads(text))
    assert again == summary
    assert again.to_json() == summary.to_json()
    assert not point_flags(again).client_limited  # closed loop: no schedule, nothing to flag
