"""Figures of the regression gate: a comparison's ratios, and a benchmark's history."""

from collections.abc import Sequence
from pathlib import Path

from matplotlib.patches import Patch

from bench.analyse.compare import Comparison
from bench.report.plots.style import new_figure, save
from bench.store.reader import Series

VERDICT_COLOURS = {"REGRESSION": "firebrick", "improvement": "seagreen"}
FILE_HATCHES = ("", "//", "..", "xx", "\\\\")


def comparison(comparisons: Sequence[Comparison], threshold: float, path: Path) -> None:
    """Change NEW/BASE in percent per benchmark, bootstrap 95% interval as whiskers; red a
    significant regression beyond the threshold, green an improvement, grey the rest."""
    names = list(dict.fromkeys(c.name for c in comparisons))
    labels = list(dict.fromkeys(c.label for c in comparisons))
    height = 0.8 / len(labels)
    fig, ax = new_figure(figsize=(10, 1.5 + 0.32 * len(names) * len(labels)))
    for c in comparisons:
        y = names.index(c.name) - 0.4 + height * (labels.index(c.label) + 0.5)
        change = (c.ratio - 1) * 100
        ax.barh(
            y, change, height, color=VERDICT_COLOURS.get(c.verdict, "0.7"), edgecolor="black", linewidth=0.5,
            hatch=FILE_HATCHES[labels.index(c.label) % len(FILE_HATCHES)],
            xerr=[[change - (c.low - 1) * 100], [(c.high - 1) * 100 - change]], capsize=2,
        )  # fmt: skip
    for edge in (-threshold * 100, threshold * 100):
        ax.axvline(edge, color="black", linestyle=":", linewidth=0.8)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("change vs base (%): right is slower (every metric is lower-is-better)")
    ax.set_title(
        f"Comparison with the base (threshold +-{threshold * 100:g}%, whiskers: 95% bootstrap interval)"
    )
    handles = [Patch(color=colour, label=verdict) for verdict, colour in VERDICT_COLOURS.items()]
    handles.append(Patch(color="0.7", label="not significant or within threshold"))
    if len(labels) > 1:
        handles += [Patch(facecolor="white", edgecolor="black", hatch=FILE_HATCHES[i % len(FILE_HATCHES)], label=label)
                    for i, label in enumerate(labels)]  # fmt: skip
    ax.legend(handles=handles, fontsize=8, loc="best", frameon=True)
    ax.grid(axis="x", alpha=0.3)
    save(fig, path)


def trend(series: Series, path: Path) -> None:
    """A benchmark's median over history with min-max whiskers; regressions in red."""
    scale, unit = (1e6, "us") if series.unit == "second" else (1, series.unit)
    fig, ax = new_figure(figsize=(max(6, 0.6 * len(series.labels) + 3), 4))
    xs = range(len(series.labels))
    medians = [m * scale for m in series.medians]
    lows = [m - min(v) * scale for m, v in zip(medians, series.values, strict=True)]
    highs = [max(v) * scale - m for m, v in zip(medians, series.values, strict=True)]
    ax.errorbar(xs, medians, yerr=[lows, highs], marker="o", capsize=3, color="tab:blue")
    if series.regressions:
        ax.scatter([xs[i] for i in series.regressions], [medians[i] for i in series.regressions],
                   s=120, color="firebrick", zorder=3, label="regression")  # fmt: skip
        ax.legend(frameon=False)
    ax.set_xticks(list(xs), series.labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(f"{unit} (median, min-max; lower is better)")
    ax.set_title(series.name, fontsize=10)
    ax.grid(alpha=0.3)
    save(fig, path)
