"""The report's "Latency under load" section: open-loop curves, SLO capacity and its ranking."""

import math
from collections.abc import Sequence
from pathlib import Path

from bench.analyse.order import loops_in, order
from bench.analyse.ranking import CLEAR_LEAD
from bench.analyse.slo import (
    ABOVE,
    AT_LEAST,
    BELOW,
    BIMODAL,
    INTERPOLATED,
    UNRESOLVED,
    SloCapacity,
    cell_capacity,
    meets,
)
from bench.analyse.tails import attribution, long_tail
from bench.report.plots.load import latency_against_load
from bench.store.reader import CellResults, Results, SweepPoint
from clients.judgement import LONG_TAIL, flag_names

# A cell that answered this many times its closed-loop req/s, unsaturated, is worth a remark.
BEYOND_CLOSED = 1.2
# The p99 from intended send times is shown beside the server's where they differ by more.
INTENDED_DIFFERS = 0.2


def by_cell(points: Sequence[SweepPoint]) -> dict[str, list[SweepPoint]]:
    grouped: dict[str, list[SweepPoint]] = {}
    for point in sorted(points, key=lambda p: (order(p.api, p.loop), p.process, p.rate)):
        grouped.setdefault(point.name, []).append(point)
    return grouped


def label(point: SweepPoint) -> str:
    return f"{point.api} / {point.loop}"


