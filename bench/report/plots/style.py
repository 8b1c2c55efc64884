"""The figures' shared look: one colour per API; each loop its own fill and line, in the
registry's order (uvloop solid, asyncio hatched and lighter, rloop dotted, ...); references
(the C server) as lines. And the few helpers every figure uses.

matplotlib's object-oriented `Figure` API renders with Agg when saved, with no pyplot state
and no display, so it is safe in CI and in processes that make many figures.
"""

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from aionetbench.loops import order_key
from servers import SERVERS

API_COLOURS = dict(zip(SERVERS, matplotlib.colormaps["tab10"].colors, strict=False))
# (alpha, hatch, line style) by the loop's place in aionetbench.loops.LOOPS; loops named
# on the command line (MODULE:FACTORY) share the last.
LOOKS = (
    (0.55, "//", "--"),  # asyncio
    (1.0, "", "-"),  # uvloop
    (0.8, "..", "-."),  # rloop
    (0.8, "\\\\", (0, (5, 1, 1, 1, 1, 1))),  # veloxloop
    (0.8, "++", (0, (1, 1))),  # uringcore
    (0.8, "oo", (0, (3, 2, 1, 2))),  # rsloop
    (0.55, "//..", (0, (8, 2))),  # asyncio+aiofastnet
    (1.0, "--", (0, (8, 2, 2, 2))),  # uvloop+aiofastnet
    (0.7, "**", (0, (2, 3))),  # any other
)
NINES = (0.0, 50.0, 90.0, 99.0, 99.9, 99.99)
FIGSIZE = (9, 5)


def nines(percentile: float) -> float:
    """Position on a 'nines' axis: 90% -> 1, 99% -> 2, 99.9% -> 3."""
    return -math.log10(1 - percentile / 100)


def loop_style(loop: str) -> dict[str, Any]:
    """The bar fill of a loop's cells."""
    alpha, hatch, _ = LOOKS[min(order_key(loop), len(LOOKS) - 1)]
    return {"alpha": alpha, "hatch": hatch}


def loop_line(loop: str) -> str | tuple:
    """The line style of a loop's series."""
    return LOOKS[min(order_key(loop), len(LOOKS) - 1)][2]


# The native server runs on no asyncio loop: drawn as a reference (a line), never ranked.
REFERENCE_STYLE = {"alpha": 1.0, "hatch": "xx"}
REFERENCE_LINE = ":"


def loop_legend(ax: Axes, loops: Sequence[str], **extra: Patch | Line2D) -> None:
    handles = [
        Patch(
            facecolor="0.5",
            label=loop,
            **loop_style(loop),
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
