"""The one exception type for faults of the user's making, and how a command reports it."""

import os
import sys
from collections.abc import Callable
from typing import NoReturn


class UsageError(Exception):
    """Bad input (port in use, missing loop, unusable path): one line on stderr, exit status 2."""


class Fault(Exception):
    """A fault of the machine's, not the user's input (a full disk): one line, exit status 1."""


# How a server's one-line error begins when its loop lacks what the API needs: the
# orchestrator records such a cell as unsupported, not failed.
UNSUPPORTED = "unsupported: "


def exit_with(prog: str, error: BaseException | str, status: int = 2) -> NoReturn:
    """Print `prog: error` as one line on stderr and exit."""
    print(f"{prog}: {error}", file=sys.stderr, flush=True)
    sys.exit(status)


def run_command(prog: str, main: Callable[[], int | None]) -> NoReturn:
    """Run a command's main function, turning a UsageError into a one-line message and exit 2
    (Ctrl-C: one line and exit 130)."""
    try:
        status = main()
    except UsageError as error:
        exit_with(prog, error)
    except Fault as error:
        exit_with(prog, error, 1)
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's status for it, no traceback
        exit_with(prog, "interrupted", 130)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    sys.exit(status or 0)
