"""Expected network faults, and logging that reports them in one line instead of a traceback.

Peers reset, half-close, send garbage TLS or broken WebSocket frames: a benchmark server
meets all of these and must keep serving. asyncio and websockets log such faults with
tracebacks; this formatter keeps the message and the exception's one-line summary and saves
full tracebacks for exceptions that really are bugs.
"""

import logging

from websockets.exceptions import WebSocketException

EXPECTED_FAULTS: tuple[type[BaseException], ...] = (OSError, EOFError, WebSocketException)


def is_expected_fault(error: BaseException | None) -> bool:
    """True for the faults a peer can cause (resets, TLS errors, protocol violations)."""
    return isinstance(error, EXPECTED_FAULTS)


class OneLineFaultFormatter(logging.Formatter):
    """Formats expected faults as `logger: message: ExcType: text`; other errors in full."""

    def format(self, record: logging.LogRecord) -> str:
        error = record.exc_info[1] if record.exc_info else None
        if not is_expected_fault(error):
            return super().format(record)
        summary = f"{record.name}: {record.getMessage()}: {type(error).__name__}: {error}"
        return summary.replace("\n", " ")


def configure_logging(level: int = logging.WARNING) -> None:
    """Send warnings and errors to stderr, one line each for expected faults."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFaultFormatter("%(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
