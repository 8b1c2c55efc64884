"""The suite's side of a remote host: what the orchestrator runs there over SSH.

`probe` prints one JSON line about the host (what `bench hosts check` judges). `watch` runs
one command (a server or a load generator worker) pinned to CPUs and is its watchdog: its
output is passed through, lines on stdin are passed on to it, except the agent's own
requests, which start with `@`:

    @usage       answered with `@usage {json}`: the command's CPU, switches and CPU wait
    @signal N    send it signal N

and when stdin ends, which is what an SSH session does when its connection is lost, the
command gets SIGTERM, then SIGKILL: nothing the orchestrator started outlives it. Standard
library only, so it runs before and without the suite's environment.
"""

import argparse
import contextlib
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from aionetbench.about import about
from aionetbench.cpus import spawn_pinned
from aionetbench.endpoints import Endpoint, warm
from aionetbench.procstat import peak_rss, usage

REQUEST = "@"
PID, USAGE, SIGNAL = "@pid", "@usage", "@signal"
READY_PREFIX = "READY "  # a server's first line (aionetbench.serverproc)
STOP_GRACE_S = 2.0  # after SIGTERM, before SIGKILL
COMMIT_FILE = ".aionetbench-commit"  # written by `bench hosts setup` next to the suite


class Watched:
    """The command and the lock that keeps the agent's lines whole on stdout."""

    def __init__(self, command: Sequence[str], cpus: set[int] | None, warm: bool) -> None:
        self.lock = threading.Lock()
        self.warm = warm
        self.process = spawn_pinned(
            command, cpus, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.say(f"{PID} {self.process.pid}")

    def say(self, line: str) -> None:
        with self.lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def relay_output(self) -> None:
        """Pass the command's lines through; warm a server once before its READY line (a
        connection opened and closed from its own host: aionetbench.endpoints.warm)."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if self.warm and line.startswith(READY_PREFIX):
                self.warm = False
                # If it fails, the orchestrator's first connection fails and says why.
                with contextlib.suppress(OSError):
                    warm(Endpoint.parse(line.removeprefix(READY_PREFIX).strip()))
            self.say(line.rstrip("\n"))

    def answer(self, line: str) -> None:
        """One request of the orchestrator's, or a line for the command."""
        if line.startswith(USAGE):
            figures = usage(self.process.pid)
            figures |= {"monotonic_ns": time.monotonic_ns(), "peak_rss": peak_rss(self.process.pid)}
            self.say(f"{USAGE} {json.dumps(figures)}")
        elif line.startswith(SIGNAL):
            if self.process.poll() is None:
                self.process.send_signal(int(line.split()[1]))
        elif self.process.poll() is None and self.process.stdin is not None:
            try:
                self.process.stdin.write(line)
                self.process.stdin.flush()
            except OSError:
                pass  # it exited meanwhile

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()


def watch(command: Sequence[str], cpus: set[int] | None, warm: bool) -> int:
    """Run `command` until it exits or stdin ends; its exit status."""
    watched = Watched(command, cpus, warm)
    relay = threading.Thread(target=watched.relay_output, daemon=True)
    relay.start()

    def ended() -> None:  # the command exited: so does the agent, with its status
        status = watched.process.wait()
        relay.join(5)
        os._exit(status if status >= 0 else 128 - status)

    threading.Thread(target=ended, daemon=True).start()
    for line in sys.stdin:
        watched.answer(line)
    watched.stop()
    relay.join(5)
    return watched.process.wait()


def interface_mtu(peer: str) -> int | None:
    """The MTU of the interface this host reaches `peer` by (`ip route get`), if known."""
    try:
        route = subprocess.run(
            ["ip", "-o", "route", "get", peer], capture_output=True, text=True, timeout=5
        ).stdout.split()
        device = route[route.index("dev") + 1]
        return int(Path(f"/sys/class/net/{device}/mtu").read_text())
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def suite_commit(directory: Path = Path(".")) -> str | None:
    """The commit of the suite in `directory`: the one `bench hosts setup` copied there, or a
    git checkout's own (how the orchestrator reads its own, too)."""
    if (directory / COMMIT_FILE).is_file():
        return (directory / COMMIT_FILE).read_text().strip()
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=10, cwd=directory).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None


def probe(peer: str | None) -> dict:
    """What `bench hosts check` needs to know of this host, read in the suite's directory."""
    return {
        "time": time.time(),
        "commit": suite_commit(),
        "about": about(),  # the server's Python, as results record it
        "cores": len(os.sched_getaffinity(0)),
        "cpus": sorted(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "cpu_model": cpu_model(),
        "open_files": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "native_load": Path("clients/native/load").is_file(),
        "mtu": interface_mtu(peer) if peer else None,
        "hostname": socket.gethostname(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aionetbench.agent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    probing = commands.add_parser("probe", help="print what this host has, as one JSON line")
    probing.add_argument("--peer", help="an address whose route's interface MTU to report")
    watching = commands.add_parser("watch", help="run a command as its watchdog")
    watching.add_argument("--cpus", help="comma-separated CPUs to pin it to")
    watching.add_argument("--warm", action="store_true", help="warm a server before READY")
    watching.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "probe":
        print(json.dumps(probe(args.peer)), flush=True)
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("watch needs a command after --")
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # stdin's end says the session is gone
    cpus = {int(cpu) for cpu in args.cpus.split(",")} if args.cpus else None
    try:
        return watch(command, cpus, args.warm)
    except OSError as error:  # the command cannot start: one line for the orchestrator
        print(f"agent: cannot start {command[0]}: {error.strerror or error}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
