"""The report's view of a run that compared server Pythons (`bench run --pythons`).

Every other section of the report shows one Python, the reference: the orchestrator's own
version when it was measured, else the newest. This section sets the Pythons side by side
per API and loop. It compares them on server CPU per request, which the load generator
cannot cap: on 2 cores the fastest cells are client-bound, and their req/s would compare
the client with itself.
"""

from collections.abc import Sequence
from pathlib import Path

from bench.analyse.order import ordered_apis, ordered_loops
from bench.analyse.ranking import CLEAR_LEAD, SERVER_CPU, deciding_metric, rank
from bench.plan.cells import version_key
from bench.report.plots.matrix import by_python
from bench.store.reader import CellResults

FIGURE = "pythons.png"


def labels_of(cells: Sequence[CellResults]) -> list[str]:
    """The server Pythons a run compared, oldest first ([] when it compared none)."""
    return sorted({c.python for c in cells if c.python}, key=version_key)


def reference_python(cells: Sequence[CellResults], orchestrator_version: str) -> str:
    """The Python the single-Python sections show: the orchestrator's when measured."""
    labels = labels_of(cells)
    own = ".".join(orchestrator_version.split(".")[:2])
    return own if own in labels else (labels[-1] if labels else "")


def view(cells: Sequence[CellResults], python: str) -> list[CellResults]:
    """The cells of one Python, plus those that run on none (native)."""
    return [c for c in cells if c.python in (python, "")]


def lead(best: CellResults, other: CellResults) -> float:
    """By how much `best` beats `other` on the metric that ranked them (0.05 = 5%)."""
    if deciding_metric(best, other) == SERVER_CPU:
        return other.median_server_us / best.median_server_us - 1  # type: ignore[operator]
    return best.median_rps / other.median_rps - 1


def change(base: CellResults, other: CellResults) -> str:
    """Server CPU per request of `other` against `base`, e.g. `+8%`."""
    if base.median_server_us is None or other.median_server_us is None:
        return "-"
    return f"{other.median_server_us / base.median_server_us - 1:+.0%}"


def python_section(cells: Sequence[CellResults], base: str, directory: Path) -> list[str]:
    """Markdown: the fastest loop and Python per API, a table of every API x loop by Python,
    and a figure (nothing when the run compared fewer than two Pythons)."""
    labels = labels_of(cells)
    if len(labels) < 2:
        return []
    compared = [c for c in cells if c.python and not c.reference]
    lines = [
        "## Python versions",
        "",
        f"Servers ran on Python {', '.join(labels)}, interleaved in one session; the load "
        f"generator stayed on one interpreter. Changes are in server CPU per request against "
        f"Python {base} (lower is better), the figure the load generator cannot cap.",
        "",
    ]
    for api in ordered_apis(compared):
        ranked = rank([c for c in compared if c.api == api])
        best = ranked[0]
        # Everything within CLEAR_LEAD of the best is named with it: a lead that small
        # is inside this machine's run-to-run noise.
        tied = [c for c in ranked if lead(best, c) < CLEAR_LEAD]
        loops = " or ".join(f"**{loop}**" for loop in dict.fromkeys(c.loop for c in tied))
        pythons = " or ".join(sorted({c.python for c in tied}, key=version_key))
        bound = ", client-bound" if best.is_client_bound else ""
        noise = f" (each within {CLEAR_LEAD:.0%} of the best)" if len(tied) > 1 else ""
        lines.append(
            f"- **{api}**: fastest on {loops} with Python {pythons}{noise}; best "
            f"{best.loop} / {best.python}: {best.median_rps:,.0f} req/s, "
            f"{best.median_server_us or 0:.2f} us server CPU per request{bound}."
        )
    others = [label for label in labels if label != base]
    lines += [
        "",
        "| API / loop | " + " | ".join(f"Python {label}: req/s (server us/req)" for label in labels)
        + " | " + " | ".join(f"{label} vs {base}" for label in others) + " |",
        "| --- |" + " --- |" * (len(labels) + len(others)),
    ]  # fmt: skip
    by_key = {(c.api, c.loop, c.python): c for c in compared}
    for api in ordered_apis(compared):
        for loop in ordered_loops(compared):
            row = [by_key.get((api, loop, label)) for label in labels]
            if not any(row):
                continue
            figures = [
                f"{c.median_rps:,.0f} ({c.median_server_us or 0:.2f})" if c else "-" for c in row
            ]
            reference = by_key.get((api, loop, base))
            changes = [
                change(reference, c) if reference and c else "-"
                for c in (by_key.get((api, loop, label)) for label in others)
            ]
            lines.append(f"| {api} / {loop} | " + " | ".join(figures + changes) + " |")
    by_python(compared, labels, directory / FIGURE)
    lines += ["", f"![Server CPU per request by Python]({FIGURE})", ""]
    return lines
