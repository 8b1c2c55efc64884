"""Where a request's cost goes: system calls by kind, server CPU split into user and system."""

from collections.abc import Sequence
from pathlib import Path

from bench.report.plots.style import finish_rows, new_figure

KIND_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "0.6")


def syscall_kinds(rows: Sequence[tuple[str, dict[str, float]]], path: Path) -> None:
    """Stacked horizontal bars: system calls per request by kind, one bar per API x loop. A
    kind whose N/2N difference came out negative (noise in a count that barely changes, such
    as memory calls) is drawn as nothing, not over the other segments; the table has it."""
    fig, ax = new_figure(figsize=(10, 1.2 + 0.45 * len(rows)))
    kinds = list(rows[0][1])
    for y, (_, counts) in enumerate(rows):
        left = 0.0
        for kind, colour in zip(kinds, KIND_COLOURS, strict=False):
            width = max(0.0, counts[kind])
            ax.barh(y, width, left=left, color=colour, edgecolor="black", linewidth=0.4,
                    label=kind if y == 0 else None)  # fmt: skip
            left += width
        ax.annotate(
            f"{left:.2f}",
            (left, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    finish_rows(fig, ax, [label for label, _ in rows], "system calls per request (N/2N differenced)",
                "System calls per request by kind", path)  # fmt: skip


def cpu_split(rows: Sequence[tuple[str, float, float]], floor_us: float | None, path: Path) -> None:
    """Stacked bars of server user and system CPU per request, the native floor as a line."""
    fig, ax = new_figure(figsize=(10, 1.2 + 0.45 * len(rows)))
    for y, (_, user, system) in enumerate(rows):
        ax.barh(
            y,
            system,
            color="tab:gray",
            edgecolor="black",
            linewidth=0.4,
            label="system (kernel)" if y == 0 else None,
        )
        ax.barh(
            y,
            user,
            left=system,
            color="tab:cyan",
            edgecolor="black",
            linewidth=0.4,
            label="user" if y == 0 else None,
        )
        ax.annotate(
            f"{user + system:.2f}",
            (user + system, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    if floor_us:
        ax.axvline(
            floor_us,
            color="firebrick",
            linestyle="--",
            linewidth=1.2,
            label=f"kernel floor (native C server): {floor_us:.2f} us",
        )
    finish_rows(fig, ax, [label for label, _, _ in rows], "server CPU us per request (untraced run)",
                "Server CPU per request: kernel (system) and user time", path)  # fmt: skip
