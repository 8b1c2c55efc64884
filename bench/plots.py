"""The report's figures. One colour per API; uvloop solid, asyncio hatched and lighter, rloop dotted.

matplotlib's object-oriented `Figure` API renders with Agg when saved, with no pyplot state
and no display, so it is safe in CI and in processes that make many figures.
"""

import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bench.compare import Comparison
from bench.plan import Cell
from bench.results import CellResults, Series, SweepPoint
from clients.stats import percentiles
from servers import APIS

API_COLOURS = dict(zip(APIS, matplotlib.colormaps["tab10"].colors, strict=False))
LOOP_STYLE = {
    "asyncio": {"alpha": 0.55, "hatch": "//"},
    "uvloop": {"alpha": 1.0, "hatch": ""},
    "rloop": {"alpha": 0.8, "hatch": ".."},
}
LOOP_LINES = {"asyncio": "--", "uvloop": "-", "rloop": "-."}
NINES = (0.0, 50.0, 90.0, 99.0, 99.9, 99.99)
FIGSIZE = (9, 5)


def nines(percentile: float) -> float:
    """Position on a 'nines' axis: 90% -> 1, 99% -> 2, 99.9% -> 3."""
    return -math.log10(1 - percentile / 100)


# The native server runs on no asyncio loop: drawn as a reference (a line), never ranked.
REFERENCE_STYLE = {"alpha": 1.0, "hatch": "xx"}
REFERENCE_LINE = ":"


def is_reference(cell: Cell) -> bool:
    return cell.loop not in LOOP_STYLE


def order(api: str, loop: str = "asyncio") -> tuple[int, int]:
    """Sort key: APIs in the suite's order, asyncio before uvloop, references last."""
    loops = list(LOOP_STYLE)
    return list(APIS).index(api), loops.index(loop) if loop in loops else len(loops)


def ordered_apis(cells: Sequence[CellResults]) -> list[str]:
    """The APIs measured on an asyncio loop (references left out), in the suite's order."""
    present = {cell.api for cell in cells if not is_reference(cell)}
    return [api for api in APIS if api in present]


def ordered_loops(cells: Sequence[CellResults]) -> list[str]:
    present = {cell.loop for cell in cells}
    return [loop for loop in LOOP_STYLE if loop in present]


