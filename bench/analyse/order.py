"""The order results are shown in: the registry's APIs, then the loops, references last."""

from collections.abc import Sequence

from aionetbench.loops import LOOPS
from bench.plan.cells import Cell
from servers import SERVERS


def order(api: str, loop: str = "asyncio") -> tuple[int, int]:
    """Sort key: APIs in the suite's order, loops in theirs, references last."""
    return list(SERVERS).index(api), LOOPS.index(loop) if loop in LOOPS else len(LOOPS)


def ordered_apis(cells: Sequence[Cell]) -> list[str]:
    """The APIs measured on an asyncio loop (references left out), in the suite's order."""
    present = {cell.api for cell in cells if not cell.reference}
    return [api for api in SERVERS if api in present]


def ordered_loops(cells: Sequence[Cell]) -> list[str]:
    """The asyncio loops measured, in the suite's order (a reference's own label left out)."""
    present = {cell.loop for cell in cells}
    return [loop for loop in LOOPS if loop in present]
