"""What a test's processes left behind, read from /proc without tripping over processes that
end while they are read."""

from collections.abc import Iterable

import psutil


def still_running(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    """Those of `processes` that are running (neither gone nor a zombie)."""
    running = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.Error:
            continue
    return running


def descendants(pid: int) -> dict[psutil.Process, list[str]]:
    """Every running process under `pid`, with its command line."""
    found = {}
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return {}
    for child in still_running(children):
        try:
            found[child] = child.cmdline()
        except psutil.Error:
            continue
    return found
