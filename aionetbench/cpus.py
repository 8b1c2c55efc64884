"""CPU pinning: the server gets one CPU, the load generator the others."""

import contextlib
import ctypes
import errno
import os
import signal
import subprocess
from collections.abc import Callable, Iterable, Sequence

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def split_cpus(server_cpus: int = 1) -> tuple[set[int], set[int]]:
    """Split the CPUs this process may use: the first `server_cpus` for the server, the rest
    for the load generator (on a 2-core machine: CPU 0 and CPU 1)."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) <= server_cpus:
        raise ValueError(f"need more than {server_cpus} CPU(s) to pin server and client apart")
    return set(available[:server_cpus]), set(available[server_cpus:])


def dying_with(parent: int, cpus: set[int] | None = None) -> Callable[[], None]:
    """For `preexec_fn`: the child is killed when the thread that started it ends, however
    it ends (kill -9 included): nothing the orchestrator starts outlives it. The kernel's
    parent-death signal; if the parent is already gone by then, the child ends at once. With
    `cpus`, the child is pinned to them before it runs anything."""

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: nothing loads after fork

    def arrange() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    return arrange


def spawn_pinned(
    command: Sequence[str], cpus: Iterable[int] | None, **popen: object
) -> subprocess.Popen:
    """Start `command` pinned to `cpus` from its first instruction (and the processes it
    starts later); it dies with this process (`dying_with`).

    Pinned in the child before it runs the command, as `taskset` does: pinned from outside
    once started, it first ran its start-up on whichever CPU, the load generator's included.

    It runs in a session of its own, so a Ctrl-C at the terminal reaches only the process
    that started it, which stops its children itself and says it was interrupted, instead
    of seeing them die first and reporting their deaths as failures."""
    pinned = None if cpus is None else set(cpus)
    try:
        return subprocess.Popen(  # type: ignore[call-overload]
            command, start_new_session=True, preexec_fn=dying_with(os.getpid(), pinned), **popen
        )
    except subprocess.SubprocessError:  # the child could not pin itself
        raise OSError(errno.EINVAL, f"cannot run on CPUs {sorted(pinned or ())}") from None


def stop_children() -> None:
    """Kill every process this one started that is still running, and their children.

    After Ctrl-C or SIGTERM: a child started in its own session (see `spawn_pinned`) does
    not get the terminal's signal, and one whose start the interrupt cut short (between
    the fork and the Popen object) has no one else to stop it."""
    import psutil  # the orchestrator's dependency, not the servers'

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=5)
