"""The report's connection-churn section: connections per second per API and loop, what the
server spends on each, plain against TLS, and the only comparisons the spreads allow."""

import statistics
from collections.abc import Sequence
from pathlib import Path

from bench.analyse.order import ordered_loops
from bench.report.plots.matrix import grouped_bars
from bench.report.text import above, spread
from bench.store.reader import CellResults


def comparisons(cells: Sequence[CellResults]) -> list[str]:
    """Per transport and loop: the fastest API, against each other API only where their
    repeats do not overlap; a client-bound cell is named, never ranked."""
    sentences = []
    for transport in sorted({c.transport for c in cells}):
        for loop in ordered_loops(cells):
            here = [c for c in cells if c.transport == transport and c.loop == loop and c.cps]
            ranked = sorted(
                (c for c in here if not c.is_client_bound), key=lambda c: -statistics.median(c.cps)
            )
            bound = [c.api for c in here if c.is_client_bound]
            if not ranked:
                continue
            best, *rest = ranked
            beaten = [
                f"{statistics.median(best.cps) / statistics.median(c.cps):.2f}x {c.api}"
                for c in rest
                if above(best.cps, c.cps)
            ]
            close = [c.api for c in rest if not above(best.cps, c.cps)]
            sentence = (
                f"{transport} on **{loop}**: **{best.api}** completes {spread(best.cps)} conn/s"
                + (f": {', '.join(beaten)}" if beaten else "")
            )
            if close:
                sentence += f"; not ranked against {', '.join(close)} (their repeats overlap)"
            if bound:
                sentence += f"; {', '.join(bound)} client-bound (the load generator's figure)"
            sentences.append(sentence + ".")
    return sentences


def churn_section(cells: Sequence[CellResults], directory: Path) -> list[str]:
    """The section, with one figure per transport; [] when no cell churned."""
    churned = [c for c in cells if c.churn and c.cps]
    if not churned:
        return []
    lines = [
        "## Connection churn",
        "",
        "Each connection connects (and completes its TLS handshake and WebSocket upgrade where "
        "the cell has them), exchanges its messages and closes; a new one takes its place. "
        "Closed loop: connections completed per second at saturation; the latency is from each "
        "connect to its first echo.",
        "",
        *(f"- {sentence}" for sentence in comparisons(churned)),
        "",
        "| cell | conn/s median (min-max) | server us/connection | p99 us connect to first echo "
        "| client-bound |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in churned:
        server = spread(c.server_us_per_connection, ",.1f") if c.server_us_per_connection else "-"
        bound = f"{sum(c.client_bound)}/{len(c.client_bound)}" if any(c.client_bound) else "no"
        lines.append(
            f"| `{c.name}` | {spread(c.cps)} | {server} | {c.median_p99_us:,.0f} | {bound} |"
        )
    lines.append("")
    for transport in sorted({c.transport for c in churned}):
        name = f"churn-{transport}.png"
        grouped_bars(
            [c for c in churned if c.transport == transport],
            lambda c: c.cps,
            "connections/s (median, min-max)",
            f"Connection churn over {transport}: connections per second",
            directory / name,
            mark_client_bound=True,
        )
        caption = f"Connections per second, {transport}"
        lines += [f"### {caption}", "", f"![{caption}]({name})", ""]
    return lines
