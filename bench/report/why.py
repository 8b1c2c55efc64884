"""The report's "Why" section: per-request costs from `bench explain`, the kernel floor, and
the verdicts on the claims (bench.analyse.claims), with two figures."""

from collections.abc import Sequence
from pathlib import Path

from bench.analyse.claims import (
    READS,
    WRITES,
    by_kind,
    calls,
    floor_us,
    mechanics,
    verdict_sentences,
    verdicts,
)
from bench.report.plots.costs import cpu_split, syscall_kinds
from bench.store.explained import Explained, syscall_total
from servers import SERVERS


def table(rows: Sequence[Explained]) -> list[str]:
    floor = floor_us(rows)
    header = (
        "| API / loop | server CPU us/request (user + system) | over the kernel floor | system calls "
        "| loop passes (1 connection) | epoll_ctl | reads + writes per message, open load "
        "| context switches (vol/invol) | Python calls | RSS per idle connection |"
    )
    lines = [header, "|" + " --- |" * header.count(" |")]

    def shown(value: float | None, spec: str, unit: str = "") -> str:
        return "-" if value is None else f"{value:{spec}}{unit}"

    for row in rows:
        over = "-"
        if floor and not SERVERS[row.api].reference:
            over = f"+{row.cpu_us - floor:.2f} ({row.cpu_us / floor:.1f}x)"
        ctl = calls(row, ["epoll_ctl"]) if row.syscalls is not None else None
        rss = row.rss_per_connection_bytes
        lines.append(
            f"| {row.api} / {row.loop} | {row.cpu_us:.2f} ({row.user_us:.2f} + {row.system_us:.2f}) | {over} "
            f"| {shown(syscall_total(row), '.2f')} | {shown(row.loop_passes, '.3f')} ({shown(row.single_loop_passes, '.2f')}) "
            f"| {shown(ctl, '.2f')} | {shown(row.open_calls(READS + WRITES), '.2f')} "
            f"| {row.voluntary_switches:.3f} / {row.involuntary_switches:.3f} "
            f"| {shown(row.python_calls, '.1f')} | {shown(None if rss is None else rss / 1024, '.1f', ' KiB')} |"
        )
    return lines


# The calls of a connection's life, in the order it makes them: the columns of the table.
ACCEPT_PATH = ("accept4", "setsockopt", "getsockopt", "fcntl", "ioctl", "epoll_ctl", "close")


def churn_table(rows: Sequence[Explained]) -> list[str]:
    """Per connection of one echo, connect to close: the accept path's calls by name."""
    churned = [row for row in rows if row.churn_syscalls]
    if not churned:
        return []
    lines = [
        "Per connection that connects, exchanges one echo and closes (500 and 1,000 such "
        "connections, differenced), the server's system calls:",
        "",
        "| API / loop | all | " + " | ".join(ACCEPT_PATH) + " | reads | writes |",
        "| --- |" + " --- |" * (len(ACCEPT_PATH) + 3),
    ]
    for row in churned:
        calls = row.churn_syscalls or {}
        named = [f"{calls.get(name, 0.0):.2f}" for name in ACCEPT_PATH]
        reads = sum(calls.get(name, 0.0) for name in READS)
        writes = sum(calls.get(name, 0.0) for name in WRITES)
        lines.append(
            f"| {row.api} / {row.loop} | {sum(calls.values()):.2f} | {' | '.join(named)} "
            f"| {reads:.2f} | {writes:.2f} |"
        )
    return [*lines, ""]


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
        "and differenced so that set-up cancels out; loop passes again with one connection (in "
        "brackets), where messages cannot share them; reads and writes per message under open load "
        f"at {rows[0].open_rate or 0:,.0f} msg/s (Poisson, 10 connections), where they can batch; "
        "CPU and context switches from an untraced 0.5 s run; "
        f"memory from {rows[0].idle_connections:,} idle connections.",
        "",
        *(f"- {sentence}" for sentence in verdict_sentences(verdicts(rows))),
    ]
    if floor:
        lines.append(
            f"- The kernel floor, the native C server's CPU per request, is {floor:.2f} us: "
            "the table splits every API's cost into that floor and what the API and loop add."
        )
    if len({row.loop for row in rows if row.syscalls}) > 1:
        lines += ["", "What each loop does per request, in system calls:", ""]
        lines += [f"- {sentence}" for sentence in mechanics(rows)]
    lines += ["", *table(rows), "", *churn_table(rows)]
    if any(row.syscalls for row in rows):
        syscall_kinds([(f"{r.api} / {r.loop}", by_kind(r.syscalls)) for r in rows if r.syscalls],
                            directory / "syscalls.png")  # fmt: skip
        lines += ["![System calls per request](syscalls.png)", ""]
    cpu_split(
        [(f"{r.api} / {r.loop}", r.user_us, r.system_us) for r in rows],
        floor,
        directory / "cpu-split.png",
    )
    lines += ["![CPU per request, user and system](cpu-split.png)", ""]
    return lines
