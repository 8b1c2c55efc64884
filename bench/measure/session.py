"""A benchmarking session: the plan's schedule run through, with progress, failures and
Ctrl-C handled once for `bench run` (one side) and `bench ab` (two, interleaved)."""

import contextlib
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from aionetbench.cpus import stop_children
from bench.measure.netns import network_paths
from bench.measure.run import Pinning, run_cell
from bench.measure.sweep import ladder, sweep_cell
from bench.plan.cells import Cell
from bench.plan.profiles import AUTO, KNEE_POINTS, RUN_OVERHEAD_S, SWEEP_SERVER_S, Plan
from bench.store.schema import Failure, Measurement
from bench.store.writer import ResultsFile

INTERRUPTED = 130


@dataclass
class Side:
    """One server environment under test and where its results go."""

    label: str
    python: str
    results: ResultsFile
    # Cells that name a Python (`Cell.python`) run on its interpreter instead of `python`.
    pythons: dict[str, str] = field(default_factory=dict)
    measured: dict[str, list[Measurement]] = field(default_factory=dict)
    points: list[tuple[Cell, float, Measurement]] = field(default_factory=list)

    def python_for(self, cell: Cell) -> str:
        return self.pythons.get(cell.python, self.python)


def stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so a cancelled CI job also saves and cleans up."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def advance(progress: tqdm, seconds: float) -> None:
    """Move the bar by a run's estimated cost, never past its total (float sums drift)."""
    progress.update(max(0.0, min(seconds, progress.total - progress.n)))


def interleave(plan: Plan, sides: list[Side]) -> list[tuple[int, Cell, Side]]:
    """Every cell once per side, then again; with two sides their order flips each repeat,
    so neither always runs first after the other."""
    return [
        (repeat, cell, side)
        for repeat, cell in plan.schedule()
        for side in (sides if repeat % 2 else sides[::-1])
    ]


def run_session(plan: Plan, pinning: Pinning, sides: list[Side], quiet: bool) -> int:
    """Run every (repeat, cell, side), then the open-loop sweep if the plan has one, with the
    plan's network paths set up around it (and removed however it ends); 0 if all succeeded,
    1 if any failed, 130 if interrupted."""
    stop_on_sigterm()
    try:
        with network_paths(plan.networks) as paths:
            return run_schedule(plan, replace(pinning, paths=paths), sides, quiet)
    except KeyboardInterrupt:  # while the paths were being set up: nothing ran yet
        print("bench: interrupted", file=sys.stderr)
        return INTERRUPTED


def run_schedule(plan: Plan, pinning: Pinning, sides: list[Side], quiet: bool) -> int:
    """The session's runs and points, with progress; Ctrl-C or SIGTERM saves what is done."""
    schedule = interleave(plan, sides)
    sweep = (
        f", then an open-loop sweep of a {plan.ladder_length}-load ladder and a knee search per cell"
        if plan.rates
        else ""
    )
    print(
        f"{len(plan.cells)} cells x {plan.repeats} repeats x {len(sides)} side(s) = {len(schedule)} runs{sweep}, "
        f"about {plan.estimated_seconds() * len(sides) / 60:.1f} min; pinned {pinning}"
        + "".join(
            f"; {path} between namespaces {h.client_namespace} and {h.server_namespace}"
            for path, h in pinning.paths.items()
        ),
        file=sys.stderr,
    )
    # Progress in estimated seconds, so the bar's ETA is honest for runs and points alike.
    progress = tqdm(
        total=plan.estimated_seconds() * len(sides),
        disable=quiet,
        unit="s",
        dynamic_ncols=True,
        bar_format="{l_bar}{bar}| {elapsed} elapsed, about {remaining} left{postfix}",
    )
    run_cost = plan.warmup + plan.duration + RUN_OVERHEAD_S
    try:
        for repeat, cell, side in schedule:
            if cell.name in side.results.unsupported:  # said once: its other repeats are too
                advance(progress, run_cost)
                continue
            with tempfile.TemporaryDirectory(prefix="aionetbench-") as workdir:
                outcome = run_cell(cell, plan, pinning, Path(workdir), side.python_for(cell))
            where = f"{cell.name}{f' [{side.label}]' if len(sides) > 1 else ''} (repeat {repeat})"
            if isinstance(outcome, Failure):
                record_failure(side, cell, outcome, f"{where}", progress, repeat=repeat)
            else:
                side.results.add(cell, repeat, outcome)
                side.measured.setdefault(cell.name, []).append(outcome)
                progress.set_postfix_str(f"{where} {outcome.client.rps:,.0f} req/s", refresh=False)
            advance(progress, run_cost)
        if plan.rates:
            run_sweep(plan, pinning, sides, progress)
    except KeyboardInterrupt:
        progress.close()
        stop_children()
        for side in sides:
            side.results.interrupted = True
            side.results.save()
            print(f"bench: interrupted; {saved(side.results)}", file=sys.stderr)
        return INTERRUPTED
    progress.close()
    for side in sides:
        if len(sides) > 1:
            print(f"\n{side.label} ({side.python}):")
        print(summary_table(side.measured))
        if side.points:
            print(points_table(side.points))
    failures = sum(len(side.results.failures) for side in sides)
    if failures:
        said = "; ".join(saved(side.results) for side in sides)
        print(f"bench: {failures} runs or points failed; {said}", file=sys.stderr)
        return 1
    return 0