def loop_legend(ax: Axes, loops: Sequence[str], **extra: Patch | Line2D) -> None:
    handles = [
        Patch(
            facecolor="0.5",
            alpha=LOOP_STYLE[loop]["alpha"],
            hatch=LOOP_STYLE[loop]["hatch"],
            label=loop,
        )
        for loop in loops
    ]
    handles += [patch for patch in extra.values()]
    # Below the axes: with eight APIs on three loops, no corner inside is free.
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08), frameon=False,
              ncol=min(3, len(handles)), fontsize=8)  # fmt: skip


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
                yerr=[[median - min(data)], [max(data) - median]], capsize=3, **LOOP_STYLE[loop],
            )  # fmt: skip
            if mark_client_bound and any(cell.client_bound):
                bound_seen = True
                ax.annotate("*", (x, max(data)), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=11, color="firebrick")  # fmt: skip
    references: dict[str, Patch | Line2D] = {}
    for cell in (c for c in cells if is_reference(c) and values(c)):
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
            LOOP_LINES.get(cell.loop, REFERENCE_LINE),
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
        style = LOOP_STYLE.get(cell.loop, REFERENCE_STYLE)
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
            ax.plot([getattr(c, axis) for c in group], [c.median_rps for c in group], LOOP_LINES.get(loop, REFERENCE_LINE),
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
                        linestyle=LOOP_LINES[loop], capsize=3, label=api)  # fmt: skip
        ax.set_xticks(range(len(pythons)), [f"Python {p}" for p in pythons])
        ax.set_title(loop)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("server CPU us per request (lower is better)")
    axes[-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    fig.suptitle("Server CPU per request by the server's Python")
    save(fig, path)


def latency_against_load(points: Sequence[SweepPoint], slo_us: float, path: Path) -> None:
    """p99 (solid, with its 95% interval) and p50 (dashed) against offered load, log-log,
    one panel per loop and one colour per API. Hollow: p99 interval wider than +-10%;
    x: the load generator fell behind (not a server result); triangle: saturated. Below
    each, how busy the server's core was at each load: the headroom that ranks cells which
    all meet the objective."""
    loops = [loop for loop in LOOP_STYLE if any(p.loop == loop for p in points)]
    # Beyond 100x the objective, saturated points would squash the region that matters:
    # they are drawn at the top edge with their value written next to them.
    ceiling = 100 * slo_us

    def clipped(value: float) -> float:
        return min(value, ceiling)

    fig = Figure(figsize=(6 * len(loops), 8))
    grid = fig.subplots(2, len(loops), squeeze=False, sharex="col", sharey="row",
                        gridspec_kw={"height_ratios": (5, 2)})  # fmt: skip
    axes, busy_axes = grid
    for ax, busy_ax, loop in zip(axes, busy_axes, loops, strict=True):
        for api in APIS:
            line = sorted(
                (p for p in points if p.loop == loop and p.api == api), key=lambda p: p.rate
            )
            if not line:
                continue
            colour = API_COLOURS[api]
            server = [p for p in line if not p.client_limited]
            rates = [p.rate for p in server]
            ax.plot(rates, [clipped(p.p99_us) for p in server], "-", color=colour, label=api)
            ax.plot(
                rates,
                [clipped(p.p50_us) for p in server],
                "--",
                color=colour,
                alpha=0.6,
                linewidth=1,
            )
            busy_ax.plot(rates, [p.server_cpu for p in server], "o-", color=colour, markersize=3)
            for p in line:
                if p.p99_ci_us and not p.client_limited:
                    low, high = map(clipped, p.p99_ci_us)
                    ax.plot([p.rate, p.rate], [low, high], color=colour, linewidth=0.8, alpha=0.7)
                marker = "x" if p.client_limited else "^" if p.saturated else "o"
                hollow = p.unreliable and marker != "x"
                ax.plot(p.rate, clipped(p.p99_us), marker, color=colour, markersize=6, clip_on=False,
                        markerfacecolor="white" if hollow else colour, markeredgewidth=1.3)  # fmt: skip
                if p.p99_us > ceiling:
                    ax.annotate(f"{p.p99_us / 1e3:,.0f} ms", (p.rate, ceiling), xytext=(-5, -2), textcoords="offset points",
                                ha="right", va="top", fontsize=7, color=colour)  # fmt: skip
        for reference in {p.api for p in points if p.loop not in LOOP_STYLE}:
            line = sorted(
                (p for p in points if p.api == reference and not p.client_limited),
                key=lambda p: p.rate,
            )
            ax.plot([p.rate for p in line], [clipped(p.p99_us) for p in line], "--", color="black", linewidth=1.2,
                    label=f"{reference} p99 (reference)" if ax is axes[0] else None)  # fmt: skip
            busy_ax.plot(
                [p.rate for p in line],
                [p.server_cpu for p in line],
                "--",
                color="black",
                linewidth=1.2,
            )
        ax.axhline(slo_us, color="black", linestyle=":", linewidth=1)
        ax.annotate(f"p99 objective {slo_us / 1000:g} ms", (0.01, slo_us), xycoords=("axes fraction", "data"),
                    xytext=(0, 3), textcoords="offset points", fontsize=8)  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(loop)
        ax.grid(which="both", alpha=0.3)
        busy_ax.set_xlabel("offered load (messages/s, log scale)")
        busy_ax.grid(which="both", alpha=0.3)
        busy_ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        busy_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        busy_ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].set_ylabel("latency (us, log scale)")
    axes[0].set_ylim(top=ceiling * 1.05)
    busy_axes[0].set_ylabel("server core busy")
    busy_axes[0].set_ylim(0, 1.05)
    busy_axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    handles = [
        Line2D([], [], color=API_COLOURS[api], label=api)
        for api in APIS
        if any(p.api == api and p.loop in LOOP_STYLE for p in points)
    ]
    handles += [
        *[Line2D([], [], color="black", linestyle="--", label=f"{api}: C reference")
          for api in sorted({p.api for p in points if p.loop not in LOOP_STYLE})],
        Line2D([], [], color="0.3", label="p99 (whisker: 95% interval)"),
        Line2D([], [], color="0.3", linestyle="--", label="p50"),
        Line2D([], [], color="0.3", marker="o", linestyle="", markerfacecolor="white", label="p99 unreliable (interval > +-10%)"),
        Line2D([], [], color="0.3", marker="^", linestyle="", label="saturated (< 97% answered)"),
        Line2D([], [], color="0.3", marker="x", linestyle="", label="client-limited: not a server result"),
    ]  # fmt: skip
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=5, frameon=False)
    fig.suptitle("Latency against offered load (open loop, from intended send times)")
    fig.tight_layout(rect=(0, 0.06 + 0.02 * (len(handles) > 10), 1, 1))
    fig.savefig(path, dpi=110)


KIND_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "0.6")


