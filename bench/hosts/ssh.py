"""SSH to the hosts, for a synchronous orchestrator: asyncssh on an event loop of its own
thread, and remote processes that look like `subprocess.Popen` (real pipes to select on), so
the code that drives local servers and load generators drives remote ones unchanged.

Authentication is what OpenSSH would use: the agent, the default key files, ~/.ssh/config,
and ~/.ssh/known_hosts, always checked. No password or keyboard prompt: a benchmark waits
for nobody.
"""

import asyncio
import contextlib
import errno
import io
import json
import os
import queue
import select
import signal
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from cryptography.utils import CryptographyDeprecationWarning

with warnings.catch_warnings():
    # asyncssh still names DSA in its type hints, which cryptography >= 47 deprecates on
    # import: the libraries' business, not a line for the user of `bench hosts`.
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    import asyncssh

from aionetbench.errors import UsageError
from bench.hosts.address import HostAddress, remote_command, sftp_path

CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 2.0  # a silent peer is given up after three of these
LOST_STATUS = 255  # what OpenSSH's client exits with when the connection is lost
REMOTE_PYTHON = ".venv/bin/python"  # in the suite's directory on every host
AGENT = ("-m", "aionetbench.agent")
REPLY_TIMEOUT_S = 5.0
UNREACHABLE = (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN)


class HostError(UsageError):
    """A host cannot be reached or used: one line naming it."""


class SshLoop:
    """One event loop in a daemon thread that every SSH connection of the run lives on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True, name="ssh").start()

    def call(self, coroutine: Coroutine, timeout: float | None = None) -> Any:
        """Run `coroutine` on the loop and wait for its result here."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def soon(self, function: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(function, *args)


def connection_error(address: HostAddress, error: BaseException) -> HostError:
    """The one line for a failed connection: what failed, in the user's terms."""
    where = str(address)
    if isinstance(error, asyncssh.HostKeyNotVerifiable):
        return HostError(
            f"{where}: host key not verified (unknown or changed; check ~/.ssh/known_hosts, "
            "or connect once with ssh to accept it)"
        )
    if isinstance(error, asyncssh.PermissionDenied):
        return HostError(
            f"{where}: authentication failed (key or agent only, no passwords; is your key "
            "in the host's authorized_keys?)"
        )
    if isinstance(error, socket.gaierror):
        return HostError(f"{where}: unknown host ({error.strerror})")
    if isinstance(error, ConnectionRefusedError):
        return HostError(f"{where}: connection refused (no sshd on that port?)")
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return HostError(f"{where}: no answer within {CONNECT_TIMEOUT_S:g} s (unreachable?)")
    if isinstance(error, OSError):
        reason = os.strerror(error.errno) if error.errno else str(error)
        return HostError(f"{where}: unreachable ({reason})" if error.errno in UNREACHABLE
                         else f"{where}: {reason}")  # fmt: skip
    reason = getattr(error, "reason", "") or str(error) or type(error).__name__
    return HostError(f"{where}: ssh: {reason}")


class Host:
    """One host: its address, the suite's directory on it, and a connection made when first
    needed and again after it was lost."""

    def __init__(self, address: HostAddress, directory: str, ssh: SshLoop) -> None:
        self.address, self.directory, self.ssh = address, directory, ssh
        self.connection: asyncssh.SSHClientConnection | None = None

    def __str__(self) -> str:
        return str(self.address)

    def connect(self) -> asyncssh.SSHClientConnection:
        if self.connection is None or self.connection.is_closed():
            self.connection = self.ssh.call(self._connect())
        return self.connection

    async def _connect(self) -> asyncssh.SSHClientConnection:
        options: dict[str, Any] = {"port": self.address.port} if self.address.port else {}
        if self.address.user:
            options["username"] = self.address.user
        try:
            return await asyncssh.connect(
                self.address.host,
                password_auth=False,
                kbdint_auth=False,
                connect_timeout=CONNECT_TIMEOUT_S,
                keepalive_interval=KEEPALIVE_S,
                keepalive_count_max=3,
                **options,
            )
        except (TimeoutError, OSError, asyncssh.Error) as error:
            raise connection_error(self.address, error) from None

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> tuple[int, str, str]:
        """Run `argv` in the suite's directory to its end: (exit status, stdout, stderr)."""
        return self.run_line(remote_command(self.directory, argv), timeout)

    def run_line(self, line: str, timeout: float = 60.0) -> tuple[int, str, str]:
        """Run a shell line (its words already quoted) to its end, as `run`."""
        connection = self.connect()

        async def run() -> tuple[int, str, str]:
            done = await connection.run(line, timeout=timeout)
            status = LOST_STATUS if done.exit_status is None else done.exit_status
            return status, str(done.stdout or ""), str(done.stderr or "")

        try:
            return self.ssh.call(run())
        except (TimeoutError, OSError, asyncssh.Error) as error:
            raise connection_error(self.address, error) from None

    def put(self, local: Path, remote: str) -> None:
        """Copy one file to the host over SFTP (`remote` relative to the remote home)."""
        connection = self.connect()

        async def put() -> None:
            async with connection.start_sftp_client() as sftp:
                await sftp.put(str(local), sftp_path(remote))

        try:
            self.ssh.call(put())
        except (TimeoutError, OSError, asyncssh.Error) as error:
            raise connection_error(self.address, error) from None

    def start(self, argv: Sequence[str], cpus: set[int] | None, stderr_path: Path,
              warm: bool = False) -> "RemoteProcess":  # fmt: skip
        """Start `argv` on the host under the suite's watchdog (aionetbench.agent), pinned
        to `cpus` of the host; it ends when it exits or when this connection is lost."""
        watch = [REMOTE_PYTHON, *AGENT, "watch"]
        if cpus:
            watch += ["--cpus", ",".join(map(str, sorted(cpus)))]
        if warm:
            watch.append("--warm")
        connection = self.connect()
        command = remote_command(self.directory, [*watch, "--", *argv])

        async def create() -> asyncssh.SSHClientProcess:
            return await connection.create_process(command)

        try:
            process = self.ssh.call(create(), CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError, asyncssh.Error) as error:
            raise connection_error(self.address, error) from None
        return RemoteProcess(self, process, stderr_path)


