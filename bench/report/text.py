"""How the report speaks of measured figures: a median with the min-max of its repeats, and
whether two sets of repeats are apart (the only case in which it compares them)."""

import statistics
from collections.abc import Sequence


def spread(values: Sequence[float], fmt: str = ",.0f") -> str:
    """`median (min-max)`, e.g. `20,527 (20,285-20,770)`."""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def above(values: Sequence[float], others: Sequence[float]) -> bool:
    """Whether every repeat of `values` is above every repeat of `others`."""
    return min(values) > max(others)
