"""Server interpreters: find a Python by version, give it an environment, ask what it runs.

A version such as `3.12` is looked for on PATH (`python3.12`), then among pyenv's versions
(`pyenv root`/versions/3.12.*; its PATH shims expose only the global version), then among
uv's managed Pythons. Each candidate is run to check that it is that version: a pyenv shim
for a version that is not selected exists on PATH but fails. The interpreter gets its own
environment, `.venvs/3.12`, with the suite installed with the servers' dependencies and the
same constraints as `.venv` (pyproject.toml), made on first use and again when
pyproject.toml or the loops registry changes. The optional loops are added where that Python
has wheels (aionetbench.extras): uringcore runs on 3.13 only, veloxloop on 3.11-3.13. The
load generator always stays on the main environment.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aionetbench.errors import UsageError
from bench.plan.cells import version_key

REPO = Path(__file__).resolve().parents[2]
VENVS = REPO / ".venvs"
VERSION = re.compile(r"\d+\.\d+")
# The versions `found()` looks for: those pyproject.toml's requires-python admits (the
# servers use asyncio.Runner and asyncio.timeout, new in 3.11).
SUPPORTED = tuple(f"3.{minor}" for minor in range(11, 15))
STAMP = ".aionetbench-installed"
INSTALL_INPUTS = ("pyproject.toml", "aionetbench/loops.py")  # what an environment is made from


def version_of(python: str) -> str | None:
    """`3.12` for a working interpreter, None when it does not run."""
    try:
        result = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def pyenv_root() -> Path:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        if root:
            return Path(root)
    return Path.home() / ".pyenv"


def candidates(version: str) -> list[str]:
    """Where a Python `version` may be, in the order they are tried."""
    found = [shutil.which(f"python{version}") or ""]
    pythons = sorted(pyenv_root().glob(f"versions/{version}.*/bin/python{version}"), reverse=True)
    found += [str(path) for path in pythons]
    uv = Path(os.environ.get("UV_PYTHON_INSTALL_DIR", Path.home() / ".local/share/uv/python"))
    found += [
        str(path)
        for path in sorted(uv.glob(f"cpython-{version}.*/bin/python{version}"), reverse=True)
    ]
    return [path for path in found if path]


def resolve(spec: str) -> str:
    """An interpreter for a version such as `3.12`; UsageError when there is none."""
    if not VERSION.fullmatch(spec):
        raise UsageError(f"expected a Python version such as 3.12, got {spec!r}")
    for candidate in candidates(spec):
        if version_of(candidate) == spec:
            return candidate
    raise UsageError(
        f"no Python {spec} found (looked for python{spec} on PATH, in {pyenv_root()}/versions "
        "and among uv's managed Pythons)"
    )


def server_environment(version: str) -> str:
    """The python of an environment for servers on Python `version`, created and installed
    on first use; UsageError, one line, if that fails."""
    interpreter = resolve(version)
    venv = VENVS / version
    wanted = digest(interpreter, *((REPO / p).read_text() for p in INSTALL_INPUTS))
    stamp = venv / STAMP
    if stamp.exists() and stamp.read_text() == wanted:
        return str(venv / "bin" / "python")
    steps = [
        [interpreter, "-m", "venv", "--clear", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", "--editable", str(REPO)],
    ]  # fmt: skip
    extras = [str(venv / "bin" / "python"), "-m", "aionetbench.extras"]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            why = lines[-1] if lines else f"exit {result.returncode}"
            raise UsageError(f"cannot set up servers on Python {version} ({interpreter}): {why}")
    # The optional loops where this Python has wheels; one line for each that has none.
    result = subprocess.run(extras, capture_output=True, text=True, timeout=1200)
    for line in result.stdout.splitlines():
        print(f"Python {version}: {line}", file=sys.stderr)
    stamp.write_text(wanted)
    return str(venv / "bin" / "python")


def digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def describe(python: str) -> dict[str, Any]:
    """The server's own account of its interpreter and libraries (`servers --about`), run
    outside the checkout so that it imports what that environment has installed."""
    with tempfile.TemporaryDirectory() as directory:
        result = subprocess.run(
            [python, "-m", "servers", "--about"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=directory,
        )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise UsageError(f"{python} cannot run the servers: {lines[-1] if lines else 'no output'}")
    return json.loads(result.stdout)


def found() -> list[str]:
    """The supported Python versions this machine has (on PATH, in pyenv or uv's)."""
    return [v for v in SUPPORTED if any(version_of(c) == v for c in candidates(v))]


def interpreter(path: str) -> str:
    """An absolute path to a Python (children start elsewhere); symlinks kept, so a venv's
    python stays in its venv."""
    if not os.access(path, os.X_OK):
        raise UsageError(f"no such interpreter: {path}")
    return os.path.abspath(path)


def server_python(spec: str) -> str:
    """A version (`3.12`: found and given its own server environment, .venvs/3.12) or the
    path of an environment's python, used as it is (it brings its own checkout)."""
    return server_environment(spec) if VERSION.fullmatch(spec) else interpreter(spec)


def server_pythons(specs: Sequence[str]) -> dict[str, str]:
    """Version label (`3.12`) -> the python its servers run on, each found and set up before
    anything is measured. The orchestrator's own version runs on the orchestrator's
    environment, which has everything already."""
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    pythons: dict[str, str] = {}
    for spec in specs:
        python = sys.executable if spec == own else server_python(spec)
        label = spec if VERSION.fullmatch(spec) else version_of(python)
        if label is None:
            raise UsageError(f"{python} does not run")
        if label in pythons:
            raise UsageError(f"Python {label} is given twice ({pythons[label]} and {python})")
        pythons[label] = python
    return dict(sorted(pythons.items(), key=lambda item: version_key(item[0])))
