"""A C epoll echo server, the kernel floor: the reference every Python API is measured against.

Not an asyncio server, so it has no `serve()`: `python -m servers native` binds the listener
like every variant, then `exec_server` replaces the Python process with the compiled
program (`echo.c` beside this file, built by `make native`), which inherits the socket. The
server's PID stays the same, so pinning, CPU time and strace see the C process.
"""

import os
import socket
from typing import NoReturn

from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError
from servers import NATIVE_BINARY


def exec_server(listener: socket.socket, endpoint: Endpoint) -> NoReturn:
    """Replace this process with the native server, serving on `listener`."""
    if not os.access(NATIVE_BINARY, os.X_OK):
        raise UsageError("the native server is not built: run `make native` (needs a C compiler)")
    listener.set_inheritable(True)
    arguments = [
        str(NATIVE_BINARY),
        str(listener.fileno()),
        f"READY {Endpoint.of_listener(listener)}",
    ]
    if endpoint.path is not None:
        arguments.append(endpoint.path)  # it removes the socket file when it exits
    os.execv(NATIVE_BINARY, arguments)
