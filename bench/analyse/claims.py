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

from bench.analyse.order import loops_in
from bench.store.explained import LOOP_PASSES, Explained
from servers import SERVERS

READS = ("read", "recvfrom", "recvmsg", "readv", "recvmmsg")
WRITES = ("write", "sendto", "sendmsg", "writev", "sendmmsg")
KINDS: dict[str, tuple[str, ...]] = {
    "reads": READS,
    "writes": WRITES,
    "loop passes (epoll_wait, io_uring_enter, ...)": LOOP_PASSES,
    "epoll_ctl": ("epoll_ctl",),
    "memory (mmap, munmap, mremap, brk)": ("mmap", "munmap", "mremap", "brk", "madvise"),
}
EXTRA_PASS = 1.25  # streams' loop passes per message over protocol's that count as "extra"
EXTRA_PASS_MIN = 0.5  # ...and by at least half a pass: one connection, so whole passes
FEWER_CALLS = 0.95  # protocol's reads and writes per message at most this share of sockets'

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


def mechanics(rows: Sequence[Explained]) -> list[str]:
    """Per loop, what it does per request in system calls: how it waits, reads and writes,
    on `protocol` where it was explained (else another API on the loop's own transports):
    `sockets` would show asyncio's sock_* methods, not the loop's transports."""
    sentences = []
    preferred = ("protocol", *(api for api, s in SERVERS.items() if s.on_transports))
    kinds = {"waits in": LOOP_PASSES, "reads with": READS, "writes with": WRITES}
    for loop in loops_in(row.loop for row in rows):
        measured = [r for r in rows if r.loop == loop and r.syscalls]
        if not measured:
            continue
        row = min(
            measured, key=lambda r: preferred.index(r.api) if r.api in preferred else len(preferred)
        )
        parts = []
        for verb, names in kinds.items():
            used = {n: c for n, c in (row.syscalls or {}).items() if n in names and c >= 0.005}
            if used:
                parts.append(f"{verb} " + " + ".join(f"{n} {c:.2f}" for n, c in used.items()))
        sentences.append(f"**{loop}** ({row.api}), per request: " + "; ".join(parts) + ".")
    return sentences


def calls(row: Explained, names: Sequence[str]) -> float:
    return sum((row.syscalls or {}).get(name, 0.0) for name in names)


def verdicts(rows: Sequence[Explained]) -> list[Verdict]:
    """Each claim on each loop where the cells it needs were explained."""
    found = []
    for loop in loops_in(row.loop for row in rows):
        cell = {row.api: row for row in rows if row.loop == loop}
        if {"protocol", "streams", "sockets"} <= set(cell):
            p, s, k = cell["protocol"], cell["streams"], cell["sockets"]
            holds = p.cpu_us < s.cpu_us < k.cpu_us
            found.append(Verdict(1, loop, holds, f"server CPU per request protocol {p.cpu_us:.2f}, "
                                                 f"streams {s.cpu_us:.2f}, sockets {k.cpu_us:.2f} us"))  # fmt: skip
        if {"protocol", "streams"} <= set(cell):
            found += loop_pass_verdict(loop, cell["protocol"], cell["streams"])
        if {"protocol", "sockets"} <= set(cell) and cell["sockets"].syscalls is not None:
            p, k = cell["protocol"], cell["sockets"]
            k_ctl, p_ctl = calls(k, ["epoll_ctl"]), calls(p, ["epoll_ctl"])
            holds = k_ctl >= REGISTERS and p_ctl < ONCE
            found.append(Verdict(3, loop, holds, f"{k_ctl:.2f} vs {p_ctl:.2f} epoll_ctl per request (sockets vs protocol)"))  # fmt: skip
            found += batching_verdict(loop, p, k)
    return found


def loop_pass_verdict(loop: str, protocol: Explained, streams: Explained) -> list[Verdict]:
    """Claim 2, where it is deterministic: loop passes per message with one connection at
    depth 1 (with ten, messages share passes and the count measures timing)."""
    p_passes, s_passes = protocol.single_loop_passes, streams.single_loop_passes
    if p_passes is None or s_passes is None:
        return []
    holds = s_passes >= EXTRA_PASS * p_passes and s_passes - p_passes >= EXTRA_PASS_MIN
    evidence = f"{s_passes:.2f} vs {p_passes:.2f} loop passes per message with one connection at depth 1 (streams vs protocol)"
    return [Verdict(2, loop, holds, evidence)]


def batching_verdict(loop: str, protocol: Explained, sockets: Explained) -> list[Verdict]:
    """Claim 4, where batching can happen: read and write calls per message under the same
    open load for both (at depth 1 there is nothing to batch); and the CPU it should save."""
    p_io, k_io = protocol.open_calls(READS + WRITES), sockets.open_calls(READS + WRITES)
    if p_io is None or k_io is None:
        return []
    holds = p_io <= FEWER_CALLS * k_io and protocol.cpu_us < sockets.cpu_us
    evidence = (
        f"{p_io:.2f} vs {k_io:.2f} read and write calls per message under open load at "
        f"{protocol.open_rate or 0:,.0f} msg/s over 10 connections (protocol vs sockets; "
        f"reads {protocol.open_calls(READS):.2f} vs {sockets.open_calls(READS):.2f})"
    )
    return [Verdict(4, loop, holds, evidence)]


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
