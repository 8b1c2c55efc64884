"""The report's slow-readers section: what K connections that send fast and read slowly do
to each server, beside ten measured connections at a fixed load: the measured latency
against the same load alone (isolation), and how much the server's memory grew (bounded
when it stops reading what it cannot write back)."""

import statistics
from collections.abc import Sequence

from bench.report.text import above, spread
from bench.store.reader import CellResults

# A server that applies back-pressure holds, per slow reader, about its write buffer's
# high-water mark, a read buffer and, over TLS, the TLS layer's buffers: 0-1 MiB plain and up
# to 3 MiB over TLS here (`--profile workloads`, every API on both loops); one that keeps
# reading held 11 MiB each plain and 15 MiB over TLS in 1.8 s (the kernel buffers the first
# ~10 MiB of each connection either way, outside the server's memory).
BOUND_PER_READER = 5 * 1024 * 1024
MIB = 1024 * 1024


def verdict(cell: CellResults) -> str:
    """Bounded, or buffers without limit, from its median growth."""
    if not cell.growth_bytes:
        return "unknown"
    growth = statistics.median(cell.growth_bytes)
    if growth <= BOUND_PER_READER * cell.slow:
        return "bounded"
    return f"**buffers without limit** ({growth / cell.slow / MIB:,.1f} MiB per slow reader)"


def p99s(cell: CellResults) -> str:
    return spread(cell.percentiles_us["p99"])


def isolation(beside: CellResults, alone: CellResults) -> str:
    """The ratio of the p99s where the slow readers' repeats are all slower than those alone;
    slow readers only add work, so all faster says the runs alone were disturbed."""
    moved, still = beside.percentiles_us["p99"], alone.percentiles_us["p99"]
    if above(moved, still):
        return f"{beside.median_p99_us / alone.median_p99_us:.2f}"
    if above(still, moved):
        return "no worse (the runs alone were slower)"
    return "not told apart (repeats overlap)"


def rows(cells: Sequence[CellResults]) -> list[str]:
    alone = {(c.transport, c.api, c.loop): c for c in cells if c.at_rate and not (c.slow or c.idle)}
    lines = [
        "| server | p99 us alone | p99 us beside slow readers | isolation (x) | server growth, MiB "
        "| memory |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for cell in (c for c in cells if c.slow):
        base = alone.get((cell.transport, cell.api, cell.loop))
        growth = f"{statistics.median(cell.growth_bytes) / MIB:,.1f}" if cell.growth_bytes else "-"
        lines.append(
            f"| {cell.transport} {cell.api} / {cell.loop} | {p99s(base) if base else '-'} "
            f"| {p99s(cell)} | {isolation(cell, base) if base else '-'} | {growth} "
            f"| {verdict(cell)} |"
        )
    return lines


def slow_section(cells: Sequence[CellResults]) -> list[str]:
    """The section; [] when no cell had slow readers."""
    slow = [c for c in cells if c.slow]
    if not slow:
        return []
    return [
        "## Slow readers",
        "",
        f"{slow[0].slow} connections beside the ten measured ones send up to 8 MiB/s each and "
        "read their echoes at 16 KiB/s through a 16 KiB receive buffer; the measured ones run "
        f"open loop at {slow[0].at_rate:,.0f} msg/s, as they do alone. Isolation is the "
        "measured p99 beside them over the p99 alone (1.0: untouched), given only where the "
        "repeats of the two do not overlap (p99s: median, min-max). Memory is the server's "
        "growth over the run (peak resident less resident before it); a server that applies "
        f"back-pressure stays within {BOUND_PER_READER // MIB} MiB per slow reader, one that "
        "keeps reading what it cannot write back does not.",
        "",
        *rows(cells),
        "",
    ]
