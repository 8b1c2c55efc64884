"""The report's many-connections section: what N idle connections held open beside ten
measured ones cost each server, at one fixed load: latency, CPU per message, and memory
per idle connection, against N."""

import statistics
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bench.analyse.order import ordered_apis, ordered_loops
from bench.report.plots.style import API_COLOURS, loop_line, save
from bench.report.text import above
from bench.store.reader import CellResults

Series = dict[tuple[str, str, str], list[CellResults]]  # (transport, api, loop): by idle count


def series(cells: Sequence[CellResults]) -> Series:
    """The fixed-load cells of each server, by transport, in order of idle connections."""
    found: Series = {}
    for cell in sorted(cells, key=lambda c: c.idle):
        found.setdefault((cell.transport, cell.api, cell.loop), []).append(cell)
    return found


def kib_per_idle(cell: CellResults) -> str:
    if not cell.bytes_per_idle:
        return "-"
    return f"{statistics.median(cell.bytes_per_idle) / 1024:,.1f}"


def table(found: Series) -> list[str]:
    counts = sorted({c.idle for cells in found.values() for c in cells})
    rows = [
        "| server | "
        + " | ".join(f"{n:,} idle: p99 us / server us per msg / KiB per idle" for n in counts)
        + " |",
        "| --- |" + " --- |" * len(counts),
    ]
    for (transport, api, loop), cells in found.items():
        by_count = {c.idle: c for c in cells}
        parts = []
        for n in counts:
            cell = by_count.get(n)
            if cell is None:
                parts.append("-")
                continue
            server = f"{cell.median_server_us:.1f}" if cell.server_us else "-"
            bound = " (client-limited)" if cell.is_client_bound else ""
            parts.append(
                f"{cell.median_p99_us:,.0f} / {server} / {kib_per_idle(cell) if n else '-'}{bound}"
            )
        rows.append(f"| {transport} {api} / {loop} | " + " | ".join(parts) + " |")
    return rows


def draw(found: Series, path: Path) -> None:
    """Per transport (columns): p99 (top) and memory per idle connection (bottom) against
    the idle count, log axes, a line per API and loop (asyncio dashed)."""
    transports = sorted({transport for transport, _, _ in found})
    fig = Figure(figsize=(6 * len(transports), 9))
    axes = fig.subplots(2, len(transports), squeeze=False)
    for column, transport in enumerate(transports):
        latency, memory = axes[0][column], axes[1][column]
        for (on, api, loop), cells in found.items():
            if on != transport:
                continue
            style = {"color": API_COLOURS[api], "linestyle": loop_line(loop), "marker": "o",
                     "label": f"{api} / {loop}"}  # fmt: skip
            latency.plot([max(c.idle, 1) for c in cells], [c.median_p99_us for c in cells], **style)
            kib = [(c.idle, statistics.median(c.bytes_per_idle) / 1024)
                   for c in cells if c.idle and c.bytes_per_idle]  # fmt: skip
            if kib:
                memory.plot(*zip(*kib, strict=True), **style)
        latency.set_title(f"{transport}: p99 of the ten measured connections")
        latency.set_ylabel("p99 us at the fixed load")
        memory.set_title(f"{transport}: server memory per idle connection")
        memory.set_ylabel("KiB per idle connection")
        memory.set_xlabel("idle connections")
        latency.set_xlabel("idle connections (1: none)")
        for ax in (latency, memory):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
        for ax in (latency, memory):  # 1, 2, 5 of each decade, labelled as plain numbers
            ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
            ax.yaxis.set_major_formatter(
                FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
            )
            ax.yaxis.set_minor_formatter(NullFormatter())
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, bbox_to_anchor=(0.5, -0.06))
    save(fig, path)


def moved(found: Series) -> str:
    """At the most idle connections, for how many servers the measured p99 was above or below
    its p99 without them beyond the spread of the repeats: what the run can resolve."""
    verdicts: dict[str, list[str]] = {"higher": [], "lower": [], "overlapping": []}
    most = max(c.idle for cells in found.values() for c in cells)
    for (transport, api, loop), cells in found.items():
        by_count = {c.idle: c.percentiles_us["p99"] for c in cells}
        if 0 not in by_count or most not in by_count:
            continue
        alone, beside = by_count[0], by_count[most]
        verdict = ("higher" if above(beside, alone)
                   else "lower" if above(alone, beside) else "overlapping")  # fmt: skip
        verdicts[verdict].append(f"{transport} {api} / {loop}")
    said = [f"{len(names)} {verdict}" for verdict, names in verdicts.items() if names]
    higher = f" (higher: {', '.join(verdicts['higher'])})" if verdicts["higher"] else ""
    return (
        f"With {most:,} idle connections, the measured p99 against the same load alone, beyond "
        f"the spread of the repeats: {', '.join(said)}{higher}."
    )


def idle_section(cells: Sequence[CellResults], directory: Path) -> list[str]:
    """The section with its figure; [] when no cell held idle connections."""
    fixed = [c for c in cells if c.at_rate and not c.slow]
    if not any(c.idle for c in fixed):
        return []
    found = series(fixed)
    rate = fixed[0].at_rate
    draw(found, directory / "idle.png")
    apis, loops = ordered_apis(fixed), ordered_loops(fixed)
    return [
        "## Many connections",
        "",
        f"N connections opened before the run (with their TLS handshake and WebSocket upgrade, "
        f"and one echo each) and then held open and silent, beside the ten measured connections, "
        f"which run open loop at {rate:,.0f} msg/s (0 idle: the same load without them). Memory "
        "per idle connection is the server's growth over the run (peak resident less resident "
        "before it) divided by N; at 100 it is mostly noise. APIs: "
        f"{', '.join(apis)}; loops: {', '.join(loops)}.",
        "",
        f"- {moved(found)}",
        "",
        *table(found),
        "",
        "![Many connections](idle.png)",
        "",
    ]
