"""argparse types shared by the command lines: checked numbers and comma-separated lists."""

import argparse
from collections.abc import Callable
from typing import TypeVar

Number = TypeVar("Number", int, float)


def at_least(
    convert: Callable[[str], Number], minimum: Number, *, inclusive: bool = True
) -> Callable[[str], Number]:
    """A type that converts and rejects values below `minimum` (or equal, if not inclusive)."""

    def parse(text: str) -> Number:
        value = convert(text)
        if value < minimum or (not inclusive and value == minimum):
            bound = f"at least {minimum}" if inclusive else f"greater than {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


positive_int = at_least(int, 1)
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
