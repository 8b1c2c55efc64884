"""`bench hosts setup`: the committed tree copied to a host over SFTP, and its environment
made there by `make host`, pinned to the versions this checkout's environment has.

A host without a package registry gets the wheels from here (`--wheels`): downloaded for
its Python and platform by this machine's pip, copied with the tree, installed offline.
"""

import os
import re
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from aionetbench.agent import COMMIT_FILE
from bench.hosts.address import remote_path
from bench.hosts.check import REPO, orchestrator_commit
from bench.hosts.ssh import Host, HostError

ARCHIVE = ".aionetbench.tar"
REQUIREMENTS = "host-requirements.txt"  # read by `make host`
WHEELS = ".wheels"
# Shared by every checkout of the user's, as pip's own cache is.
WHEEL_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aionetbench" / "wheels"
)
SETUP_TIMEOUT_S = 600.0
MANYLINUX_FLOOR = 17  # manylinux_2_17 (manylinux2014): the oldest tag wheels here use


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def host_requirements(project: str = "aionetbench") -> list[str]:
    """What the servers import and what that needs, pinned to the versions installed here
    (the project's dependencies without extras, and theirs, transitively)."""
    pinned: dict[str, str] = {}
    wanted = [r for r in distribution(project).requires or [] if "extra ==" not in r]
    while wanted:
        name = normalized(re.split(r"[\s;<>=!~\[(]", wanted.pop(), maxsplit=1)[0])
        if name in pinned:
            continue
        try:
            found = distribution(name)
        except PackageNotFoundError:
            continue  # a dependency for another platform or Python
        pinned[name] = found.version
        wanted += [r for r in found.requires or [] if "extra ==" not in r]
    return sorted(f"{name}=={version}" for name, version in pinned.items())


def platform_tags(machine: str, glibc: str) -> list[str]:
    """The wheel platform tags a Linux host with this glibc (`2.36`) accepts, newest first."""
    major, minor = (int(part) for part in glibc.split(".")[:2])
    tags = [f"manylinux_{major}_{m}_{machine}" for m in range(minor, MANYLINUX_FLOOR - 1, -1)]
    return [*tags, f"manylinux2014_{machine}", f"linux_{machine}"]


def host_platform(host: Host) -> tuple[str, str, str]:
    """The host's Python 3 version (`3.11`), machine and glibc version."""
    status, out, err = host.run_line("python3 -c 'import os, platform, sys; print("
                                     "sys.version_info[0], sys.version_info[1], platform.machine(), "
                                     "os.confstr(\"CS_GNU_LIBC_VERSION\").split()[1])'")  # fmt: skip
    if status != 0:
        raise HostError(f"{host}: no python3 there ({err.strip() or f'exit status {status}'})")
    major, minor, machine, glibc = out.split()
    return f"{major}.{minor}", machine, glibc


def fetch_wheels(requirements: Path, python: str, machine: str, glibc: str) -> list[Path]:
    """The wheels of `requirements` for that Python and platform: from the cache here if it
    has them all, else downloaded into it by this machine's pip. OSError if neither works."""
    into = WHEEL_CACHE / f"py{python}-{machine}-glibc{glibc}"
    platforms = [arg for tag in platform_tags(machine, glibc) for arg in ("--platform", tag)]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--python-version", python, *platforms, "--dest",
               str(into), "-r", str(requirements)]  # fmt: skip
    for offline in (["--no-index", "--find-links", str(into)], []):
        done = subprocess.run([*command, *offline], capture_output=True, text=True)
        if done.returncode == 0:
            return sorted(into.glob("*.whl"))
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "pip failed"
    raise OSError(last)


def archive(commit: str, into: Path) -> Path:
    """The committed tree (not the working tree: what the host runs is a commit)."""
    path = into / ARCHIVE
    subprocess.run(["git", "archive", "--format=tar", "-o", str(path), commit], cwd=REPO,
                   check=True, capture_output=True)  # fmt: skip
    return path


def set_up(host: Host, wheels: bool) -> str:
    """Copy the suite to `host` and make its environment; one line saying what was done."""
    commit = orchestrator_commit()
    if commit == "unknown":
        raise HostError("this checkout is not a git repository: nothing committed to copy")
    status, _, err = host.run_line(f"mkdir -p {remote_path(host.directory)} && "
                                   "command -v python3 make > /dev/null")  # fmt: skip
    if status != 0:
        raise HostError(f"{host}: needs python3 and make there ({err.strip() or f'exit {status}'})")
    with tempfile.TemporaryDirectory() as scratch:
        tree = archive(commit, Path(scratch))
        requirements = Path(scratch) / REQUIREMENTS
        requirements.write_text("\n".join(host_requirements()) + "\n")
        host.put(tree, f"{host.directory}/{ARCHIVE}")
        host.put(requirements, f"{host.directory}/{REQUIREMENTS}")
        try:
            copied = fetch_wheels(requirements, *host_platform(host)) if wheels else []
        except OSError as error:
            raise HostError(f"{host}: cannot get its wheels here: {error}") from None
        if copied:
            host.run_line(f"mkdir -p {remote_path(host.directory + '/' + WHEELS)}")
            for wheel in copied:
                host.put(wheel, f"{host.directory}/{WHEELS}/{wheel.name}")
    make = ["make", "host", *([f"WHEELS={WHEELS}"] if wheels else [])]
    steps = (f"tar -xf {ARCHIVE} && rm {ARCHIVE} && printf '%s\\n' {commit} > {COMMIT_FILE}"
             f" && {' '.join(make)}")  # fmt: skip
    status, out, err = host.run(["sh", "-c", steps], timeout=SETUP_TIMEOUT_S)
    if status != 0:
        last = (err or out).strip().splitlines()[-1:] or [f"exit status {status}"]
        raise HostError(f"{host}: make host failed: {last[0]}")
    return f"{host}: set up at {commit[:12]} in {host.directory}" + (
        f" ({len(copied)} wheels copied from here)" if wheels else "")  # fmt: skip