class ChannelWriter:
    """The remote process's stdin as a file the caller writes lines to."""

    def __init__(self, ssh: SshLoop, process: asyncssh.SSHClientProcess) -> None:
        self.ssh, self.process, self.closed = ssh, process, False

    def write(self, text: str) -> int:
        if self.closed:
            raise OSError("the remote process's input is closed")
        self.ssh.soon(self._write, text)
        return len(text)

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self.process.stdin.write(text)

    def flush(self) -> None:
        pass  # written by the loop as soon as it runs

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.ssh.soon(self._close)

    def _close(self) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            self.process.stdin.write_eof()


class RemoteProcess:
    """A process on a host, driven like a local `subprocess.Popen` (text mode): `stdout` is
    a real pipe (buffered without bound on the loop's side, so a long reply never blocks
    the loop), stderr goes to `stderr_path`, signals travel as requests to the watchdog."""

    def __init__(self, host: Host, process: asyncssh.SSHClientProcess, stderr_path: Path) -> None:
        self.host, self.ssh, self.stderr_path = host, host.ssh, stderr_path
        self.pid = 0
        self.returncode: int | None = None
        self.lost = False  # the connection ended before the process did
        self.stdin = ChannelWriter(self.ssh, process)
        read_end, self._write_end = os.pipe()
        self.stdout = open(read_end, encoding="utf-8", errors="replace")  # noqa: SIM115
        self._replies: queue.Queue[str] = queue.Queue()
        self._ended = threading.Event()
        self._started = threading.Event()
        self.ssh.call(self._pump(process, stderr_path), REPLY_TIMEOUT_S)
        if not self._started.wait(REPLY_TIMEOUT_S) or not self.pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(REPLY_TIMEOUT_S)
            self.stdout.close()
            if self.lost:  # the connection went while the agent was starting
                raise HostError(f"ssh connection to {host} lost as the suite's agent started")
            raise HostError(
                f"{host}: the suite's agent did not start ({self.stderr_of(stderr_path)})"
            )

    @staticmethod
    def stderr_of(path: Path) -> str:
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        return lines[-1] if lines else "no output: is the suite set up there? bench hosts setup"

    async def _pump(self, process: asyncssh.SSHClientProcess, stderr_path: Path) -> None:
        loop = asyncio.get_running_loop()
        out, _ = await loop.connect_write_pipe(asyncio.Protocol, open(self._write_end, "wb", 0))  # noqa: SIM115
        self._tasks = (
            loop.create_task(self._relay(process, out)),
            loop.create_task(self._copy_stderr(process, stderr_path)),
        )

    async def _relay(self, process: asyncssh.SSHClientProcess, out: asyncio.WriteTransport) -> None:
        try:
            async for line in process.stdout:
                if line.startswith("@pid "):
                    self.pid = int(line.split()[1])
                    self._started.set()
                elif line.startswith("@usage "):
                    self._replies.put(line.removeprefix("@usage "))
                else:
                    out.write(line.encode())
        except (OSError, asyncssh.Error):
            pass
        finally:
            out.close()
            self._started.set()
            try:
                status = (await process.wait(check=False)).exit_status
            except (OSError, asyncssh.Error):
                status = None
            self.lost = status is None or status == -1
            self.returncode = LOST_STATUS if self.lost else status
            self._ended.set()

    async def _copy_stderr(self, process: asyncssh.SSHClientProcess, path: Path) -> None:
        with (
            open(path, "a", encoding="utf-8") as stderr,
            contextlib.suppress(OSError, asyncssh.Error),
        ):
            async for line in process.stderr:
                stderr.write(line)
                stderr.flush()

    @property
    def stderr(self) -> io.StringIO:
        """What the process wrote to stderr so far, as a file to read."""
        text = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return io.StringIO(text)

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        """Its output to the end, once it exited (as `Popen.communicate`, stdout only)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = []
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if (left is not None and left <= 0) or not select.select([self.stdout], [], [], left)[
                0
            ]:
                raise subprocess.TimeoutExpired("remote process", timeout or 0)
            if not (chunk := self.stdout.readline()):
                break
            chunks.append(chunk)
        self.wait(None if deadline is None else max(0.1, deadline - time.monotonic()))
        return "".join(chunks), None

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired("remote process", timeout or 0)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(OSError):
                self.stdin.write(f"@signal {int(signum)}\n")

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def usage(self) -> dict | None:
        """The process's CPU, switches, CPU wait, peak RSS and the host's monotonic clock
        (aionetbench.agent); None if it does not answer."""
        if self.returncode is not None:
            return None
        self.stdin.write("@usage\n")
        try:
            return json.loads(self._replies.get(timeout=REPLY_TIMEOUT_S))
        except (queue.Empty, ValueError):
            return None
