"""The figures' shared look: one colour per API; uvloop solid, asyncio hatched and lighter,
rloop dotted; references (the C server) as lines. And the few helpers every figure uses.

matplotlib's object-oriented `Figure` API renders with Agg when saved, with no pyplot state
and no display, so it is safe in CI and in processes that make many figures.
"""

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from servers import SERVERS

API_COLOURS = dict(zip(SERVERS, matplotlib.colormaps["tab10"].colors, strict=False))
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
