"""The native load generator: the same contract as `python -m clients` (a LoadSpec's
arguments in, the Summary's JSON out), with the hot path in C.

`load.c` (built by `make native` beside this file) is one worker: one thread, epoll,
non-blocking sockets, the Python client's verification, schedule and warm-up rules, and
latencies counted in HdrHistogram's buckets. `workers` starts one per `--workers`, releases
them together and reads back what each measured; `clients.result` merges those windows
exactly as it merges the Python workers'. TLS goes through OpenSSL where `make native` found
it; a build without it leaves TLS loads to the Python client (`Generator.can`).
"""

import functools
import os
import subprocess
import sys
from pathlib import Path

from clients.contract import Generator

BINARY = Path(__file__).with_name("load")


def native_generator(python: str = sys.executable) -> Generator | None:
    """The native load generator, or None when it is not built (no C compiler)."""
    if not os.access(BINARY, os.X_OK):
        return None
    return Generator(
        "native", (python, "-m", "clients.native"), tls=built_with_tls(), workloads=True
    )


@functools.cache
def built_with_tls() -> bool:
    """Whether `make native` built the worker with OpenSSL (`load --features`)."""
    try:
        said = subprocess.run([BINARY, "--features"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "tls" in said.stdout.split()
