"""Which of two cells is faster, judged on a metric the load generator cannot cap.

Requests/s ranks cells whose server was the limit. When both cells of a pair were
client-bound, their req/s measured the load generator, and the difference between them is
the client's noise. Server CPU per request is still the server's own cost, so it decides
between them: the one that needs less CPU per request can serve more.
"""

import functools
from collections.abc import Sequence

from bench.store.reader import CellResults

CLEAR_LEAD = 0.05  # a lead smaller than this is within the noise of repeated runs here

REQUESTS = "requests/s"
SERVER_CPU = "server CPU per request"


def deciding_metric(a: CellResults, b: CellResults) -> str:
    both_bound = a.is_client_bound and b.is_client_bound
    known = a.median_server_us is not None and b.median_server_us is not None
    return SERVER_CPU if both_bound and known else REQUESTS


def compare(a: CellResults, b: CellResults) -> float:
    """Negative when `a` is faster, positive when `b` is."""
    if deciding_metric(a, b) == SERVER_CPU:
        return a.median_server_us - b.median_server_us  # type: ignore[operator]
    return b.median_rps - a.median_rps


def rank(cells: Sequence[CellResults]) -> list[CellResults]:
    """Fastest first."""
    return sorted(cells, key=functools.cmp_to_key(compare))


def margin(best: CellResults, other: CellResults) -> str:
    """How `best` beats `other`, on the metric that decided: `1.25x streams`, or
    `buffered by server CPU per request (4.12 vs 4.40 us)`."""
    if deciding_metric(best, other) == SERVER_CPU:
        return (
            f"{other.api} by server CPU per request "
            f"({best.median_server_us:.2f} vs {other.median_server_us:.2f} us, both client-bound)"
        )
    return f"{best.median_rps / other.median_rps:.2f}x {other.api}"
