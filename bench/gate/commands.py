"""`bench ab` and `bench ci`: measure, then decide like `bench compare` and exit like it."""

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aionetbench.errors import UsageError
from bench.measure.options import add_plan_options, checked_plan, pinning_from
from bench.measure.pythons import describe, interpreter, server_python
from bench.measure.session import Side, run_session
from bench.report.commands import add_gate_options, command_compare
from bench.store.files import check_writable
from bench.store.reader import load_suite
from bench.store.writer import ResultsFile, suite_commit

# What `bench ci` counts with valgrind: (API, loop); small enough to cost ~20 s per environment.
COUNTED = (("protocol", "asyncio"),)


def ab_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run every cell alternately with servers on the base and the new Python (each with "
        "aionetbench and its own uvloop, websockets... installed); the load generator stays "
        "this one. Writes DIR/base.json and DIR/new.json, compares them like `compare` and "
        "exits like it. Measuring both in one job, interleaved, is the reliable baseline on "
        "shared CI machines."
    )
    add_plan_options(parser, Path("results/ab"))
    parser.add_argument(
        "--base-python",
        required=True,
        metavar="VERSION|PATH",
        help="the base servers' Python: a version such as 3.12 (found on PATH, in pyenv or uv, "
        "and given its own environment in .venvs/) or an environment's python",
    )
    parser.add_argument(
        "--new-python", default=sys.executable, metavar="VERSION|PATH", help="default: this one"
    )
    add_gate_options(parser)


def command_ab(args: argparse.Namespace) -> int:
    status, args.base, new = measure_ab(args, args.base_python, args.new_python)
    if status != 0:
        return status
    args.new = [new]
    return command_compare(args)


def measure_ab(
    args: argparse.Namespace, base_python: str, new_python: str
) -> tuple[int, Path, Path]:
    """Run the plan with servers on both interpreters, interleaved; (status, base, new files)."""
    plan, pinning = checked_plan(args), pinning_from(args)
    pythons = {"base": server_python(base_python), "new": server_python(new_python)}
    sides = []
    for label, python in pythons.items():
        path = args.output / f"{label}.json"
        check_writable(path, args.force)
        results = ResultsFile(
            path,
            plan,
            str(pinning),
            args.profile,
            {"": describe(python)},
            pinning.clients.preferred.name,
        )
        sides.append(Side(label, python, results))
    print(f"writing {args.output}/base.json and new.json", file=sys.stderr)
    status = run_session(plan, pinning, sides, args.quiet)
    return status, sides[0].results.path, sides[1].results.path


def ci_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Measure (default: the smoke profile), add valgrind instruction counts, compare with "
        "the baseline, copy the new results into the history directory, and exit 0 (no "
        "regression), 1 (regression or failed runs) or 2 (bad input). The baseline is either "
        "a stored results file (--baseline) or, better on shared machines, a second "
        "environment measured interleaved in the same job (--base-python)."
    )
    add_plan_options(parser, Path("results/ci"))
    parser.set_defaults(profile="smoke")
    baseline = parser.add_mutually_exclusive_group()
    baseline.add_argument("--baseline", type=Path, metavar="FILE", help="a stored results file")
    baseline.add_argument(
        "--base-python", metavar="PATH", help="measure this environment's servers too"
    )
    parser.add_argument(
        "--no-count", dest="count", action="store_false", help="skip valgrind counts"
    )
    parser.add_argument(
        "--history", type=Path, default=Path("results/history"), help="default %(default)s"
    )
    add_gate_options(parser)


def command_ci(args: argparse.Namespace) -> int:
    """The regression gate: measure, count instructions, compare, keep history."""
    if bool(args.baseline) == bool(args.base_python):
        raise UsageError(
            "give exactly one baseline: --baseline FILE or --base-python PATH (see README)"
        )
    if args.baseline:
        load_suite(args.baseline)  # a bad baseline is a usage error before minutes of measuring
        plan, pinning = checked_plan(args), pinning_from(args)
        new = args.output / "new.json"
        check_writable(new, args.force)
        side = Side(
            "new",
            sys.executable,
            ResultsFile(
                new, plan, str(pinning), args.profile, client=pinning.clients.preferred.name
            ),
        )
        status, base = run_session(plan, pinning, [side], args.quiet), args.baseline
    else:
        status, base, new = measure_ab(args, args.base_python, sys.executable)
    if status != 0:
        return status
    if args.count and not counted(base, new, args.base_python):
        return 1
    args.history.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    shutil.copyfile(new, args.history / f"{stamp}-{suite_commit()}.json")
    args.base, args.new = base, [new]
    return command_compare(args)


def counted(base: Path, new: Path, base_python: str | None) -> bool:
    """Add valgrind's instruction counts to both files (and to the base only when it was
    measured here); False, with one line, if counting failed. Without valgrind: skipped."""
    from bench.measure.count import CountFailed, count_into

    if not shutil.which("valgrind"):
        print("bench: valgrind not found; instruction counts skipped", file=sys.stderr)
        return True
    try:
        if base_python:
            count_into(base, COUNTED, interpreter(base_python))
        count_into(new, COUNTED, sys.executable)
    except CountFailed as error:
        print(f"bench: counting failed: {error}", file=sys.stderr)
        return False
    return True


# Command -> (its arguments, its handler), for bench.cli.
COMMANDS: dict[str, tuple[Callable, Callable]] = {
    "ab": (ab_arguments, command_ab),
    "ci": (ci_arguments, command_ci),
}
