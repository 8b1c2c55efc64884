"""A server process's own view of a connection, read from outside: its socket for that
connection borrowed with pidfd_getfd (Linux 5.6; a parent may borrow from its child)."""

import ctypes
import os
import socket
import time

PIDFD_OPEN, PIDFD_GETFD = 434, 438  # x86-64 and arm64 system call numbers
LIBC = ctypes.CDLL(None, use_errno=True)


def peer_socket_option(pid: int, peer: tuple[str, int], level: int, option: int) -> int | None:
    """`getsockopt(level, option)` on process `pid`'s socket connected to `peer`, waiting up
    to two seconds for the server to accept it; None if it never does."""
    pidfd = LIBC.syscall(PIDFD_OPEN, pid, 0)
    if pidfd < 0:
        raise OSError(ctypes.get_errno(), "pidfd_open")
    try:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                value = option_if_peer(pidfd, int(fd), peer, level, option)
                if value is not None:
                    return value
            time.sleep(0.02)
        return None
    finally:
        os.close(pidfd)


def option_if_peer(
    pidfd: int, fd: int, peer: tuple[str, int], level: int, option: int
) -> int | None:
    borrowed = LIBC.syscall(PIDFD_GETFD, pidfd, fd, 0)
    if borrowed < 0:
        return None  # closed meanwhile, or not ours to borrow
    try:
        with socket.socket(fileno=os.dup(borrowed)) as sock:
            if sock.type != socket.SOCK_STREAM or sock.getpeername()[:2] != peer:
                return None
            return sock.getsockopt(level, option)
    except OSError:
        return None  # not a socket, or not connected
    finally:
        os.close(borrowed)