def syscall_kinds(rows: Sequence[tuple[str, dict[str, float]]], path: Path) -> None:
    """Stacked horizontal bars: system calls per request by kind, one bar per API x loop."""
    fig, ax = new_figure(figsize=(10, 1.2 + 0.45 * len(rows)))
    kinds = list(rows[0][1])
    for y, (_, counts) in enumerate(rows):
        left = 0.0
        for kind, colour in zip(kinds, KIND_COLOURS, strict=False):
            ax.barh(y, counts[kind], left=left, color=colour, edgecolor="black", linewidth=0.4,
                    label=kind if y == 0 else None)  # fmt: skip
            left += counts[kind]
        ax.annotate(
            f"{left:.2f}",
            (left, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    finish_rows(fig, ax, [label for label, _ in rows], "system calls per request (N/2N differenced)",
                "System calls per request by kind", path)  # fmt: skip


def cpu_split(rows: Sequence[tuple[str, float, float]], floor_us: float | None, path: Path) -> None:
    """Stacked bars of server user and system CPU per request, the native floor as a line."""
    fig, ax = new_figure(figsize=(10, 1.2 + 0.45 * len(rows)))
    for y, (_, user, system) in enumerate(rows):
        ax.barh(
            y,
            system,
            color="tab:gray",
            edgecolor="black",
            linewidth=0.4,
            label="system (kernel)" if y == 0 else None,
        )
        ax.barh(
            y,
            user,
            left=system,
            color="tab:cyan",
            edgecolor="black",
            linewidth=0.4,
            label="user" if y == 0 else None,
        )
        ax.annotate(
            f"{user + system:.2f}",
            (user + system, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    if floor_us:
        ax.axvline(
            floor_us,
            color="firebrick",
            linestyle="--",
            linewidth=1.2,
            label=f"kernel floor (native C server): {floor_us:.2f} us",
        )
    finish_rows(fig, ax, [label for label, _, _ in rows], "server CPU us per request (untraced run)",
                "Server CPU per request: kernel (system) and user time", path)  # fmt: skip


def finish_rows(
    fig: Figure, ax: Axes, labels: list[str], xlabel: str, title: str, path: Path
) -> None:
    """Label and save a chart of horizontal bars, one row per API x loop, top to bottom."""
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right", frameon=True)
    ax.grid(axis="x", alpha=0.3)
    save(fig, path)


def new_figure(figsize: tuple[float, float] = FIGSIZE) -> tuple[Figure, Axes]:
    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # legends may sit outside the axes


VERDICT_COLOURS = {"REGRESSION": "firebrick", "improvement": "seagreen"}
FILE_HATCHES = ("", "//", "..", "xx", "\\\\")


def comparison(comparisons: Sequence[Comparison], threshold: float, path: Path) -> None:
    """Change NEW/BASE in percent per benchmark, bootstrap 95% interval as whiskers; red a
    significant regression beyond the threshold, green an improvement, grey the rest."""
    names = list(dict.fromkeys(c.name for c in comparisons))
    labels = list(dict.fromkeys(c.label for c in comparisons))
    height = 0.8 / len(labels)
    fig, ax = new_figure(figsize=(10, 1.5 + 0.32 * len(names) * len(labels)))
    for c in comparisons:
        y = names.index(c.name) - 0.4 + height * (labels.index(c.label) + 0.5)
        change = (c.ratio - 1) * 100
        ax.barh(
            y, change, height, color=VERDICT_COLOURS.get(c.verdict, "0.7"), edgecolor="black", linewidth=0.5,
            hatch=FILE_HATCHES[labels.index(c.label) % len(FILE_HATCHES)],
            xerr=[[change - (c.low - 1) * 100], [(c.high - 1) * 100 - change]], capsize=2,
        )  # fmt: skip
    for edge in (-threshold * 100, threshold * 100):
        ax.axvline(edge, color="black", linestyle=":", linewidth=0.8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("change vs base (%): right is slower (every metric is lower-is-better)")
    ax.set_title(
        f"Comparison with the base (threshold +-{threshold * 100:g}%, whiskers: 95% bootstrap interval)"
    )
    handles = [Patch(color=colour, label=verdict) for verdict, colour in VERDICT_COLOURS.items()]
    handles.append(Patch(color="0.7", label="not significant or within threshold"))
    if len(labels) > 1:
        handles += [Patch(facecolor="white", edgecolor="black", hatch=FILE_HATCHES[i % len(FILE_HATCHES)], label=label)
                    for i, label in enumerate(labels)]  # fmt: skip
    ax.legend(handles=handles, fontsize=8, loc="best", frameon=True)
    ax.grid(axis="x", alpha=0.3)
    save(fig, path)


def trend(series: Series, path: Path) -> None:
    """A benchmark's median over history with min-max whiskers; regressions in red."""
    scale, unit = (1e6, "us") if series.unit == "second" else (1, series.unit)
    fig, ax = new_figure(figsize=(max(6, 0.6 * len(series.labels) + 3), 4))
    xs = range(len(series.labels))
    medians = [m * scale for m in series.medians]
    lows = [m - min(v) * scale for m, v in zip(medians, series.values, strict=True)]
    highs = [max(v) * scale - m for m, v in zip(medians, series.values, strict=True)]
    ax.errorbar(xs, medians, yerr=[lows, highs], marker="o", capsize=3, color="tab:blue")
    if series.regressions:
        ax.scatter([xs[i] for i in series.regressions], [medians[i] for i in series.regressions],
                   s=120, color="firebrick", zorder=3, label="regression")  # fmt: skip
        ax.legend(frameon=False)
    ax.set_xticks(list(xs), series.labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(f"{unit} (median, min-max; lower is better)")
    ax.set_title(series.name, fontsize=10)
    ax.grid(alpha=0.3)
    save(fig, path)
