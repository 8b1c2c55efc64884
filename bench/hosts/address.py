"""A host as the user names it, `[USER@]HOST[:PORT]`, and how the suite reaches it."""

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from aionetbench.errors import UsageError

DEFAULT_DIR = "aionetbench"  # where `bench hosts setup` puts the suite, under the remote home


@dataclass(frozen=True)
class HostAddress:
    """One host: user and port as given (None: what ~/.ssh/config or OpenSSH would use)."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> "HostAddress":
        """`HOST`, `USER@HOST`, `HOST:PORT`, `[IPV6]:PORT`; UsageError if it is none of them."""
        user, _, rest = text.rpartition("@") if "@" in text else (None, "", text)
        port: str | None = None
        if rest.startswith("["):
            host, bracket, after = rest[1:].partition("]")
            if not bracket or (after and not after.startswith(":")):
                raise UsageError(f"bad host {text!r}: expected [USER@]HOST[:PORT]")
            port = after[1:] or None
        elif rest.count(":") == 1:
            host, _, port = rest.partition(":")
        else:
            host = rest  # a bare IPv6 address has no port
        if not host or (user is not None and not user) or (port is not None and not port.isdigit()):
            raise UsageError(f"bad host {text!r}: expected [USER@]HOST[:PORT]")
        if port is not None and not 0 < int(port) < 65536:
            raise UsageError(f"bad host {text!r}: port {port} is out of range")
        return cls(host, user, int(port) if port else None)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and self.port else self.host
        return f"{self.user + '@' if self.user else ''}{host}{f':{self.port}' if self.port else ''}"


def remote_path(directory: str) -> str:
    """`directory` quoted for the remote shell, so names with spaces or `;` stay one word;
    one starting with `~/` is under the remote home (the shell expands only an unquoted ~)."""
    if directory == "~" or directory.startswith("~/"):
        return "~/" + shlex.quote(directory[2:]) if directory[2:] else "~"
    return shlex.quote(directory)


def sftp_path(path: str) -> str:
    """`path` as SFTP takes it: relative paths are under the remote home."""
    return path[2:] if path.startswith("~/") else path


def remote_command(directory: str, argv: Sequence[str]) -> str:
    """The shell line that runs `argv` in `directory` on a host, every word quoted."""
    return f"cd {remote_path(directory)} && exec {shlex.join(argv)}"
