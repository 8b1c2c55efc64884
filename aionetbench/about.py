"""What a server runs on: its interpreter, and the libraries it would import, as it sees them.

`python -m servers --about` prints this as one JSON object, so that results record the
server's own Python (not the orchestrator's) even when servers run on another interpreter.
"""

import platform
import sys
import sysconfig
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aionetbench.loops import packages

# The loops' and layers' distributions (from their registry), then the servers' libraries.
LIBRARIES = (*packages(), "websockets", "aiohttp", "picows", "trustme")


def about() -> dict[str, Any]:
    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "free_threading": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
        "libraries": {name: installed(name) for name in LIBRARIES},
    }