def saved(results: ResultsFile) -> str:
    """What the results file holds, for the last line a run prints."""
    if not results.written:
        return f"no run completed, so nothing was written to {results.path}"
    return f"{results.completed} completed runs saved to {results.path}"


def record_failure(
    side: Side,
    cell: Cell,
    failure: Failure,
    where: str,
    progress: tqdm,
    repeat: int = 1,
    rate: float | None = None,
) -> None:
    """A run or point that failed, or whose server cannot run on its loop (said once per
    cell, recorded as unsupported, not as a failure)."""
    if failure.unsupported:
        if cell.name not in side.results.unsupported:
            progress.write(f"UNSUPPORTED {cell.name}: {failure.reason}", file=sys.stderr)
        side.results.add_unsupported(cell, failure.reason)
    else:
        side.results.add_failure(cell, repeat, failure, rate)
        progress.write(f"FAILED {where}: {failure.reason}", file=sys.stderr)


def sweep_ladder(plan: Plan, sides: list[Side], unit: str) -> tuple[float, ...]:
    """The plan's rates, or for `auto` a ladder from the closed-loop capacities measured so far
    of the cells whose rates count `unit` (Cell.unit: churned cells' connections/s, the
    others' messages/s); cells at a fixed load measured no capacity."""
    if plan.rates != AUTO:
        return tuple(sorted(plan.rates))
    return ladder(
        statistics.median(run.client.cps if cell.churn else run.client.rps for run in runs)
        for side in sides
        for cell in plan.cells
        if cell.unit == unit and not cell.at_rate and (runs := side.measured.get(cell.name))
    )


def run_sweep(plan: Plan, pinning: Pinning, sides: list[Side], progress: tqdm) -> None:
    """Climb the ladder cell by cell (each side in turn), each cell once per server process
    in the plan's shuffled order, recording every point."""
    ladders = {c.unit: sweep_ladder(plan, sides, c.unit) for c in plan.sweep_cells}
    point_cost = plan.point_seconds()
    if not any(ladders.values()):
        progress.write("bench: no capacity was measured, so the sweep is skipped", file=sys.stderr)
        return
    for unit, rates in ladders.items():
        progress.write(
            f"open-loop sweep ({plan.arrivals} arrivals) at {', '.join(f'{r:,.0f}' for r in rates)} {unit}",
            file=sys.stderr,
        )
    rates = ladders.get("msg/s") or next(iter(ladders.values()))
    for side in sides:
        side.results.ladder = list(rates)
    # The estimate up front assumed a typical ladder; correct it to this one, then after each
    # climb to what the climb really took.
    climbs = plan.sweep_order()
    cell_cost = SWEEP_SERVER_S + (len(rates) + KNEE_POINTS) * point_cost
    progress.total += len(climbs) * len(sides) * (len(rates) - plan.ladder_length) * point_cost
    for process, cell in climbs:
        for side in sides:
            if cell.name in side.results.unsupported:
                advance(progress, cell_cost)
                continue
            started, counted = time.monotonic(), progress.n
            with contextlib.closing(
                sweep_cell(cell, ladders[cell.unit], plan, pinning, side.python_for(cell))
            ) as points:
                for rate, outcome in points:
                    where = f"{cell.point_name(rate)}{f' [{side.label}]' if len(sides) > 1 else ''}"
                    if plan.sweep_processes > 1:
                        where += f" (server {process})"
                    if isinstance(outcome, Failure):
                        record_failure(side, cell, outcome, where, progress, rate=rate)
                    else:
                        side.results.add_point(cell, rate, outcome, process)
                        side.points.append((cell, rate, outcome))
                        progress.set_postfix_str(
                            f"{where} p99 {outcome.client.latency.p99:,.0f} us", refresh=False
                        )
                    advance(progress, min(point_cost, counted + cell_cost - progress.n))
            spent = time.monotonic() - started
            progress.total += spent - cell_cost
            progress.n = counted + spent
            progress.refresh()


def summary_table(measured: dict[str, list[Measurement]]) -> str:
    """Per cell: median req/s (min-max), median p99 and server CPU per request, warnings."""
    width = max([36, *(len(name) for name in measured)])
    lines = [
        f"{'cell':<{width}} {'req/s median (min-max)':>28} {'p99 us':>9} {'server us/req':>14}"
    ]
    for name, runs in measured.items():
        rps = [run.client.rps for run in runs]
        p99 = statistics.median(run.client.latency.p99 for run in runs)
        cpu = statistics.median(
            run.client.server.cpu_us if run.client.server else 0.0 for run in runs
        )
        bound = sum(run.client.client_bound for run in runs)
        flag = f"  client-bound in {bound}/{len(runs)}" if bound else ""
        spread = f"{statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f})"
        lines.append(f"{name:<{width}} {spread:>28} {p99:>9,.1f} {cpu:>14.2f}{flag}")
    return "\n".join(lines)


def points_table(points: list[tuple[Cell, float, Measurement]]) -> str:
    """Per open-loop point: offered and achieved load, p50/p99 and what the point can say."""
    lines = [f"{'open-loop point':<46} {'achieved/s':>11} {'p50 us':>9} {'p99 us':>10}  flags"]
    for cell, rate, run in points:
        client, latency = run.client, run.client.latency
        achieved = client.schedule.achieved_rate if client.schedule else client.rps
        lines.append(
            f"{cell.point_name(rate):<46} {achieved:>11,.0f} "
            f"{latency.p50:>9,.1f} {latency.p99:>10,.1f}  {', '.join(run.flags.names)}"
        )
    return "\n".join(lines)
