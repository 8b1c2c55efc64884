"""How the report writes a measured figure: its median with the min-max of its repeats."""

import statistics
from collections.abc import Sequence


def spread(values: Sequence[float], fmt: str = ",.0f") -> str:
    """`median (min-max)`, e.g. `20,527 (20,285-20,770)`."""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"
