"""The report's slow-readers section: what K connections that send fast and read slowly do
to each server, beside ten measured connections at a fixed load: the measured latency
against the same load alone (isolation), and how much the server's memory grew (bounded
when it stops reading what it cannot write back)."""

import statistics
from collections.abc import Sequence

from bench.store.reader import CellResults

# A server that applies back-pressure holds, per slow reader, at most about its write
# buffer's high-water mark and a read buffer: under 1 MiB here (0-3 MiB for four, over
# every API on asyncio); one that keeps reading held 11 MiB each in 1.8 s (the kernel
# buffers the first ~10 MiB of each connection either way, outside the server's memory).
BOUND_PER_READER = 2 * 1024 * 1024
MIB = 1024 * 1024


def p99_us(cell: CellResults) -> float:
    return statistics.median(cell.percentiles_us["p99"])


def verdict(cell: CellResults) -> str:
    """Bounded, or buffers without limit, from its median growth."""
    if not cell.growth_bytes:
        return "unknown"
    growth = statistics.median(cell.growth_bytes)
    if growth <= BOUND_PER_READER * cell.slow:
        return "bounded"
    return f"**buffers without limit** ({growth / cell.slow / MIB:,.1f} MiB per slow reader)"


def rows(cells: Sequence[CellResults]) -> list[str]:
    alone = {(c.transport, c.api, c.loop): c for c in cells if c.at_rate and not (c.slow or c.idle)}
    lines = [
        "| server | p99 us alone | p99 us beside slow readers | isolation (x) | server growth, MiB "
        "| memory |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for cell in (c for c in cells if c.slow):
        base = alone.get((cell.transport, cell.api, cell.loop))
        ratio = f"{p99_us(cell) / p99_us(base):.2f}" if base else "-"
        growth = f"{statistics.median(cell.growth_bytes) / MIB:,.1f}" if cell.growth_bytes else "-"
        base_p99 = f"{p99_us(base):,.0f}" if base else "-"
        lines.append(
            f"| {cell.transport} {cell.api} / {cell.loop} | {base_p99} | {p99_us(cell):,.0f} "
            f"| {ratio} | {growth} | {verdict(cell)} |"
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
        "measured p99 beside them over the p99 alone (1.0: untouched). Memory is the server's "
        "growth over the run (peak resident less resident before it); a server that applies "
        f"back-pressure stays within {BOUND_PER_READER // MIB} MiB per slow reader, one that "
        "keeps reading what it cannot write back does not.",
        "",
        *rows(cells),
        "",
    ]
