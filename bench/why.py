"""The report's "Why" section: per-request costs from `bench explain`, the kernel floor, and
the four claims this project started from, each judged from the measured numbers.

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
from pathlib import Path

from bench import plots
from bench.explain import Explained, syscall_total

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
    for loop in plots.LOOP_STYLE:
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
    """The native server's CPU per request: what an echo costs the kernel."""
    return next((row.cpu_us for row in rows if row.api == "native"), None)


def table(rows: Sequence[Explained]) -> list[str]:
    floor = floor_us(rows)
    header = (
        "| API / loop | server CPU us/request (user + system) | over the kernel floor | system calls "
        "| loop passes | epoll_ctl | context switches (vol/invol) | Python calls | RSS per idle connection |"
    )
    lines = [header, "|" + " --- |" * header.count(" |")]

    def shown(value: float | None, spec: str, unit: str = "") -> str:
        return "-" if value is None else f"{value:{spec}}{unit}"

    for row in rows:
        over = "-"
        if floor and row.api != "native":
            over = f"+{row.cpu_us - floor:.2f} ({row.cpu_us / floor:.1f}x)"
        ctl = calls(row, ["epoll_ctl"]) if row.syscalls is not None else None
        rss = row.rss_per_connection_bytes
        lines.append(
            f"| {row.api} / {row.loop} | {row.cpu_us:.2f} ({row.user_us:.2f} + {row.system_us:.2f}) | {over} "
            f"| {shown(syscall_total(row), '.2f')} | {shown(row.loop_passes, '.3f')} | {shown(ctl, '.2f')} "
            f"| {row.voluntary_switches:.3f} / {row.involuntary_switches:.3f} "
            f"| {shown(row.python_calls, '.1f')} | {shown(None if rss is None else rss / 1024, '.1f', ' KiB')} |"
        )
    return lines


def why_section(rows: Sequence[Explained], directory: Path) -> list[str]:
    """Markdown for the Why section, plus syscalls.png and cpu-split.png."""
    if not rows:
        return []
    floor = floor_us(rows)
    lines = [
        "## Why: per-request costs",
        "",
        f"From `bench explain`: {rows[0].requests:,} and {2 * rows[0].requests:,} verified echoes per cell "
        f"(10 connections, depth 1), system calls counted with {rows[0].counter or 'nothing (no counter found)'} "
        "and differenced so that set-up cancels out; CPU and context switches from an untraced 1 s run; "
        f"memory from {rows[0].idle_connections:,} idle connections.",
        "",
        *(f"- {sentence}" for sentence in verdict_sentences(verdicts(rows))),
    ]
    if floor:
        lines.append(
            f"- The kernel floor, the native C server's CPU per request, is {floor:.2f} us: "
            "the table splits every API's cost into that floor and what the API and loop add."
        )
    lines += ["", *table(rows), ""]
    if any(row.syscalls for row in rows):
        plots.syscall_kinds([(f"{r.api} / {r.loop}", by_kind(r.syscalls)) for r in rows if r.syscalls],
                            directory / "syscalls.png")  # fmt: skip
        lines += ["![System calls per request](syscalls.png)", ""]
    plots.cpu_split(
        [(f"{r.api} / {r.loop}", r.user_us, r.system_us) for r in rows],
        floor,
        directory / "cpu-split.png",
    )
    lines += ["![CPU per request, user and system](cpu-split.png)", ""]
    return lines
