"""Expected network faults, and logging that reports them in one line instead of a traceback.

Peers reset, half-close, send garbage TLS, HTTP or WebSocket frames: a benchmark server
meets all of these and must keep serving. asyncio and the WebSocket libraries log such
faults with tracebacks; this formatter keeps the message and the exception's one-line
summary and saves full tracebacks for exceptions that really are bugs. A server module adds
its library's protocol errors with `expect_faults` when it is imported.
"""

import contextlib
import logging
import re
from collections.abc import Iterator

EXPECTED_FAULTS: tuple[type[BaseException], ...] = (OSError, EOFError)
SUMMARY_LIMIT = 300  # characters of a fault's one-line summary (a bad request can be huge)
# rloop reports a failed system call as RuntimeError("Broken pipe (os error 32)"), not OSError.
RLOOP_OS_ERROR = re.compile(r"\(os error \d+\)$")


def expect_faults(*errors: type[BaseException]) -> None:
    """Count a library's errors as faults a peer can cause (its protocol errors)."""
    global EXPECTED_FAULTS
    EXPECTED_FAULTS += errors


def is_expected_fault(error: BaseException | None) -> bool:
    """True for the faults a peer can cause (resets, TLS errors, protocol violations)."""
    if isinstance(error, RuntimeError) and RLOOP_OS_ERROR.search(str(error)):
        return True
    return isinstance(error, EXPECTED_FAULTS)


@contextlib.contextmanager
def expected_faults_ignored() -> Iterator[None]:
    """End the block quietly on a fault a peer can cause; let real bugs through."""
    try:
        yield
    except Exception as error:
        if not is_expected_fault(error):
            raise


class OneLineFaultFormatter(logging.Formatter):
    """Formats expected faults as `logger: message: ExcType: text`; other errors in full."""

    def format(self, record: logging.LogRecord) -> str:
        error = record.exc_info[1] if record.exc_info else None
        if not is_expected_fault(error):
            return super().format(record)
        summary = f"{record.name}: {record.getMessage()}: {type(error).__name__}: {error}"
        summary = summary.replace("\n", " ")
        return summary if len(summary) <= SUMMARY_LIMIT else summary[:SUMMARY_LIMIT] + "..."


def configure_logging(level: int = logging.WARNING) -> None:
    """Send warnings and errors to stderr, one line each for expected faults."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFaultFormatter("%(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
