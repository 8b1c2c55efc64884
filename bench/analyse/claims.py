"""The four claims this project started from, each judged from `bench explain`'s per-request
numbers, and the kernel floor they are measured against.

The claims (from the article behind the project):
1. Protocol/Transport > Streams > raw `loop.sock_*`.
2. Streams cost an extra event-loop pass per message: the StreamReader wakes the handler
   task through a future, so a message needs two loop iterations where a Protocol's
   `data_received` needs one.
3. The `sock_*` API registers and unregisters the socket with the selector around every
   operation, which Protocol/Transport does once per connection.
4. Protocol/Transport wins by reading in batches and buffering writes in the transport.
A claim that the numbers do not support is reported as not holding.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from aionetbench.loops import LOOPS
from bench.store.explained import Explained
from servers import SERVERS

READS = ("read", "recvfrom", "recvmsg", "readv", "recvmmsg")
WRITES = ("write", "sendto", "sendmsg", "writev", "sendmmsg")
KINDS: dict[str, tuple[str, ...]] = {
    "reads": READS,
    "writes": WRITES,
    "loop passes (epoll_wait)": ("epoll_wait", "epoll_pwait", "epoll_pwait2"),
    "epoll_ctl": ("epoll_ctl",),
    "memory (mmap, munmap, mremap, brk)": ("mmap", "munmap", "mremap", "brk", "madvise"),
}
EXTRA_PASS = 1.25  # streams' loop passes per message over protocol's that count as "extra"
REGISTERS = 0.5  # epoll_ctl per request that mean sock_* registers around operations
ONCE = 0.1  # epoll_ctl per request that mean "once per connection"


@dataclass(frozen=True)
class Verdict:
    claim: int
    loop: str
    holds: bool
    evidence: str


def by_kind(syscalls: dict[str, float]) -> dict[str, float]:
    """System calls per request grouped by kind, the rest as `other`."""
    kinds = {kind: sum(syscalls.get(name, 0.0) for name in names) for kind, names in KINDS.items()}
    named = {name for names in KINDS.values() for name in names}
    kinds["other"] = sum(count for name, count in syscalls.items() if name not in named)
    return kinds


def calls(row: Explained, names: Sequence[str]) -> float:
    return sum((row.syscalls or {}).get(name, 0.0) for name in names)


def verdicts(rows: Sequence[Explained]) -> list[Verdict]:
    """Each claim on each loop where the cells it needs were explained."""
    found = []
    for loop in LOOPS:
        cell = {row.api: row for row in rows if row.loop == loop}
        if {"protocol", "streams", "sockets"} <= set(cell):
            p, s, k = cell["protocol"], cell["streams"], cell["sockets"]
            holds = p.cpu_us < s.cpu_us < k.cpu_us
            found.append(Verdict(1, loop, holds, f"server CPU per request protocol {p.cpu_us:.2f}, "
                                                 f"streams {s.cpu_us:.2f}, sockets {k.cpu_us:.2f} us"))  # fmt: skip
        if {"protocol", "streams"} <= set(cell) and cell["protocol"].loop_passes is not None:
            p_passes, s_passes = cell["protocol"].loop_passes, cell["streams"].loop_passes or 0.0
            holds = s_passes >= EXTRA_PASS * p_passes and s_passes - p_passes >= 0.01
            found.append(Verdict(2, loop, holds, f"{s_passes:.2f} vs {p_passes:.2f} loop passes per message (streams vs protocol)"))  # fmt: skip
        if {"protocol", "sockets"} <= set(cell) and cell["sockets"].syscalls is not None:
            p, k = cell["protocol"], cell["sockets"]
            k_ctl, p_ctl = calls(k, ["epoll_ctl"]), calls(p, ["epoll_ctl"])
            holds = k_ctl >= REGISTERS and p_ctl < ONCE
            found.append(Verdict(3, loop, holds, f"{k_ctl:.2f} vs {p_ctl:.2f} epoll_ctl per request (sockets vs protocol)"))  # fmt: skip
            p_io, k_io = calls(p, READS + WRITES), calls(k, READS + WRITES)
            failed = ""
            if k.failed_syscalls is not None:  # strace sees failures; perf's counts do not
                share = sum(k.failed_syscalls.get(name, 0.0) for name in READS)
                failed = f"; {share:.2f} of sockets' reads per request failed"
            holds = p_io < k_io and p.cpu_us < k.cpu_us
            evidence = f"{p_io:.2f} vs {k_io:.2f} read and write calls per request (protocol vs sockets{failed})"
            found.append(Verdict(4, loop, holds, evidence))
    return found


CLAIMS = {
    1: "Protocol/Transport > Streams > raw `loop.sock_*` (server CPU per request)",
    2: "Streams cost an extra event-loop pass per message",
    3: "`sock_*` registers and unregisters the socket around every operation; Protocol/Transport once per connection",
    4: "Protocol/Transport wins by reading in batches and buffering writes",
}


def verdict_sentences(found: Sequence[Verdict]) -> list[str]:
    """One sentence per claim: on each loop whether it holds, with the numbers."""
    sentences = []
    for claim, text in CLAIMS.items():
        parts = [
            f"{'holds' if v.holds else '**does not hold**'} on {v.loop}: {v.evidence}"
            for v in found
            if v.claim == claim
        ]
        if parts:
            sentences.append(f"Claim {claim}, {text}: " + "; ".join(parts) + ".")
    return sentences


def floor_us(rows: Sequence[Explained]) -> float | None:
    """The reference server's CPU per request: what an echo costs the kernel."""
    return next((row.cpu_us for row in rows if SERVERS[row.api].reference), None)
