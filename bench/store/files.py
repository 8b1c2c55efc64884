"""Results files on disk: where one may be written, and writing it whole or not at all."""

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pyperf

from aionetbench.errors import Fault, UsageError
from bench.store.schema import SECTION

WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def results_target(path: Path) -> Path:
    """Where a results file at `path` is written: the file itself, or the file a symlink
    names (the link is kept). UsageError, one line, for anything that is not a regular
    file or nothing yet (a device, a pipe, a directory): those are never written over."""
    try:
        mode = os.stat(path).st_mode  # through symlinks: /dev/stdout is a pipe or a tty
    except FileNotFoundError:
        return Path(os.path.realpath(path))
    except OSError as error:
        raise UsageError(f"cannot write results to {path}: {error.strerror or error}") from None
    if not stat.S_ISREG(mode):
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise UsageError(f"{path} is {what}: results go to a regular file (or a new one)")
    return Path(os.path.realpath(path))


def check_writable(path: Path, force: bool = False) -> None:
    """Before anything is measured: UsageError, one line, if results cannot be written at
    `path` (not a regular file, or a directory this user cannot create or write to), or if
    it is a file someone made read-only and `force` does not say to replace it."""
    target = results_target(path)
    if not force and target.is_file() and not target.stat().st_mode & WRITE_BITS:
        raise UsageError(f"{path} is read-only: --force replaces it")
    probe = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"cannot write results to {path}: {error.strerror or error}") from None


def write_suite(path: Path, benchmarks: list[pyperf.Benchmark], section: dict[str, Any]) -> bool:
    """Write benchmarks plus our section atomically: a crash, a full disk or Ctrl-C never
    leaves half a file (nor the temporary one), and only a regular file is ever replaced
    (`results_target`). With no benchmark there is nothing pyperf could read: nothing is
    written and False returned. A write that fails is a Fault, one line: the file keeps
    what the last write that succeeded put there."""
    if not benchmarks:
        return False
    text = io.StringIO()
    pyperf.BenchmarkSuite(benchmarks).dump(text)
    data = json.loads(text.getvalue())
    data[SECTION] = section
    target = results_target(path)
    temporary = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(data, sort_keys=True) + "\n")
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        kept = "it keeps what was saved before" if target.exists() else "nothing was saved"
        raise Fault(f"cannot write results to {path}: {error.strerror or error} ({kept})") from None
    return True


def read_suite(path: Path) -> tuple[list[pyperf.Benchmark], dict[str, Any]]:
    """A results file's benchmarks and our section (both empty if there is no file yet)."""
    if not path.is_file():
        return [], {}
    data = json.loads(path.read_text())
    benchmarks = (
        pyperf.BenchmarkSuite.load(str(path)).get_benchmarks() if data.get("benchmarks") else []
    )
    return benchmarks, data.get(SECTION, {})
