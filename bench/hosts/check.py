"""What a host has, and whether it can run its part: `bench hosts check`, and the check every
run with hosts makes before anything runs."""

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aionetbench.agent import suite_commit
from bench.hosts.ssh import AGENT, REMOTE_PYTHON, Host, HostError

REPO = Path(__file__).resolve().parents[2]
SERVER_LIBRARIES = ("uvloop", "websockets", "aiohttp", "picows")  # what every server cell imports
MIN_OPEN_FILES = 1024


def orchestrator_commit() -> str:
    """The commit this checkout is at (what `bench hosts setup` copies), or `unknown`."""
    return suite_commit(REPO) or "unknown"


@dataclass(frozen=True)
class HostReport:
    """One host as probed (aionetbench.agent probe), with its clock's offset from this one's
    (informational: latency is measured at each load generator, on its own clock)."""

    host: str
    probe: dict[str, Any]
    clock_offset_ms: float
    round_trip_ms: float

    @property
    def cpus(self) -> list[int]:
        return list(self.probe["cpus"])

    def problems(self, role: str, commit: str) -> list[str]:
        """Why this host cannot run its part (`server`, `client` or `any`), empty if it can."""
        probe, found = self.probe, []
        if probe.get("commit") != commit:
            found.append(f"suite at {str(probe.get('commit'))[:12]}, not {commit[:12]}: "
                         f"bench hosts setup {self.host}")  # fmt: skip
        missing = [name for name in SERVER_LIBRARIES if not probe["about"]["libraries"].get(name)]
        if role in ("server", "any") and missing:
            found.append(f"missing {', '.join(missing)}")
        if role in ("client", "any") and not probe.get("native_load"):
            found.append("no native load generator (needs a C compiler: make native)")
        if probe["open_files"] < MIN_OPEN_FILES:
            found.append(f"open-file limit {probe['open_files']} (under {MIN_OPEN_FILES})")
        if role != "any" and len(self.cpus) < 2:
            found.append("one CPU: nothing to pin apart")
        return found

    def line(self, role: str, commit: str) -> str:
        """One line for people: ok or what is wrong, then what it has."""
        probe, problems = self.probe, self.problems(role, commit)
        libraries = " ".join(f"{name} {version}" for name, version in probe["about"]["libraries"].items()
                             if version and name in SERVER_LIBRARIES)  # fmt: skip
        verdict = "ok" if not problems else "CANNOT RUN: " + "; ".join(problems)
        return (
            f"{self.host}: {verdict} | commit {str(probe.get('commit'))[:12]}, Python "
            f"{probe['about']['python_version']}, {probe['cores']} cores, kernel {probe['kernel']}, "
            f"{probe['cpu_model']}, open files {probe['open_files']}, clock "
            f"{self.clock_offset_ms:+.1f} ms (+-{self.round_trip_ms / 2:.1f}), {libraries}"
        )

    def description(self) -> dict[str, Any]:
        """What the results keep of this host."""
        probe = self.probe
        keys = ("hostname", "kernel", "cpu_model", "cores", "mtu")
        python = probe["about"]["python_version"]
        return {"host": self.host, **{key: probe.get(key) for key in keys}, "python": python}


def probe(host: Host, peer: str | None = None) -> HostReport:
    """Run the agent's probe in the suite's directory on `host`; HostError if there is no
    suite or no environment there."""
    argv = [REMOTE_PYTHON, *AGENT, "probe", *(["--peer", peer] if peer else [])]
    status, out, err = host.run(argv, timeout=30)
    if status != 0:
        last = err.strip().splitlines()[-1] if err.strip() else f"exit status {status}"
        if "No such file" in last and ".venv" not in last:
            raise HostError(f"{host}: no suite in {host.directory}: bench hosts setup {host}")
        if status == 127 or ".venv" in last:
            raise HostError(f"{host}: no environment in {host.directory}: bench hosts setup {host}")
        raise HostError(f"{host}: the probe failed: {last}")
    found = json.loads(out)
    # The clock, read by the quickest command there is, somewhere in its round trip: assume
    # the middle.
    sent = time.time()
    status, out, _ = host.run_line("date +%s.%N")
    received = time.time()
    remote = float(out) if status == 0 else found["time"]
    offset = (remote - (sent + received) / 2) * 1000
    return HostReport(str(host), found, offset, (received - sent) * 1000)
