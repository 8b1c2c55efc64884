"""The suite's programs run as a user runs them: real processes, output captured as text.

Every process a test starts goes through `start` or `run`, which put SIGINT back to its
default in the child: a job a script starts in the background ignores SIGINT (POSIX), its
children inherit that, and a test that delivers Ctrl-C must not depend on how it was started.
"""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from aionetbench.endpoints import Endpoint
from clients.native import native_generator

HELPERS = Path(__file__).resolve().parent
ROOT = HELPERS.parent.parent
NATIVE = "clients.native"
# The two load generators, one contract: tests of the contract run over both (the native
# one skipped in one line where it is not built).
NEEDS_NATIVE = pytest.mark.skipif(
    native_generator() is None, reason="the native load generator is not built (make native)"
)
GENERATORS = [
    pytest.param("clients", id="python"),
    pytest.param(NATIVE, id="native", marks=NEEDS_NATIVE),
]
SHORT = ("--duration", "0.3", "--warmup", "0.1")  # correctness, not speed: a short window
# Shorter still for the matrix of every server and both client loops: thousands of verified
# echoes each, a hundred client runs in all.
GLANCE = ("--duration", "0.15", "--warmup", "0.05")


def sigint_default() -> None:
    """In the child, before it runs: SIGINT handled as a program expects it to be."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: Sequence[str], **options: object) -> subprocess.Popen:
    """Start `command` with its output piped as text and no input (unless `stdin` says)."""
    options.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,
        **options,  # type: ignore[arg-type]
    )


def run(
    command: Sequence[str], timeout: float = 300, **options: object
) -> subprocess.CompletedProcess:
    """Run `command` to its end (at most `timeout` seconds), its output captured as text."""
    process = start(command, **options)
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        process.kill()
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def bench(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`python -m bench ARGS`."""
    return run([sys.executable, "-m", "bench", *args], timeout=timeout, env=env, cwd=ROOT)


def servers_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m servers ARGS`, for what it refuses before serving."""
    return run([sys.executable, "-m", "servers", *args], timeout=30, env=env)


def load_command(
    endpoint: Endpoint, *args: str, protocol: str = "tcp", program: str = "clients"
) -> list[str]:
    """A load generator's command line: `program` is `clients` (Python) or `clients.native`."""
    target = ["--unix", endpoint.path] if endpoint.path else ["--connect", str(endpoint)]
    return [sys.executable, "-m", program, protocol, *target, *args]


def client(
    endpoint: Endpoint,
    *args: str,
    protocol: str = "tcp",
    timeout: float = 60,
    program: str = "clients",
) -> subprocess.CompletedProcess:
    """Run a load generator to its end."""
    return run(load_command(endpoint, *args, protocol=protocol, program=program), timeout=timeout)


def start_client(
    endpoint: Endpoint, *args: str, protocol: str = "tcp", program: str = "clients"
) -> subprocess.Popen:
    """The load generator started with --json, not waited for."""
    return start(load_command(endpoint, *args, "--json", protocol=protocol, program=program))


def client_json(
    endpoint: Endpoint, *args: str, protocol: str = "tcp", program: str = "clients"
) -> dict:
    """The load generator's --json Summary, which must have exited 0."""
    result = client(endpoint, *args, "--json", protocol=protocol, program=program)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`python -m bench ARGS` run in this process, for commands that start nothing (no
    interpreter start per case): (exit status, stdout, stderr)."""
    from bench import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(list(args))
    captured = capsys.readouterr()
    return exit_.value.code or 0, captured.out, captured.err  # type: ignore[return-value]


def refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The stderr of input `bench` must refuse before running anything (exit status 2)."""
    status, _, err = in_process(capsys, *args)
    assert status == 2, args
    return err


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2, nothing on stdout, no traceback, and the last line names every fragment."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    for fragment in fragments:
        assert fragment in lines[-1], lines


def importable(*directories: Path | str) -> dict[str, str]:
    """This environment with `directories` first on the children's import path."""
    path = os.pathsep.join([*map(str, directories), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}
