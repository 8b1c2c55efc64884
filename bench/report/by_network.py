"""The report's view of a run over several network paths (`bench run --network`): the same
API and loop on loopback and across veth pairs, side by side.

Loopback has a 64 KiB MTU and no bandwidth limit; a veth pair has MTU 1500 and its own
stack at each end, and `gbit` adds a 1 Gbit/s limit each way. What changes between them is
what the path costs, so the table shows throughput, the p99 at saturation and the server's
CPU per request (which now includes the kernel's work for the extra segments)."""

from collections.abc import Sequence
from dataclasses import replace

from bench.plan.cells import LOOPBACK
from bench.store.reader import CellResults


def network_section(cells: Sequence[CellResults]) -> list[str]:
    """Markdown: a table of every cell measured on more than one path (nothing otherwise)."""
    paths = list(dict.fromkeys(c.network for c in cells))
    if len(paths) < 2:
        return []
    by_path: dict[str, dict[str, CellResults]] = {}
    for cell in cells:
        by_path.setdefault(replace(cell, network=LOOPBACK).name, {})[cell.network] = cell
    lines = [
        "## Network paths",
        "",
        "The same cells on each path: req/s, p99 us at saturation, server CPU us per request.",
        "",
        "| cell | " + " | ".join(paths) + " |",
        "| --- |" + " --- |" * len(paths),
    ]
    for name, measured in by_path.items():
        if len(measured) < 2 or next(iter(measured.values())).reference:
            continue
        row = [figures(measured[path]) if path in measured else "-" for path in paths]
        lines.append(f"| `{name}` | " + " | ".join(row) + " |")
    return [*lines, ""]


def figures(cell: CellResults) -> str:
    p99 = cell.median_p99_us
    server = f"{cell.median_server_us:.2f}" if cell.median_server_us is not None else "-"
    bound = "*" if cell.is_client_bound else ""
    return f"{cell.median_rps:,.0f}{bound} / {p99:,.0f} / {server}"
