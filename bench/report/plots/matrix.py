"""Figures of the closed-loop matrix: throughput, speed-up, latency at saturation, CPU."""

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from aionetbench.loops import is_loop
from bench.analyse.order import order, ordered_apis, ordered_loops
from bench.report.plots.style import (
    API_COLOURS,
    NINES,
    REFERENCE_LINE,
    REFERENCE_STYLE,
    loop_legend,
    loop_line,
    loop_style,
    new_figure,
    nines,
    save,
)  # fmt: skip
from bench.store.reader import CellResults
from clients.stats import percentiles


def grouped_bars(
    cells: Sequence[CellResults],
    values: Callable[[CellResults], list[float]],
    ylabel: str,
    title: str,
    path: Path,
    mark_client_bound: bool = False,
) -> None:
    """Median per API x loop, loops side by side, with min-max whiskers over repeats."""
    apis, loops = ordered_apis(cells), ordered_loops(cells)
    by_key = {(cell.api, cell.loop): cell for cell in cells}
    fig, ax = new_figure()
    width = 0.8 / len(loops)
    bound_seen = False
    for a, api in enumerate(apis):
        for slot, loop in enumerate(loops):
            cell = by_key.get((api, loop))
            if cell is None or not values(cell):
                continue
            data = values(cell)
            median = statistics.median(data)
            x = a - 0.4 + width * (slot + 0.5)
            ax.bar(
                x, median, width, color=API_COLOURS[api], edgecolor="black", linewidth=0.6,
                yerr=[[median - min(data)], [max(data) - median]], capsize=3, **loop_style(loop),
            )  # fmt: skip
            if mark_client_bound and any(cell.client_bound):
                bound_seen = True
                ax.annotate("*", (x, max(data)), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=11, color="firebrick")  # fmt: skip
    references: dict[str, Patch | Line2D] = {}
    for cell in (c for c in cells if c.reference and values(c)):
        median = statistics.median(values(cell))
        line = ax.axhline(median, color=API_COLOURS[cell.api], linestyle="--", linewidth=1.2)
        shown = f"{median:,.0f}" if median >= 100 else f"{median:.2f}"  # req/s or us
        line.set_label(f"{cell.api} ({cell.loop}, C): reference, {shown}")
        references[cell.api] = line
    ax.set_xticks(range(len(apis)), apis)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    if bound_seen:
        references["bound"] = Patch(
            color="none", label="* client-bound: the load generator was the limit"
        )
    loop_legend(ax, loops, **references)
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)


def speedup(cells: Sequence[CellResults], path: Path) -> None:
    """uvloop / asyncio requests/s per API: per-repeat ratios (repeats ran side by side)."""
    by_key = {(cell.api, cell.loop): cell for cell in cells}
    apis = [
        api
        for api in ordered_apis(cells)
        if (api, "asyncio") in by_key and (api, "uvloop") in by_key
    ]
    fig, ax = new_figure()
    for a, api in enumerate(apis):
        ratios = [
            u / s
            for u, s in zip(by_key[(api, "uvloop")].rps, by_key[(api, "asyncio")].rps, strict=False)
        ]
        median = statistics.median(ratios)
        ax.bar(a, median, 0.6, color=API_COLOURS[api], edgecolor="black", linewidth=0.6,
               yerr=[[median - min(ratios)], [max(ratios) - median]], capsize=4)  # fmt: skip
        ax.annotate(
            f"{median:.2f}x",
            (a, max(ratios)),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
        )
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(apis)), apis)
    ax.set_ylabel("uvloop req/s / asyncio req/s")
    ax.set_title("uvloop speed-up per API (median, min-max over paired repeats)")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
    ax.grid(axis="y", alpha=0.3)
    save(fig, path)


def latency_spectrum(cells: Sequence[CellResults], path: Path) -> None:
    """Latency against percentile on a nines axis, one line per API x loop."""
    fig, ax = new_figure()
    steps = [100 * (1 - 10 ** (-k / 20)) for k in range(0, 81)]  # 0% .. 99.99% evenly in nines
    for cell in sorted(cells, key=lambda c: order(c.api, c.loop)):
        at = percentiles(cell.latency(), steps)
        xs = [nines(p) for p in steps]
        ys = [at[p] / 1000 for p in steps]
        ax.plot(
            xs,
            ys,
            linestyle=REFERENCE_LINE if cell.reference else loop_line(cell.loop),
            color=API_COLOURS[cell.api],
            label=f"{cell.api} / {cell.loop}",
        )
    ax.set_xticks([nines(p) for p in NINES], [f"{p:g}%" for p in NINES])
    ax.set_xlim(0, nines(NINES[-1]))
    ax.set_yscale("log")
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (us, log scale)")
    ax.set_title("Closed-loop latency at saturation: percentile spectrum (all repeats merged)")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2, frameon=False)
    save(fig, path)


