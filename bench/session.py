"""A benchmarking session: the plan's schedule run through, with progress, failures and
Ctrl-C handled once for `bench run` (one side) and `bench ab` (two, interleaved)."""

import signal
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from bench.plan import Cell, Plan
from bench.record import ResultsFile
from bench.run import Failure, Measurement, Pinning, run_cell

INTERRUPTED = 130


@dataclass
class Side:
    """One server environment under test and where its results go."""

    label: str
    python: str
    results: ResultsFile
    measured: dict[str, list[Measurement]] = field(default_factory=dict)


def stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so a cancelled CI job also saves and cleans up."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def interleave(plan: Plan, sides: list[Side]) -> list[tuple[int, Cell, Side]]:
    """Every cell once per side, then again; with two sides their order flips each repeat,
    so neither always runs first after the other."""
    return [
        (repeat, cell, side)
        for repeat, cell in plan.schedule()
        for side in (sides if repeat % 2 else sides[::-1])
    ]


def run_session(plan: Plan, pinning: Pinning, sides: list[Side], quiet: bool) -> int:
    """Run every (repeat, cell, side); 0 if all succeeded, 1 if any failed, 130 if interrupted."""
    schedule = interleave(plan, sides)
    print(
        f"{len(plan.cells)} cells x {plan.repeats} repeats x {len(sides)} side(s) = {len(schedule)} runs, "
        f"about {plan.estimated_seconds() * len(sides) / 60:.1f} min; pinned {pinning}",
        file=sys.stderr,
    )
    stop_on_sigterm()
    progress = tqdm(total=len(schedule), disable=quiet, unit="run", dynamic_ncols=True)
    try:
        for repeat, cell, side in schedule:
            with tempfile.TemporaryDirectory(prefix="aionetbench-") as workdir:
                outcome = run_cell(cell, plan, pinning, Path(workdir), side.python)
            where = f"{cell.name}{f' [{side.label}]' if len(sides) > 1 else ''} (repeat {repeat})"
            if isinstance(outcome, Failure):
                side.results.add_failure(cell, repeat, outcome)
                progress.write(f"FAILED {where}: {outcome.reason}", file=sys.stderr)
            else:
                side.results.add(cell, repeat, outcome)
                side.measured.setdefault(cell.name, []).append(outcome)
                progress.set_postfix_str(
                    f"{where} {outcome.client['rps']:,.0f} req/s", refresh=False
                )
            progress.update()
    except KeyboardInterrupt:
        progress.close()
        for side in sides:
            side.results.interrupted = True
            side.results.save()
            print(
                f"bench: interrupted; {side.results.completed} completed runs saved to {side.results.path}",
                file=sys.stderr,
            )
        return INTERRUPTED
    progress.close()
    for side in sides:
        if len(sides) > 1:
            print(f"\n{side.label} ({side.python}):")
        print(summary_table(side.measured))
    failures = sum(len(side.results.failures) for side in sides)
    if failures:
        print(
            f"bench: {failures} of {len(schedule)} runs failed; see the results files",
            file=sys.stderr,
        )
        return 1
    return 0


def summary_table(measured: dict[str, list[Measurement]]) -> str:
    """Per cell: median req/s (min-max), median p99 and server CPU per request, warnings."""
    lines = [f"{'cell':<36} {'req/s median (min-max)':>28} {'p99 us':>9} {'server us/req':>14}"]
    for name, runs in measured.items():
        rps = [run.client["rps"] for run in runs]
        p99 = statistics.median(run.client["latency_us"]["p99"] for run in runs)
        cpu = statistics.median(run.client.get("server_cpu_us_per_request", 0.0) for run in runs)
        bound = sum(run.client["client_bound"] for run in runs)
        flag = f"  client-bound in {bound}/{len(runs)}" if bound else ""
        spread = f"{statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f})"
        lines.append(f"{name:<36} {spread:>28} {p99:>9,.1f} {cpu:>14.2f}{flag}")
    return "\n".join(lines)
