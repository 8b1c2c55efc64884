"""`bench history`: each benchmark's trend over the results files of a directory (like asv).

Files are ordered by name, which `make ci-bench` makes `<UTC time>-<commit>.json`. A point is
marked as a regression when `compare` would fail it against the point before: significant
(Holm-corrected over that step's benchmarks) and beyond the threshold.
"""

import re
from pathlib import Path

from aionetbench.errors import UsageError
from bench.analyse.compare import compare_family
from bench.report.plots.gate import trend
from bench.store.reader import Series, load_suite


def load_history(directory: Path, threshold: float = 0.05) -> list[Series]:
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise UsageError(f"{directory}: no results files")
    series: dict[str, Series] = {}
    previous: dict[str, list[float]] = {}
    for path in paths:
        suite = load_suite(path)
        current = {
            name: list(suite.get_benchmark(name).get_values())
            for name in suite.get_benchmark_names()
        }
        steps = {
            name: (previous[name], values, threshold)
            for name, values in current.items()
            if name in previous
        }
        regressed = (
            {c.name for c in compare_family(path.stem, steps) if c.regression} if steps else set()
        )
        for name, values in current.items():
            line = series.setdefault(name, Series(name, suite.get_benchmark(name).get_unit()))
            if name in regressed:
                line.regressions.append(len(line.labels))
            line.labels.append(path.stem)
            line.values.append(values)
        previous = current
    return list(series.values())


def file_name(benchmark: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", benchmark).strip("-") + ".png"


def write_history(directory: Path, output: Path, threshold: float = 0.05) -> Path:
    """history.md and one trend plot per benchmark; returns the Markdown file."""
    output.mkdir(parents=True, exist_ok=True)
    lines = [
        "# aionetbench history",
        "",
        f"{directory}: lower is better everywhere; red marks a regression.",
        "",
    ]
    for line in load_history(directory, threshold):
        trend(line, output / file_name(line.name))
        flag = f" ({len(line.regressions)} regression(s))" if line.regressions else ""
        lines += [f"## `{line.name}`{flag}", "", f"![{line.name}]({file_name(line.name)})", ""]
    index = output / "history.md"
    index.write_text("\n".join(lines))
    return index
