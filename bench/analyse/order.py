"""The order results are shown in: the registry's APIs, then the loops, references last."""

from collections.abc import Iterable, Sequence

from aionetbench.loops import is_loop, order_key
from bench.plan.cells import Cell
from servers import SERVERS


def order(api: str, loop: str = "asyncio") -> tuple[int, int]:
    """Sort key: APIs in the suite's order, loops in theirs, references last."""
    return list(SERVERS).index(api), order_key(loop)


def ordered_apis(cells: Sequence[Cell]) -> list[str]:
    """The APIs measured on an asyncio loop (references left out), in the suite's order."""
    present = {cell.api for cell in cells if not cell.reference}
    return [api for api in SERVERS if api in present]


def ordered_loops(cells: Sequence[Cell]) -> list[str]:
    """The asyncio loops measured, in the suite's order, loops named on the command line
    last (a reference's own label left out)."""
    return loops_in(cell.loop for cell in cells)


def loops_in(labels: Iterable[str]) -> list[str]:
    """The distinct asyncio loops among cells' loop labels, in the suite's order."""
    present = {label for label in labels if is_loop(label)}
    return sorted(present, key=lambda loop: (order_key(loop), loop))
