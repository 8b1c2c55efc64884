"""argparse types shared by the command lines: checked numbers and comma-separated lists."""

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

Number = TypeVar("Number", int, float)


def at_least(
    convert: Callable[[str], Number],
    minimum: Number,
    *,
    inclusive: bool = True,
    maximum: Number | None = None,
) -> Callable[[str], Number]:
    """A type that converts and rejects values below `minimum` (or equal, if not inclusive),
    above `maximum`, and numbers that are not finite (nan, inf)."""

    def parse(text: str) -> Number:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < minimum or (not inclusive and value == minimum):
            bound = f"at least {minimum}" if inclusive else f"greater than {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {text}")
        return value

    return parse


positive_int = at_least(int, 1)
non_negative_int = at_least(int, 0)
positive_float = at_least(float, 0.0, inclusive=False)
non_negative_float = at_least(float, 0.0)


def list_of(
    convert: Callable[[str], object], choices: tuple[str, ...] | None = None
) -> Callable[[str], tuple]:
    """A type for comma-separated lists, each item converted and checked against `choices`."""

    def parse(text: str) -> tuple:
        items = tuple(convert(item.strip()) for item in text.split(",") if item.strip())
        if not items or (choices and any(item not in choices for item in items)):
            of = f" of {', '.join(choices)}" if choices else ""
            raise argparse.ArgumentTypeError(f"expected a comma-separated list{of}, got {text!r}")
        return items

    return parse
