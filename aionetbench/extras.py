"""`python -m aionetbench.extras`: install the optional loops and layers into this interpreter.

Each comes from a wheel where one exists for this Python and machine, and is never built
from source (rsloop's source needs a nightly Rust; a failed build would stop `make`). One
that has none is one line, and its cells are unsupported rather than failed: the servers
say so when asked to run on it (aionetbench.loops.LoopUnavailable).
"""

import argparse
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

from aionetbench.errors import run_command
from aionetbench.loops import LOOPS, Loop


def optional_loops() -> list[Loop]:
    """One registered loop per optional distribution, in the registry's order."""
    by_package: dict[str, Loop] = {}
    for loop in LOOPS.values():
        if loop.optional:
            by_package.setdefault(loop.package, loop)
    return list(by_package.values())


def install(loop: Loop, pip_options: list[str]) -> str | None:
    """Install `loop`'s distribution from a wheel; None when it is there, else one line."""
    try:
        version(loop.package)
        return None
    except PackageNotFoundError:
        pass
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--only-binary", ":all:", *pip_options, loop.package]
    if subprocess.run(command, capture_output=True, timeout=600).returncode == 0:
        return None
    return f"{loop.package}: no wheel for this Python and machine ({loop.wheels}): its cells are unsupported"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aionetbench.extras", description=__doc__)
    parser.add_argument("--find-links", metavar="DIR", help="install offline from these wheels")
    args = parser.parse_args(argv)
    pip_options = ["--no-index", "--find-links", args.find_links] if args.find_links else []
    for loop in optional_loops():
        line = install(loop, pip_options)
        if line:
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    run_command("extras", main)
