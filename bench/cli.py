"""`python -m bench`: hand a command to the wing of `bench/` that carries it out.

Each wing's `commands` module holds its commands' arguments and handlers (`COMMANDS`); this
module knows only their names, so a command loads its own wing and nothing else: `bench
report` never imports the measuring code, nor its dependencies.
"""

import argparse
import importlib
import sys

from aionetbench.errors import run_command

# Command -> (the module that carries it out, one line for `--help`), in `--help`'s order.
COMMANDS = {
    "run": ("bench.measure.commands", "run a matrix and record pyperf results"),
    "ab": (
        "bench.gate.commands",
        "measure a base and a new server environment interleaved, then compare them",
    ),
    "ci": (
        "bench.gate.commands",
        "the CI regression gate: measure the smoke profile, count instructions, compare",
    ),
    "list": ("bench.measure.commands", "show the profiles, their cells and estimated durations"),
    "count": (
        "bench.measure.commands",
        "count a server's user-space instructions per request under valgrind",
    ),
    "explain": (
        "bench.measure.commands",
        "per-request costs behind each result: system calls, loop passes, CPU, memory",
    ),
    "hosts": (
        "bench.hosts.commands",
        "check other hosts, or set them up, to run servers and load generators over SSH",
    ),
    "system": (
        "bench.measure.commands",
        "check what on this machine may interfere with a run, and what to tune",
    ),
    "report": ("bench.report.commands", "write a Markdown report and plots from a results file"),
    "history": ("bench.report.commands", "plot each benchmark's trend over a directory of results"),
    "export": ("bench.report.commands", "convert results for github-action-benchmark or Bencher"),
    "compare": (
        "bench.report.commands",
        "compare results files; exit 1 on a significant regression",
    ),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Every command is listed; only the one asked for loads its wing and its arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark asyncio networking APIs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((word for word in argv if not word.startswith("-")), None)
    for name, (module, summary) in COMMANDS.items():
        command = commands.add_parser(name, help=summary)
        if name == wanted:
            add_arguments, handler = importlib.import_module(module).COMMANDS[name]
            add_arguments(command)
            command.set_defaults(handler=handler)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    run_command("bench", lambda: args.handler(args))
