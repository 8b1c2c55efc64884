"""An echo server (`python -m servers`) as a child process: started, ready, stopped."""

import contextlib
import json
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from aionetbench.cpus import spawn_pinned
from aionetbench.endpoints import Endpoint
from aionetbench.loops import is_loop

READY_PREFIX = "READY "
GC_REQUEST, GC_PREFIX = "gc\n", "GC "  # servers.gcwatch's request and answer
GC_REPORT_TIMEOUT_S = 2.0
ANY_LOOPBACK_PORT = Endpoint(port=0)


class ServerFailed(Exception):
    """The server did not become ready, or died; the message ends with its stderr tail."""


def server_command(
    api: str,
    *,
    loop: str = "asyncio",
    listen: Endpoint = ANY_LOOPBACK_PORT,
    tls: bool = False,
    extra_args: Sequence[str] = (),
    python: str = sys.executable,
) -> list[str]:
    """The `python -m servers` command line for one server variant (a `loop` that is no
    asyncio loop, such as the native server's `epoll`, is not passed on)."""
    command = [python, "-m", "servers", api]
    if is_loop(loop):
        command += ["--loop", loop]
    if listen.path is not None:
        command += ["--unix", listen.path]
    else:
        command += ["--host", listen.host, "--port", str(listen.port)]
    if tls:
        command.append("--tls")
    return command + list(extra_args)


class ServerProcess:
    """A running server that printed its READY line; use as a context manager so it is
    always stopped. `command` is usually `server_command(...)`; tests also run faulty ones."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        cpus: Iterable[int] | None = None,
        stderr_path: Path,
        ready_timeout: float = 15.0,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        spawn: Callable[..., Any] = spawn_pinned,
    ) -> None:
        """`spawn` starts the command: `spawn_pinned`, or what starts it on another host
        with the same arguments and returns a process driven like a `subprocess.Popen`."""
        self.command = list(command)
        self.stderr_path = stderr_path
        self.gc_silent = False  # it did not answer a GC request once: no more are sent
        with open(stderr_path, "wb") as stderr:
            try:
                self.process = spawn(
                    self.command,
                    cpus,
                    stdin=subprocess.PIPE,  # for requests (servers.gcwatch)
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    env=env,
                    cwd=cwd,
                )
            except OSError as error:
                raise ServerFailed(
                    f"cannot start {self.command[0]}: {error.strerror or error}"
                ) from None
        try:
            self.endpoint = self._wait_ready(ready_timeout)
        except BaseException:
            self.kill()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_ready(self, timeout: float) -> Endpoint:
        stdout: IO[str] = self.process.stdout  # type: ignore[assignment]
        readable, _, _ = select.select([stdout], [], [], timeout)
        if not readable:
            raise ServerFailed(f"no READY line within {timeout:g} s{self._tail_suffix()}")
        line = stdout.readline()
        if not line.startswith(READY_PREFIX):
            status = self.process.wait(timeout=5) if not line else None
            what = f"exited with status {status}" if status is not None else f"printed {line!r}"
            raise ServerFailed(f"server {what} instead of READY{self._tail_suffix()}")
        return Endpoint.parse(line.removeprefix(READY_PREFIX).strip())

    def gc_report(self, timeout: float = GC_REPORT_TIMEOUT_S) -> dict | None:
        """What the server's garbage collector did since the last request (servers.gcwatch),
        or None if the server does not answer (the native one has no collector; a suite from
        before the watch, as `bench ab` may run, does not know the request): it is then not
        asked again."""
        stdin, stdout = self.process.stdin, self.process.stdout
        if stdin is None or stdout is None or self.process.poll() is not None or self.gc_silent:
            return None
        try:
            stdin.write(GC_REQUEST)
            stdin.flush()
        except OSError:
            return None
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([stdout], [], [], left)[0]:
                break
            line = stdout.readline()
            if not line:
                break
            if line.startswith(GC_PREFIX):
                return json.loads(line.removeprefix(GC_PREFIX))
        self.gc_silent = True
        return None

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stderr_tail(self, lines: int = 10) -> str:
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    def _tail_suffix(self) -> str:
        tail = self.stderr_tail()
        return f"; stderr: {tail}" if tail else ""

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 5.0) -> tuple[int, float]:
        """Signal the server and wait; returns (exit status, seconds it took to exit)."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signum)
            self.process.send_signal(signal.SIGCONT)  # a stopped server takes it now
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe:
                with contextlib.suppress(OSError):
                    pipe.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self.kill()
