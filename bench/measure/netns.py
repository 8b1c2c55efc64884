"""Network paths beyond loopback: the server and the load generator each in a fresh network
namespace, joined by a veth pair, and shaped with tc where the path asks for it.

Loopback is not a network: its MTU is 64 KiB, it has no bandwidth limit, and both ends
share one network stack. A veth pair with MTU 1500 between two namespaces gives each end
its own stack and real segment sizes, still on one machine. Neither namespace has a
default route or any other interface, so benchmark traffic can only cross the pair.

Each session names what it makes after its PID (`anb<PID>-veth-server`, interfaces
`anb<PID>vs`/`anb<PID>vc`), so a later session can tell a killed session's leftovers (its PID
is gone) and remove them first. Deleting a namespace deletes its end of the pair, which
deletes the pair and the qdiscs on it.
"""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError
from bench.plan.cells import LOOPBACK

# Path -> what it adds to a plain veth pair, on both ends (so in each direction).
SHAPING: dict[str, list[str]] = {
    "veth": [],
    "gbit": ["tbf", "rate", "1gbit", "burst", "256kb", "latency", "10ms"],
    "lan": ["netem", "delay", "100us"],
    "wan": ["netem", "delay", "10ms"],
}
PATHS = (LOOPBACK, *SHAPING)
PREFIX = "anb"  # aionetbench: names this suite's namespaces and interfaces
OURS = re.compile(rf"^{PREFIX}(\d+)-")
SERVER_ADDRESS, CLIENT_ADDRESS, PREFIX_LENGTH = "10.213.0.1", "10.213.0.2", 30
MTU = 1500
NO_NETEM = "Specified qdisc kind is unknown"
CONNECT_ONCE = (
    "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).close()"
)


@dataclass(frozen=True)
class Hosts:
    """Two namespaces joined by one path: where the server and the load generator run."""

    server_namespace: str
    client_namespace: str
    server_address: str = SERVER_ADDRESS

    def in_server(self, command: Sequence[str]) -> list[str]:
        """`command` run in the server's namespace (`ip netns exec` execs it: same PID)."""
        return ["ip", "netns", "exec", self.server_namespace, *command]

    def in_client(self, command: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.client_namespace, *command]

    def connect_once(self, endpoint: Endpoint) -> None:
        """Open and close one connection to `endpoint` from the client's side; OSError if
        that fails."""
        result = subprocess.run(
            self.in_client([sys.executable, "-c", CONNECT_ONCE, endpoint.host, str(endpoint.port)]),
            capture_output=True, text=True, timeout=15,
        )  # fmt: skip
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            raise OSError(lines[-1] if lines else f"exit {result.returncode}")


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def must(command: list[str]) -> None:
    """Run an iproute2 command; UsageError with its own one-line complaint if it fails."""
    result = run(command)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        why = lines[-1] if lines else f"exit {result.returncode}"
        if NO_NETEM in why:
            raise UsageError(
                "this kernel lacks sch_netem (tc answers 'Specified qdisc kind is unknown'), "
                "so the lan and wan paths cannot add their delay; use veth or gbit"
            )
        raise UsageError(f"`{' '.join(command)}` failed: {why}")


def check_paths(paths: Sequence[str]) -> None:
    """One line (UsageError), before anything runs, if these paths cannot be made here:
    no root, no iproute2, or a delay path on a kernel without netem."""
    if set(paths) == {LOOPBACK}:
        return
    check_can_create()
    if any(SHAPING[path][:1] == ["netem"] for path in paths if path != LOOPBACK):
        probe = f"{PREFIX}{os.getpid()}-netem-probe"
        must(["ip", "netns", "add", probe])
        try:
            must(["tc", "-n", probe, "qdisc", "add", "dev", "lo", "root", *SHAPING["lan"]])
        finally:
            run(["ip", "netns", "delete", probe])


def check_can_create() -> None:
    """One line, before anything runs, if namespaces cannot be made here."""
    if shutil.which("ip") is None or shutil.which("tc") is None:
        raise UsageError("network paths need iproute2's ip and tc (Debian package iproute2)")
    if os.geteuid() != 0:
        raise UsageError(
            "network paths need root (CAP_NET_ADMIN) to create namespaces; run as root "
            "or use --network loopback"
        )


def namespaces() -> list[str]:
    listed = run(["ip", "netns", "list"]).stdout.splitlines()
    return [line.split()[0] for line in listed if line.strip()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove(session: int | None = None) -> None:
    """Delete this suite's namespaces: one session's, or (None) those of sessions that are
    gone."""
    for name in namespaces():
        match = OURS.match(name)
        if not match:
            continue
        owner = int(match.group(1))
        if owner == session if session is not None else not alive(owner):
            run(["ip", "netns", "delete", name])


def names(session: int, path: str) -> tuple[str, str]:
    """The server's and the client's namespace of one session's path."""
    return f"{PREFIX}{session}-{path}-server", f"{PREFIX}{session}-{path}-client"


def create(path: str, session: int) -> Hosts:
    """Two namespaces and the veth pair between them, addressed, up and shaped."""
    hosts = Hosts(*names(session, path))
    server_end, client_end = f"{PREFIX}{session}{path[0]}s", f"{PREFIX}{session}{path[0]}c"
    must(["ip", "netns", "add", hosts.server_namespace])
    must(["ip", "netns", "add", hosts.client_namespace])
    # Made inside the namespaces: the pair never appears on the host's network.
    must(["ip", "link", "add", server_end, "netns", hosts.server_namespace, "type", "veth",
          "peer", "name", client_end, "netns", hosts.client_namespace])  # fmt: skip
    for namespace, interface, address in (
        (hosts.server_namespace, server_end, SERVER_ADDRESS),
        (hosts.client_namespace, client_end, CLIENT_ADDRESS),
    ):
        must(["ip", "-n", namespace, "link", "set", "lo", "up"])
        must(["ip", "-n", namespace, "address", "add", f"{address}/{PREFIX_LENGTH}", "dev", interface])  # fmt: skip
        must(["ip", "-n", namespace, "link", "set", interface, "mtu", str(MTU), "up"])
        if SHAPING[path]:
            must(["tc", "-n", namespace, "qdisc", "add", "dev", interface, "root", *SHAPING[path]])
    return hosts


@contextmanager
def network_paths(paths: Sequence[str]) -> Iterator[dict[str, Hosts]]:
    """Hosts for every path but loopback, made before the session and removed after it,
    however it ends (a SIGTERM must first be turned into an exception, as the session
    does). A killed earlier session's leftovers are removed first. The caller has run
    `check_paths` before writing anything (the CLI does), so it is not probed twice."""
    wanted = [path for path in paths if path != LOOPBACK]
    if not wanted:
        yield {}
        return
    remove()
    session = os.getpid()
    reaper = start_reaper(session, wanted)
    try:
        yield {path: create(path, session) for path in wanted}
    finally:
        remove(session)
        reaper.stdin.close()  # type: ignore[union-attr]  # it finds them gone, and ends
        reaper.wait()


# Waits for its input to end, then deletes the namespaces named in its arguments: its input
# is a pipe from this process, so it ends when this process ends, however (kill -9 too).
REAPER = 'read -r _; for name in "$@"; do ip netns delete "$name"; done 2>/dev/null; exit 0'


def start_reaper(session: int, paths: Sequence[str]) -> subprocess.Popen:
    """A process of its own session that deletes this session's namespaces when this
    process ends, even by a signal it cannot catch; on a clean end they are already gone."""
    every = [name for path in paths for name in names(session, path)]
    return subprocess.Popen(["sh", "-c", REAPER, "reaper", *every], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