def latency_boxes(cells: Sequence[CellResults], path: Path) -> None:
    """Box per API x loop: box p25-p75, line p50, whiskers p1 and p99, dot p99.9."""
    ordered = sorted(cells, key=lambda c: order(c.api, c.loop))
    stats = []
    for cell in ordered:
        q = {p: v / 1000 for p, v in percentiles(cell.latency(), (1, 25, 50, 75, 99, 99.9)).items()}
        stats.append({"whislo": q[1], "q1": q[25], "med": q[50], "q3": q[75], "whishi": q[99],
                      "fliers": [q[99.9]], "label": f"{cell.api}\n{cell.loop}"})  # fmt: skip
    fig, ax = new_figure(figsize=(max(9, len(stats) * 0.9), 5))
    boxes = ax.bxp(stats, patch_artist=True, flierprops={"marker": "o", "markersize": 4})
    for box, cell in zip(boxes["boxes"], ordered, strict=True):
        box.set_facecolor(API_COLOURS[cell.api])
        style = REFERENCE_STYLE if cell.reference else loop_style(cell.loop)
        box.set_alpha(style["alpha"])
        box.set_hatch(style["hatch"])
    ax.set_yscale("log")
    ax.set_ylabel("latency (us, log scale)")
    ax.set_title(
        "Closed-loop latency at saturation: box p25-p75, median, whiskers p1-p99, dot p99.9",
        fontsize=10,
    )
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    save(fig, path)


def throughput_against(cells: Sequence[CellResults], axis: str, path: Path) -> None:
    """Median req/s against `size` or `concurrency`, one panel per value of the other."""
    other = "concurrency" if axis == "size" else "size"
    panels = sorted({(c.transport, getattr(c, other)) for c in cells})
    fig = Figure(figsize=(4.5 * len(panels), 4.5))
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)
    for ax, (transport, fixed) in zip(axes[0], panels, strict=True):
        series: dict[tuple[str, str], list[CellResults]] = {}
        for cell in cells:
            if cell.transport == transport and getattr(cell, other) == fixed:
                series.setdefault((cell.api, cell.loop), []).append(cell)
        for (api, loop), group in sorted(series.items(), key=lambda kv: order(*kv[0])):
            group.sort(key=lambda c: getattr(c, axis))
            ax.plot([getattr(c, axis) for c in group], [c.median_rps for c in group],
                    linestyle=loop_line(loop) if is_loop(loop) else REFERENCE_LINE,
                    marker="o", color=API_COLOURS[api], label=f"{api} / {loop}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("payload bytes" if axis == "size" else "connections")
        ax.set_title(
            f"{transport}, {other} {fixed:,}" + (" B" if other == "size" else ""), fontsize=10
        )
        ax.grid(which="both", alpha=0.3)
    axes[0][0].set_ylabel("requests/s (median, log scale)")
    axes[0][-1].legend(fontsize=7, frameon=False)
    fig.suptitle(f"Throughput against {'payload size' if axis == 'size' else 'concurrency'}")
    save(fig, path)


def by_python(cells: Sequence[CellResults], pythons: Sequence[str], path: Path) -> None:
    """Server CPU per request against the server's Python: one panel per loop, one line per
    API (median, min-max whiskers over repeats)."""
    loops = ordered_loops(cells)
    fig = Figure(figsize=(4.2 * len(loops) + 1.5, 4.8))
    axes = fig.subplots(1, len(loops), sharey=True, squeeze=False)[0]
    for ax, loop in zip(axes, loops, strict=True):
        for api in ordered_apis(cells):
            series = [
                (x, c)
                for x, python in enumerate(pythons)
                for c in cells
                if c.api == api and c.loop == loop and c.python == python and c.server_us
            ]
            if not series:
                continue
            xs = [x for x, _ in series]
            medians = [statistics.median(c.server_us) for _, c in series]
            low = [m - min(c.server_us) for m, (_, c) in zip(medians, series, strict=True)]
            high = [max(c.server_us) - m for m, (_, c) in zip(medians, series, strict=True)]
            ax.errorbar(xs, medians, yerr=[low, high], color=API_COLOURS[api], marker="o",
                        linestyle=loop_line(loop), capsize=3, label=api)  # fmt: skip
        ax.set_xticks(range(len(pythons)), [f"Python {p}" for p in pythons])
        ax.set_title(loop)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("server CPU us per request (lower is better)")
    axes[-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    fig.suptitle("Server CPU per request by the server's Python")
    save(fig, path)
