"""Servers a test starts (the suite's own, and tests/helpers/faulty_server.py): stopped at the
test's end, and the test failed on any traceback one printed."""

import sys
from collections.abc import Callable
from pathlib import Path

from aionetbench.serverproc import ServerProcess

FAULTY_SERVER = str(Path(__file__).with_name("faulty_server.py"))

StartServer = Callable[..., ServerProcess]


class ServerPool:
    """Servers started by one test; `stop_all` stops them and fails on any traceback."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[ServerProcess] = []

    def start(self, command: list[str], env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(
            command, stderr_path=self.directory / f"server{len(self.started)}.err", env=env
        )
        self.started.append(server)
        return server

    def start_faulty(self, *args: str) -> ServerProcess:
        """Start tests/helpers/faulty_server.py, an echo server that misbehaves on purpose."""
        return self.start([sys.executable, FAULTY_SERVER, *args])

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()
            server.kill()
            assert "Traceback" not in server.stderr_text(), server.stderr_text()