def api_list(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def interval_text(capacity: SloCapacity) -> str:
    low, high = capacity.interval or (math.nan, math.nan)
    over = f", {capacity.processes} processes" if capacity.processes > 1 else ""
    return f"{low:,.0f}-{high:,.0f}{over}"


def ranking(exact: list[tuple[SweepPoint, SloCapacity]]) -> str:
    """The exact capacities of one loop, highest first: the top one against each other whose
    interval lies wholly below its own (with the ratio), and those that overlap it named as
    not ranked against it."""
    (best_point, best), *rest = exact
    text = f"**{best_point.api}** sustains {best.rate:,.0f} msg/s ({interval_text(best)})"
    below = [f"{best.rate / c.rate:.2f}x {p.api} ({interval_text(c)})"  # type: ignore[operator]
             for p, c in rest if best.clearly_above(c)]  # fmt: skip
    overlap = [f"{p.api} ({c.rate:,.0f}, {interval_text(c)})" for p, c in rest
               if not best.clearly_above(c)]  # fmt: skip
    if below:
        text += ": " + ", ".join(below)
    if overlap:
        text += (
            f"; {api_list(overlap)} overlap{'s' if len(overlap) == 1 else ''} its interval: "
            "not ranked against it"
        )
    return text


def slo_sentences(
    capacities: dict[str, tuple[SweepPoint, SloCapacity]], slo_ms: float
) -> list[str]:
    """Per loop: which API sustains the most load within the objective, and by how much.

    Only exact capacities are ranked, and only against those whose interval (over server
    processes, or one process's bracket) lies wholly below: two runs can then not order the
    same pair both ways unless each run's intervals exclude the other's. A capacity that is
    only a lower bound cannot be ranked against another, and bimodal or unresolved cells are
    named, not ranked."""
    sentences = []
    for loop in loops_in(p.loop for p, _ in capacities.values()):
        on_loop = [(p, c) for p, c in capacities.values() if p.loop == loop]
        if not on_loop:
            continue
        within = f"Within p99 <= {slo_ms:g} ms on **{loop}**"
        exact = sorted(((p, c) for p, c in on_loop if c.exact), key=lambda pc: -pc[1].rate)  # type: ignore[operator]
        bounded = [(p, c) for p, c in on_loop
                   if c.rate is not None and c.bound not in (INTERPOLATED, BELOW, UNRESOLVED)]  # fmt: skip
        below = [(p, c) for p, c in on_loop if c.bound == BELOW]
        unsettled = [(p, c) for p, c in on_loop if c.bound in (BIMODAL, UNRESOLVED)]
        parts = []
        if bounded:
            floor = min(c.rate for _, c in bounded)  # type: ignore[type-var]
            parts.append(
                f"{api_list([p.api for p, _ in bounded])} {'were' if len(bounded) > 1 else 'was'} still within the objective at the "
                f"highest load measured (at least {floor:,.0f} msg/s; the ladder, the load generator or interference ran out first), "
                f"so the sweep cannot rank {'them' if len(bounded) > 1 else 'it'}"
            )
        if exact:
            best = exact[0][1]
            text = ranking(exact)
            if bounded and floor >= best.rate:  # type: ignore[operator]
                text += f" ({'they are' if len(bounded) > 1 else 'it is'} at least {floor / best.rate:.2f}x that)"  # type: ignore[operator]
            parts.append(text)
        if unsettled:
            parts.append("not ranked: " + ", ".join(f"{p.api} ({c})" for p, c in unsettled))
        if below:
            parts.append(
                f"{api_list([p.api for p, _ in below])} missed it even at the lowest load "
                f"({min(c.rate for _, c in below):,.0f} msg/s)"  # type: ignore[type-var]
            )
        sentences.append(f"{within}, " + "; ".join(parts) + ".")
    return sentences


def equal_load_sentences(
    lines: dict[str, list[SweepPoint]],
    capacities: dict[str, tuple[SweepPoint, SloCapacity]],
    slo_us: float,
) -> list[str]:
    """Per loop, the cells whose SLO capacity is only a lower bound, ranked by how busy
    their server was at the highest load where all of them met the objective.

    On two cores the open-loop client runs out before the fastest servers miss a 1 ms p99,
    so the objective cannot tell them apart; their server CPU at one shared offered load
    can, because the load generator does not cap it (the same rule as the client-bound
    ranking of the closed loop)."""
    sentences = []
    for loop in loops_in(first.loop for first, _ in capacities.values()):
        bounded = [
            name
            for name, (first, capacity) in capacities.items()
            if first.loop == loop and capacity.rate is not None
            and capacity.bound in (AT_LEAST, ABOVE)
        ]  # fmt: skip
        if len(bounded) < 2:
            continue
        met = [{p.rate: p for p in lines[name] if meets(p, slo_us)} for name in bounded]
        common = set.intersection(*(set(by_rate) for by_rate in met))
        if not common:
            continue
        rate = max(common)
        busy = sorted((by_rate[rate] for by_rate in met), key=lambda p: p.server_cpu)
        shares = ", ".join(f"{p.api} {p.server_cpu:.0%}" for p in busy)
        floor = [
            f"{p.api} {p.server_cpu:.0%}"
            for line in lines.values()
            for p in line
            if p.reference and p.rate == rate and not p.client_limited
        ]
        reference = f" (the C reference: {', '.join(floor)})" if floor else ""
        # Within CLEAR_LEAD of the least busy is a tie on this machine, and named as one.
        least = [p.api for p in busy if p.server_cpu <= busy[0].server_cpu * (1 + CLEAR_LEAD)]
        most = (
            f"**{least[0]}** has the most headroom"
            if len(least) == 1
            else f"**{api_list(least)}** have the most headroom (within {CLEAR_LEAD:.0%} of each other)"
        )
        sentences.append(
            f"At {rate:,.0f} msg/s on **{loop}**, the highest load at which "
            f"{api_list([p.api for p in busy])} all met the objective, the server's core was "
            f"busy: {shares}{reference}. At equal load, server CPU ranks what the objective "
            f"cannot: {most}."
        )
    return sentences


def beyond_closed_loop(points: Sequence[SweepPoint], cells: Sequence[CellResults]) -> list[str]:
    """Cells that answered far more open loop, unsaturated, than their closed-loop req/s."""
    closed = {cell.name: cell.median_rps for cell in cells}
    remarks = []
    for name, line in by_cell(points).items():
        served = [p.achieved_rate for p in line if not p.saturated and not p.client_limited]
        if name in closed and served and max(served) > BEYOND_CLOSED * closed[name]:
            remarks.append(
                f"{label(line[0])} {max(served) / closed[name]:.1f}x "
                f"({max(served):,.0f} vs {closed[name]:,.0f})"
            )
    if not remarks:
        return []
    return [
        "Under open load, these cells answered more messages/s, unsaturated, than their "
        "closed-loop req/s: " + ", ".join(remarks) + ". With one message in flight per connection, "
        "every message pays for a loop pass and system calls of its own; arriving independently, "
        "messages share reads, writes and loop passes. Closed-loop req/s at depth 1 is a floor on "
        "a server's capacity, not the capacity."
    ]


def intended_p99(point: SweepPoint) -> str:
    """The p99 from intended send times where it differs from the server's by more than
    INTENDED_DIFFERS (there the load generator's own lateness is material), else "="."""
    intended = point.intended_p99_us
    if intended is None or abs(intended - point.p99_us) <= INTENDED_DIFFERS * point.p99_us:
        return "="
    return f"{intended:,.1f}"


def points_table(points: Sequence[SweepPoint]) -> list[str]:
    rows = [
        "| point | offered/s | achieved/s | p50 us | p99 us (95% interval) | p99 from intended send, us "
        "| p99.9 us | server CPU | flags |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    servers = any(p.process > 1 for p in points)
    for line in by_cell(points).values():
        for p in line:
            server = f" (server {p.process})" if servers else ""
            interval = f" ({p.p99_ci_us[0]:,.0f}-{p.p99_ci_us[1]:,.0f})" if p.p99_ci_us else ""
            flags = flag_names(p.saturated, p.client_limited, p.unreliable, p.interfered)
            if p.remeasured:
                flags.append("measured again")
            rows.append(
                f"| `{p.point_name(p.rate)}`{server} | {p.rate:,.0f} | {p.achieved_rate:,.0f} | {p.p50_us:,.1f} "
                f"| {p.p99_us:,.1f}{interval} | {intended_p99(p)} | {p.p999_us:,.1f} | {p.server_cpu:.2f} "
                f"| {', '.join(flags)} |"
            )
    return rows


def tails_lines(points: Sequence[SweepPoint]) -> list[str]:
    """Each long tail (p99 over LONG_TAIL p50s) and what accounts for it (bench.analyse.tails);
    the points another thread, the hypervisor or the client interfered with, counted."""
    long = [p for p in points if long_tail(p)]
    interfered = [p for p in points if p.interfered]
    lines = []
    if interfered:
        lines.append(
            f"- {len(interfered)} points were interfered with: their long tail coincided with "
            "another thread on the server's CPU (its wake-ups held up), steal, or the load "
            "generator waiting for its CPU, and did so again when measured again (drawn as "
            "diamonds, never ranked)."
        )
    if long:
        lines += [
            "",
            f"Where the long tails come from (p99 over {LONG_TAIL:g}x p50; what was large enough "
            "to make the slowest 1%):",
            "",
            *(
                f"- `{p.point_name(p.rate)}` p50 {p.p50_us:,.0f} us, p99 {p.p99_us:,.0f} us: "
                f"{attribution(p)}"
                for p in long
            ),
        ]
    return lines


def left_out(results: Results, lines: dict[str, list[SweepPoint]]) -> list[str]:
    """Which server processes each swept cell stands on, and the measured cells not swept."""
    processes = sorted({len({p.process for p in line}) for line in lines.values()})
    swept = (
        f"Each swept cell was climbed by {'-'.join(map(str, processes))} fresh server process(es)"
    )
    missing = [c.name for c in results.cells if c.name not in lines]
    if not missing:
        return [f"{swept}."]
    return [
        f"{swept}; not swept here: {', '.join(f'`{name}`' for name in missing)} "
        "(`--profile slo` sweeps every cell, three processes each)."
    ]


def cell_capacities(results: Results) -> dict[str, tuple[SweepPoint, SloCapacity]]:
    """Each swept cell's SLO capacity, with its first point (which names the cell)."""
    if not results.points:
        return {}
    top = max(results.ladder, default=max(p.rate for p in results.points))
    slo_us = results.slo_p99_ms * 1000
    return {
        name: (line[0], cell_capacity(line, slo_us, top))
        for name, line in by_cell(results.points).items()
    }


def latency_section(
    results: Results, capacities: dict[str, tuple[SweepPoint, SloCapacity]], directory: Path
) -> list[str]:
    """Markdown for the open-loop sweep (with its cells' `cell_capacities`), and
    latency-load.png; nothing without a sweep."""
    points = results.points
    if not points:
        return []
    slo_us = results.slo_p99_ms * 1000
    latency_against_load(points, slo_us, directory / "latency-load.png")
    lines_by_cell = by_cell(points)
    limited = sum(p.client_limited for p in points)
    unreliable = sum(p.unreliable and not p.client_limited for p in points)
    server_points = len(points) - limited
    lines = [
        "## Latency under load",
        "",
        f"Open loop at a ladder of offered loads shared by every cell ({points[0].arrivals} arrivals); each "
        "latency is the server's: from the message's send to its reply's arrival in the load "
        "generator's kernel (receive timestamps), so queueing behind a stall of the server counts "
        "for every message that waited, and the load generator's own lateness does not. Where the "
        "p99 from intended send times (the wrk2 figure, which carries that lateness too) differs "
        f"by more than {INTENDED_DIFFERS:.0%}, the table of every point shows it. SLO capacity is the highest "
        f"offered load with p99 <= {results.slo_p99_ms:g} ms and >= 97% of the messages answered, "
        "interpolated inside the bracket the knee search narrowed to +-5% (in brackets: the "
        "loads either side). Each point measured slices until its p99 was known to +-10% or "
        "its cap.",
        "",
        *(f"- {sentence}" for sentence in slo_sentences(capacities, results.slo_p99_ms)),
        *(f"- {sentence}" for sentence in left_out(results, lines_by_cell)),
        *(f"- {sentence}" for sentence in equal_load_sentences(lines_by_cell, capacities, slo_us)),
        *(f"- {remark}" for remark in beyond_closed_loop(points, results.cells)),
        "",
        "| API / loop | SLO capacity, msg/s | highest load met | p99 there, us |",
        "| --- | --- | --- | --- |",
    ]
    for name, (first, capacity) in capacities.items():
        met = [p for p in lines_by_cell[name] if meets(p, slo_us)]
        highest = f"{met[-1].rate:,.0f} | {met[-1].p99_us:,.1f}" if met else "- | -"
        lines.append(f"| {label(first)} | {capacity} | {highest} |")
    lines += [
        "",
        "![Latency against offered load](latency-load.png)",
        "",
        f"- {unreliable} of {server_points} server points have a p99 whose 95% interval (block bootstrap "
        "over 20 slices of the window) is wider than +-10%: drawn hollow, their p99 is an estimate, "
        "not an exact figure. Longer points (`--sweep-duration`) narrow it.",
    ]
    if limited:
        lines.append(
            f"- {limited} points were client-limited: the load generator fell behind its schedule, "
            "caught up a backlog, or stalled long enough to make the tail its own, so they "
            "measured the client, not the server (drawn as x, never ranked)."
        )
    lines += tails_lines(points)
    lines += [
        "",
        "<details><summary>Every point</summary>",
        "",
        *points_table(points),
        "",
        "</details>",
        "",
    ]
    return lines
