"""Latency against offered load: the open-loop sweep's figure."""

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bench.analyse.order import ordered_loops
from bench.report.plots.style import API_COLOURS
from bench.store.reader import SweepPoint
from servers import SERVERS

PANELS_PER_ROW = 3


def latency_against_load(points: Sequence[SweepPoint], slo_us: float, path: Path) -> None:
    """p99 (solid, with its 95% interval) and p50 (dashed) against offered load, log-log,
    one panel per loop and one colour per API. Hollow: p99 interval wider than +-10%;
    x: the load generator fell behind (not a server result); diamond: another process or the
    client made a long tail (off the line, never ranked); triangle: saturated. Below
    each, how busy the server's core was at each load: the headroom that ranks cells which
    all meet the objective."""
    loops = ordered_loops(points)
    # Beyond 100x the objective, saturated points would squash the region that matters:
    # they are drawn at the top edge with their value written next to them.
    ceiling = 100 * slo_us
    # At most PANELS_PER_ROW loops side by side; more wrap onto further rows of panels.
    columns = min(len(loops), PANELS_PER_ROW)
    rows = -(-len(loops) // columns)
    fig = Figure(figsize=(6 * columns, 8 * rows))
    grid = fig.subplots(2 * rows, columns, squeeze=False, sharex="col",
                        gridspec_kw={"height_ratios": (5, 2) * rows})  # fmt: skip
    axes = [ax for row in grid[0::2] for ax in row]
    busy_axes = [ax for row in grid[1::2] for ax in row]
    for ax, busy_ax in zip(axes[len(loops) :], busy_axes[len(loops) :], strict=True):
        ax.set_visible(False)
        busy_ax.set_visible(False)
    for ax in axes[1 : len(loops)]:
        ax.sharey(axes[0])
    for ax in busy_axes[1 : len(loops)]:
        ax.sharey(busy_axes[0])
    for ax, busy_ax, loop in zip(axes, busy_axes, loops, strict=False):
        loop_panel(ax, busy_ax, [p for p in points if p.loop == loop], ceiling)
        references = [p for p in points if p.reference]
        reference_lines(ax, busy_ax, references, ceiling, ax is axes[0])
        ax.axhline(slo_us, color="black", linestyle=":", linewidth=1)
        ax.annotate(f"p99 objective {slo_us / 1000:g} ms", (0.01, slo_us), xycoords=("axes fraction", "data"),
                    xytext=(0, 3), textcoords="offset points", fontsize=8)  # fmt: skip
        ax.set_title(loop)
    for first in range(0, len(loops), columns):
        axes[first].set_ylabel("latency (us, log scale)")
        busy_axes[first].set_ylabel("server core busy")
    axes[0].set_ylim(top=ceiling * 1.05)
    busy_axes[0].set_ylim(0, 1.05)
    busy_axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    handles = legend_handles(points)
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(
        "Latency against offered load (open loop; the server's: from each send to its reply's "
        "arrival; one line per server process)"
    )
    fig.tight_layout(rect=(0, (0.06 + 0.02 * (len(handles) > 10)) / rows, 1, 1))
    fig.savefig(path, dpi=110)


def loop_panel(ax: Axes, busy_ax: Axes, points: Sequence[SweepPoint], ceiling: float) -> None:
    """One loop's curves, one per API and server process, and its server-busy panel below."""

    def clipped(value: float) -> float:
        return min(value, ceiling)

    for api in SERVERS:
        line = sorted((p for p in points if p.api == api), key=lambda p: p.rate)
        if not line:
            continue
        colour = API_COLOURS[api]
        for process in sorted({p.process for p in line}):
            server = [
                p for p in line if p.process == process and not (p.client_limited or p.interfered)
            ]
            rates = [p.rate for p in server]
            ax.plot(rates, [clipped(p.p99_us) for p in server], "-", color=colour)
            ax.plot(rates, [clipped(p.p50_us) for p in server], "--", color=colour, alpha=0.6,
                    linewidth=1)  # fmt: skip
            busy_ax.plot(rates, [p.server_cpu for p in server], "o-", color=colour, markersize=3)
        first_over = next((p for p in line if p.p99_us > ceiling), None)
        for p in line:
            if p.p99_ci_us and not p.client_limited and not p.interfered:
                low, high = map(clipped, p.p99_ci_us)
                ax.plot([p.rate, p.rate], [low, high], color=colour, linewidth=0.8, alpha=0.7)
            marker = (
                "x" if p.client_limited else "d" if p.interfered else "^" if p.saturated else "o"
            )
            hollow = p.unreliable and marker not in "xd"
            ax.plot(p.rate, clipped(p.p99_us), marker, color=colour, markersize=6, clip_on=False,
                    markerfacecolor="white" if hollow else colour, markeredgewidth=1.3)  # fmt: skip
            if p is first_over:  # the others crowd the top edge; the table has them
                ax.annotate(f"{p.p99_us / 1e3:,.0f} ms", (p.rate, ceiling), xytext=(-5, -2), textcoords="offset points",
                            ha="right", va="top", fontsize=7, color=colour)  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(which="both", alpha=0.3)
    busy_ax.set_xlabel("offered load (messages/s, log scale)")
    busy_ax.grid(which="both", alpha=0.3)
    busy_ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    busy_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    busy_ax.xaxis.set_minor_formatter(NullFormatter())


def reference_lines(
    ax: Axes, busy_ax: Axes, points: Sequence[SweepPoint], ceiling: float, labelled: bool
) -> None:
    """The reference servers' p99 and server-busy lines, dashed black, in every panel."""
    for reference in sorted({p.api for p in points}):
        line = sorted(
            (p for p in points if p.api == reference and not p.client_limited and not p.interfered),
            key=lambda p: p.rate,
        )
        rates = [p.rate for p in line]
        ax.plot(rates, [min(p.p99_us, ceiling) for p in line], "--", color="black", linewidth=1.2,
                label=f"{reference} p99 (reference)" if labelled else None)  # fmt: skip
        busy_ax.plot(rates, [p.server_cpu for p in line], "--", color="black", linewidth=1.2)


def legend_handles(points: Sequence[SweepPoint]) -> list[Line2D]:
    """One line per API and reference drawn, then what the markers mean."""
    handles = [
        Line2D([], [], color=API_COLOURS[api], label=api)
        for api in SERVERS
        if any(p.api == api and not p.reference for p in points)
    ]
    return [
        *handles,
        *[Line2D([], [], color="black", linestyle="--", label=f"{api}: C reference")
          for api in sorted({p.api for p in points if p.reference})],
        Line2D([], [], color="0.3", label="p99 (whisker: 95% interval)"),
        Line2D([], [], color="0.3", linestyle="--", label="p50"),
        Line2D([], [], color="0.3", marker="o", linestyle="", markerfacecolor="white", label="p99 unreliable (interval > +-10%)"),
        Line2D([], [], color="0.3", marker="^", linestyle="", label="saturated (< 97% answered)"),
        Line2D([], [], color="0.3", marker="x", linestyle="", label="client-limited: not a server result"),
        Line2D([], [], color="0.3", marker="d", linestyle="", label="interfered: another thread, the hypervisor or the client"),
    ]  # fmt: skip
