"""Hosts for the SSH tests: network namespaces joined by a switch, each "host" with its own
OpenSSH server, and one for the orchestrator, all on this machine and none on its network.

    orchestrator --+
    server --------+-- br0 (in the switch namespace)
    client1 -------+
    client2 -------+

Every namespace has one veth to the switch, an address in 10.214.0.0/24 and no default route.
Each `sshd` gets a fresh host key, accepts only a fresh client key (no passwords) and
listens only on its namespace's address; the orchestrator's HOME holds that key and a
known_hosts listing every host key, as OpenSSH keeps them.
"""

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # the checkout
SSHD = Path("/usr/sbin/sshd")
SUBNET = "10.214.0"
READY_TIMEOUT_S = 10.0
LABS = itertools.count()  # names each lab of a test process apart
# Not the suite's own `anb` prefix: the network-path tests check that no `anb` namespace is
# left while these run beside them.
PREFIX = "sshlab"
STALE = re.compile(rf"^{PREFIX}(\d+)-")


def skip_reason() -> str | None:
    """Why the SSH tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "the SSH tests need root (network namespaces)"
    for tool in ("ip", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"the SSH tests need {tool}"
    if not SSHD.exists():
        return "the SSH tests need OpenSSH's sshd: apt-get install openssh-server"
    return None


def remove_stale_labs() -> None:
    """The namespaces (and processes) of labs whose test process is gone (killed)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for name in (line.split()[0] for line in listed.splitlines() if line.strip()):
        if (match := STALE.match(name)) and not Path(f"/proc/{match[1]}").exists():
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                  text=True).stdout.split()  # fmt: skip
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


@dataclass
class Machine:
    """One "host": its namespace, address and sshd."""

    name: str
    namespace: str
    address: str
    sshd: subprocess.Popen | None = None

    def pids(self) -> set[int]:
        """Every process in the namespace but its sshd listener."""
        listed = subprocess.run(["ip", "netns", "pids", self.namespace], capture_output=True,
                                text=True).stdout.split()  # fmt: skip
        return {int(pid) for pid in listed} - ({self.sshd.pid} if self.sshd else set())


class SshLab:
    """The namespaces, keys and sshd's; `close()` removes all of it."""

    def __init__(
        self, tmp: Path, names: tuple[str, ...] = ("server", "client1", "client2")
    ) -> None:
        self.tmp = tmp
        remove_stale_labs()
        self.prefix = f"{PREFIX}{os.getpid()}-{next(LABS)}"
        self.switch = f"{self.prefix}-switch"
        self.home = tmp / "home"
        (self.home / ".ssh").mkdir(parents=True)
        self.key = self.home / ".ssh" / "id_ed25519"
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab", "-f", str(self.key))
        (tmp / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        self.orchestrator = Machine("orchestrator", f"{self.prefix}-orchestrator", f"{SUBNET}.1")
        self.machines = {
            name: Machine(name, f"{self.prefix}-{name}", f"{SUBNET}.{i}")
            for i, name in enumerate(names, 2)
        }
        try:
            self._network()
            for machine in self.machines.values():
                self.start_sshd(machine)
            self.trust(*self.machines.values())
        except BaseException:
            self.close()
            raise

    def _network(self) -> None:
        run("ip", "netns", "add", self.switch)
        run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.switch, "link", "set", "br0", "up")
        for i, machine in enumerate([self.orchestrator, *self.machines.values()]):
            run("ip", "netns", "add", machine.namespace)
            near, far = f"port{i}", "eth0"  # names inside the lab's own namespaces
            run("ip", "-n", self.switch, "link", "add", near, "type", "veth", "peer", "name",
                far, "netns", machine.namespace)  # fmt: skip
            run("ip", "-n", self.switch, "link", "set", near, "master", "br0", "up")
            run("ip", "-n", machine.namespace, "addr", "add", f"{machine.address}/24", "dev", far)
            run("ip", "-n", machine.namespace, "link", "set", far, "up")
            run("ip", "-n", machine.namespace, "link", "set", "lo", "up")

    def start_sshd(self, machine: Machine, port: int = 22) -> None:
        """Its own host key and config: key auth only, on the namespace's address only."""
        host_key = self.tmp / f"{machine.name}_host_key"
        if not host_key.exists():
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key))
        config = self.tmp / f"{machine.name}_sshd_config"
        config.write_text(
            f"ListenAddress {machine.address}:{port}\nHostKey {host_key}\n"
            f"AuthorizedKeysFile {self.tmp / 'authorized_keys'}\nPidFile none\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "PermitRootLogin prohibit-password\nStrictModes no\nMaxStartups 50\n"
            "Subsystem sftp internal-sftp\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation needs it
        log = open(self.tmp / f"{machine.name}_sshd.log", "ab")  # noqa: SIM115
        machine.sshd = subprocess.Popen(
            ["ip", "netns", "exec", machine.namespace, str(SSHD), "-D", "-e", "-f", str(config)],
            stderr=log,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while b"Server listening" not in (self.tmp / f"{machine.name}_sshd.log").read_bytes():
            if machine.sshd.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sshd in {machine.name} did not start: {self.sshd_log(machine)}")
            time.sleep(0.02)

    def sshd_log(self, machine: Machine) -> str:
        return (self.tmp / f"{machine.name}_sshd.log").read_text(errors="replace")

    def trust(self, *machines: Machine) -> None:
        """Put these hosts' keys in the orchestrator's known_hosts."""
        with open(self.home / ".ssh" / "known_hosts", "a") as known:
            for machine in machines:
                key = (self.tmp / f"{machine.name}_host_key.pub").read_text().split()
                known.write(f"{machine.address} {key[0]} {key[1]}\n")

    def env(self) -> dict[str, str]:
        """The orchestrator's environment: this lab's HOME (its keys and known_hosts), no
        agent of the user's, and the user's cache (the wheels `hosts setup` copies)."""
        env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return env | {"HOME": str(self.home), "XDG_CACHE_HOME": cache}

    def bench(self, *argv: str, timeout: float = 240) -> subprocess.CompletedProcess:
        """`python -m bench ARGV` in the orchestrator's namespace."""
        command = ["ip", "netns", "exec", self.orchestrator.namespace, sys.executable, "-m",
                   "bench", *argv]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=ROOT, env=self.env())  # fmt: skip

    def drop_sessions(self, machine: Machine) -> None:
        """Kill every SSH session to `machine` (its per-connection sshd's), not its listener:
        the connections are lost and new ones are accepted."""
        assert machine.sshd is not None
        for pid in machine.pids():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                continue

    def close(self) -> None:
        for machine in self.machines.values():
            if machine.sshd is not None:
                machine.sshd.kill()
                machine.sshd.wait()
            for pid in machine.pids():  # nothing may outlive the test
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        for machine in [self.orchestrator, *self.machines.values()]:
            subprocess.run(["ip", "netns", "del", machine.namespace], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.switch], capture_output=True)
