"""The loops compared: per API, every loop it ran on, ranked by server CPU per request (what
the load generator cannot cap) and by SLO capacity, next to stock asyncio; and what each
loop could not run or failed at, said in the same table so that a gap is never silent."""

import statistics
from collections.abc import Sequence

from aionetbench.loops import STOCK, is_loop
from bench.analyse.order import ordered_apis, ordered_loops
from bench.analyse.slo import SloCapacity
from bench.store.reader import CellResults, Results

# Server CPU per request within this ratio of each other is named a tie: one run varies
# 10-15% on this machine, the medians of three repeats less.
TIE = 1.05


def cell_of(name: str) -> tuple[str, str]:
    """(API, loop) of a cell name such as `tcp/protocol/uvloop/1024B/c10`."""
    _, api, loop, *_ = name.split("/")
    return api, loop


def faults(results: Results) -> dict[tuple[str, str], str]:
    """(API, loop) -> its failed runs and points, in bold: a loop that breaks says so."""
    failed: dict[tuple[str, str], list[str]] = {}
    for failure in results.failures:
        where = failure["cell"].rsplit("/open", 1)
        at = f" at {float(where[1]):,.0f} msg/s" if len(where) == 2 else ""
        last = (failure.get("stderr_tail") or "").strip().splitlines()[-1:]
        said = f" (`{last[0].strip()}`)" if last else ""
        failed.setdefault(cell_of(failure["cell"]), []).append(f"{failure['reason']}{at}{said}")
    return {
        key: f"**failed** {len(why)}x: {why[0]}" if len(why) > 1 else f"**failed**: {why[0]}"
        for key, why in failed.items()
    }


def cpu_sentence(api: str, cells: Sequence[CellResults]) -> str | None:
    """The loops an API ran on, cheapest first, each as a multiple of the cheapest; None
    when none has a server CPU figure."""
    measured = sorted((c for c in cells if c.median_server_us), key=lambda c: c.median_server_us)
    if not measured:
        return None
    best, *rest = measured
    ties = [c.loop for c in rest if c.median_server_us <= TIE * best.median_server_us]  # type: ignore[operator]
    text = f"**{api}**: cheapest on **{best.loop}** at {best.median_server_us:.2f} us of server CPU per request"
    if ties:
        text += f" (tied within 5% with {', '.join(ties)})"
    others = ", ".join(
        f"{c.loop} {c.median_server_us / best.median_server_us:.2f}x"  # type: ignore[operator]
        for c in rest
    )
    return text + (f"; then {others}" if others else "") + "."


def capacity_sentence(api: str, capacities: dict[str, SloCapacity]) -> str | None:
    """The loops ranked by SLO capacity: exact ones only, each against the top one only where
    its interval lies wholly below the top one's; None when there is nothing to rank."""
    exact = sorted(
        ((loop, c) for loop, c in capacities.items() if c.exact), key=lambda lc: -lc[1].rate
    )  # type: ignore[operator]
    (best_loop, best), *rest = exact or [(None, None)]
    below = [(loop, c) for loop, c in rest if best.clearly_above(c)]  # type: ignore[union-attr]
    if not below:
        return None
    ahead = ", ".join(f"{best.rate / c.rate:.2f}x {loop} ({c})" for loop, c in below)  # type: ignore[operator, union-attr]
    return f"**{api}** within the objective: most load on **{best_loop}** ({best}): {ahead}."


def loop_section(
    cells: Sequence[CellResults], results: Results, capacities: dict[tuple[str, str], SloCapacity]
) -> list[str]:
    """Markdown: a table per API x loop and the sentences; nothing with fewer than 3 loops
    (the ranking above already compares two)."""
    loops = ordered_loops(list(cells))
    failed = faults(results)
    # Why a cell may have no figure: unsupported here, or else failed.
    unsupported = {cell_of(u["cell"]): f"unsupported: {u['reason']}" for u in results.unsupported}
    missing = failed | unsupported
    loops += [loop for _, loop in missing if loop not in loops and is_loop(loop)]
    if len(set(loops)) < 3:
        return []
    lines = [
        "## Loops compared",
        "",
        "Per API, each loop's server CPU per request (median of the repeats, min-max; the load "
        f"generator cannot cap it) as a multiple of {STOCK}'s, its throughput, and its SLO "
        "capacity from the sweep. A loop that could not run a cell says why; one that failed "
        "is in bold.",
        "",
    ]
    by_key = {(c.api, c.loop): c for c in cells if not c.reference}
    for api in ordered_apis(list(cells)):
        on_api = [by_key[(api, loop)] for loop in loops if (api, loop) in by_key]
        if len(on_api) + sum(1 for a, _ in missing if a == api) < 2:
            continue
        ranked = capacity_sentence(
            api, {loop: c for (a, loop), c in capacities.items() if a == api}
        )
        lines += [f"- {sentence}" for sentence in (cpu_sentence(api, on_api), ranked) if sentence]
    lines += [
        "",
        f"| API | loop | server us/request | vs {STOCK} | req/s | SLO capacity, msg/s | faults |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for api in ordered_apis(list(cells)):
        stock = by_key.get((api, STOCK))
        for loop in dict.fromkeys(loops):
            cell = by_key.get((api, loop))
            if cell is None:
                if (api, loop) in missing:
                    lines.append(f"| {api} | {loop} | {missing[(api, loop)]} | | | | |")
                continue
            figures = row(cell, stock, capacities.get((api, loop)))
            lines.append(f"| {api} | {loop} | {figures} | {failed.get((api, loop), '')} |")
    return [*lines, ""]


def row(cell: CellResults, stock: CellResults | None, capacity: SloCapacity | None) -> str:
    us = cell.server_us
    cpu = f"{statistics.median(us):.2f} ({min(us):.2f}-{max(us):.2f})" if us else "-"
    ratio = "-"
    if stock is not None and stock.median_server_us and cell.median_server_us:
        ratio = f"{cell.median_server_us / stock.median_server_us:.2f}x"
    bound = "*" if cell.is_client_bound else ""
    return f"{cpu} | {ratio} | {cell.median_rps:,.0f}{bound} | {capacity or '-'}"
