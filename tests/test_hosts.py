"""Other hosts over SSH: host names and quoting without sockets, then real OpenSSH servers
in network namespaces (tests/sshlab.py): a run with one server host and two client hosts,
`bench hosts check` and `setup` on a fresh host, a connection lost mid-run, and the faults
that must stop a run before it starts."""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from helpers.commands import bench, start
from helpers.sshlab import ROOT, SshLab, skip_reason

from aionetbench.errors import UsageError
from bench.hosts.address import HostAddress, remote_command
from bench.hosts.setup import fetch_wheels, host_requirements, platform_tags
from bench.store.schema import SECTION

SERVER, CLIENT1, CLIENT2 = "root@10.214.0.2", "root@10.214.0.3", "root@10.214.0.4"
QUICK = ("--repeats", "1", "--duration", "0.5", "--warmup", "0.2", "--sweep-duration", "0.5",
         "--sweep-warmup", "0.2", "--quiet")  # fmt: skip


def test_host_names_parse_as_openssh_writes_them() -> None:
    assert HostAddress.parse("box") == HostAddress("box")
    assert HostAddress.parse("me@box:2222") == HostAddress("box", "me", 2222)
    assert HostAddress.parse("[::1]:22") == HostAddress("::1", None, 22)
    assert HostAddress.parse("fe80::1") == HostAddress("fe80::1")
    assert str(HostAddress("::1", "me", 22)) == "me@[::1]:22"
    for bad in ("", "me@", "@box", "box:http", "box:70000", "[::1"):
        with pytest.raises(UsageError, match="bad host"):
            HostAddress.parse(bad)


def test_remote_command_lines_keep_every_word_whole(tmp_path: Path) -> None:
    """A directory with a space and a `;`, and arguments with both, run through a real
    shell: nothing is split and nothing runs that was not asked for."""
    directory = tmp_path / "my dir; touch pwned"
    directory.mkdir()
    line = remote_command(str(directory), ["sh", "-c", 'printf "%s|" "$0" "$1"', "a b", "c;d"])
    done = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True)
    assert done.stdout == "a b|c;d|"
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    assert remote_command("~/x y", ["true"]).startswith("cd ~/'x y' && ")


def test_wheel_tags_cover_every_glibc_down_to_manylinux2014() -> None:
    tags = platform_tags("x86_64", "2.36")
    assert tags[0] == "manylinux_2_36_x86_64" and "manylinux_2_28_x86_64" in tags
    assert tags[-2:] == ["manylinux2014_x86_64", "linux_x86_64"]
    assert any(r.startswith("uvloop==") for r in host_requirements())
    assert not any(r.startswith(("matplotlib", "pytest")) for r in host_requirements())


@pytest.mark.live
def test_the_agent_answers_passes_lines_on_and_ends_its_command_with_its_input() -> None:
    """The remote side's watchdog, here without SSH: `@usage` is answered from /proc, other
    lines reach the command, and when its input ends (a lost session) the command is
    terminated; a command that cannot start is one line and status 127."""
    echo = [
        sys.executable,
        "-c",
        "import sys, time\nfor line in sys.stdin: print('got', line.strip(), flush=True)\ntime.sleep(60)",
    ]
    agent = subprocess.Popen([sys.executable, "-m", "aionetbench.agent", "watch", "--", *echo],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    assert agent.stdin is not None and agent.stdout is not None
    pid = int(agent.stdout.readline().split()[1])
    agent.stdin.write("hello\n@usage\n")
    agent.stdin.flush()
    lines = [agent.stdout.readline().strip() for _ in range(2)]
    assert "got hello" in lines
    usage = json.loads(next(line for line in lines if line.startswith("@usage ")).split(" ", 1)[1])
    assert {"user_s", "system_s", "voluntary", "involuntary", "run_delay_s", "peak_rss"} <= set(
        usage
    )
    started = time.monotonic()
    agent.stdin.close()
    assert agent.wait(10) != 0 and time.monotonic() - started < 5
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    missing = subprocess.run([sys.executable, "-m", "aionetbench.agent", "watch", "--", "/no/such"],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=ROOT)  # fmt: skip
    assert missing.returncode == 127 and missing.stderr.count("\n") == 1


@pytest.mark.live
def test_a_refused_ssh_port_is_one_line_and_no_library_warning(refused_endpoint) -> None:
    """No sshd needed: a loopback port that refuses. One line, exit 2, and nothing of the SSH
    or crypto libraries' own (their deprecation warnings) reaches the user, --help included."""
    refused = bench("hosts", "check", f"root@127.0.0.1:{refused_endpoint.port}")
    assert refused.returncode == 2 and refused.stderr == "", refused  # one line per host
    assert refused.stdout.splitlines() == [
        f"root@127.0.0.1:{refused_endpoint.port}: connection refused (no sshd on that port?)"
    ]
    helped = bench("hosts", "--help")
    assert helped.returncode == 0 and helped.stderr == ""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[SshLab]:
    if reason := skip_reason():
        pytest.skip(reason)
    lab = SshLab(tmp_path)
    yield lab
    deadline = time.monotonic() + 10  # the watchdogs see their sessions end, then stop
    left = {name: machine.pids() for name, machine in lab.machines.items()}
    while any(left.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {name: machine.pids() for name, machine in lab.machines.items()}
    lab.close()
    assert not any(left.values()), f"processes left on the hosts: {left}"


def run_on_hosts(lab: SshLab, output: Path, *argv: str) -> subprocess.CompletedProcess:
    hosts = ["--server-host", SERVER, "--client-host", CLIENT1, "--client-host", CLIENT2,
             "--remote-dir", str(ROOT)]  # fmt: skip
    return lab.bench("run", *hosts, *QUICK, *argv, "-o", str(output))


def runs_of(output: Path) -> list[dict]:
    """Every run's metadata in a results file (pyperf keeps what all share at the top)."""
    suite = json.loads(output.read_text())
    return [
        suite.get("metadata", {}) | benchmark.get("metadata", {}) | run.get("metadata", {})
        for benchmark in suite["benchmarks"]
        for run in benchmark["runs"]
    ]


@pytest.mark.live
def test_a_run_with_one_server_host_and_two_client_hosts(lab: SshLab, tmp_path: Path) -> None:
    """Closed and open loop across three "hosts": each client host takes half the
    connections (and of the rate), the cell's histogram is exactly the two hosts' added, the
    results name the hosts, and the report lists them and the path its ranking holds for."""
    output = tmp_path / "hosts.json"
    done = run_on_hosts(lab, output, "--apis", "protocol", "--loops", "uvloop", "--rates", "2000",
                        "--sweep-processes", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    runs = [run for run in runs_of(output) if "client_hosts_detail" in run]
    assert runs, "no run kept its hosts' parts"
    for run in runs:
        parts = json.loads(run["client_hosts_detail"])
        assert [part["host"] for part in parts] == [CLIENT1, CLIENT2]
        assert [part["connections"] for part in parts] == [5, 5]
        merged = HdrHistogram.decode(parts[0]["histogram"])
        merged.add(HdrHistogram.decode(parts[1]["histogram"]))
        cell = HdrHistogram.decode(run["latency_histogram_ns"])
        assert merged.get_total_count() == cell.get_total_count() > 0
        for percentile in (50, 90, 99, 99.9, 100):
            assert merged.get_value_at_percentile(percentile) == cell.get_value_at_percentile(
                percentile
            )
    closed = [run for run in runs if "rps" in run]
    assert closed and all(run["rps"] > 1000 for run in closed)
    assert any("fell_behind" in run for run in runs), "no open-loop point measured"
    environment = json.loads(output.read_text())[SECTION]["environment"]
    assert environment["server_host"] == SERVER
    assert environment["client_hosts"] == f"{CLIENT1},{CLIENT2}"
    assert {host["host"] for host in json.loads(environment["hosts"])} == {SERVER, CLIENT1, CLIENT2}
    report = subprocess.run([*BENCH, "report", str(output), "-o", str(tmp_path / "report")],
                            capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert f"load from {CLIENT1} + {CLIENT2} to {SERVER}" in text
    assert f"server host `{SERVER}`" in text and f"load generator host `{CLIENT2}`" in text


BENCH = (str(ROOT / ".venv" / "bin" / "python"), "-m", "bench")


@pytest.mark.live
def test_hosts_check_and_setup_take_a_fresh_host_to_a_run(lab: SshLab, tmp_path: Path) -> None:
    """A host with nothing on it: `check` says so and exits 2; `setup --wheels` copies the
    committed tree into a directory whose name has a space and a `;` and makes its
    environment offline (the namespace has no registry: the wheels come from here); then
    `check` passes for it (and for a host set up alike)."""
    directory = str(tmp_path / "suite dir; touch pwned")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(host_requirements()) + "\n")
    python = subprocess.run(["python3", "-c", "import sys, platform, os; print(f'{sys.version_info[0]}.{sys.version_info[1]}', platform.machine(), os.confstr('CS_GNU_LIBC_VERSION').split()[1])"],
                            capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    fetch_wheels(requirements, *python)  # into the cache, from outside the namespaces
    before = lab.bench("hosts", "check", SERVER, "--remote-dir", directory)
    assert before.returncode == 2 and "no suite in" in before.stdout, before
    setup = lab.bench("hosts", "setup", "--wheels", SERVER, "--remote-dir", directory)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "set up at" in setup.stdout and not Path("pwned").exists()
    assert (Path(directory) / ".venv" / "bin" / "python").exists()
    assert (Path(directory) / "clients" / "native" / "load").exists()
    after = lab.bench("hosts", "check", SERVER, CLIENT1, "--remote-dir", directory)
    assert after.returncode == 0 and after.stdout.count(": ok |") == 2, after


def wait_for_server(lab: SshLab, api: str, process: subprocess.Popen) -> None:
    """Until a `python -m servers API` runs on the server host, then 0.7 s into its window."""
    deadline = time.monotonic() + 30
    while not any(f"servers {api}" in cmdline(pid) for pid in lab.machines["server"].pids()):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    time.sleep(0.7)


@pytest.mark.live
def test_a_lost_connection_fails_one_run_and_ctrl_c_stops_everything(
    lab: SshLab, tmp_path: Path
) -> None:
    """Three cells with 2 s windows. Every SSH session to the server host is killed while the
    first server runs: that run is a recorded failure and its server ends with its session;
    the second cell reconnects and is measured; Ctrl-C during the third: exit 130, the
    results kept in a valid file, and nothing left running on any host."""
    output = tmp_path / "lost.json"
    command = ["ip", "netns", "exec", lab.orchestrator.namespace, *BENCH, "run",
               "--server-host", SERVER, "--client-host", CLIENT1, "--remote-dir", str(ROOT),
               *QUICK, "--apis", "protocol,streams,buffered", "--loops", "uvloop",
               "--duration", "2", "--rates", "none", "-o", str(output)]  # fmt: skip
    process = start(command, cwd=ROOT, env=lab.env())
    wait_for_server(lab, "protocol", process)
    lab.drop_sessions(lab.machines["server"])
    wait_for_server(lab, "buffered", process)
    process.send_signal(signal.SIGINT)  # `ip netns exec` execs bench: this is its PID
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err, err
    results = json.loads(output.read_text())[SECTION]
    assert results["interrupted"]
    failed = results["failed"]
    assert len(failed) == 1 and "ssh connection to" in failed[0]["reason"], failed
    assert "protocol" in failed[0]["cell"]
    runs = [run for run in runs_of(output) if run.get("api") == "streams" and "rps" in run]
    assert runs and runs[0]["rps"] > 1000, err
    deadline = time.monotonic() + 10  # the watchdogs see their sessions end
    while any(machine.pids() for machine in lab.machines.values()):
        assert time.monotonic() < deadline, {m.name: m.pids() for m in lab.machines.values()}
        time.sleep(0.1)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.live
def test_hosts_that_cannot_be_used_stop_the_run_before_it_starts(
    lab: SshLab, tmp_path: Path
) -> None:
    """One line and exit 2, nothing written: an address with no route to it, a host whose key is not
    in known_hosts, a key the host does not accept, a host without the suite."""
    output = tmp_path / "never.json"

    def refused(*hosts: str, directory: str = str(ROOT)) -> str:
        done = lab.bench("run", "--server-host", hosts[0], "--client-host", hosts[1],
                         "--remote-dir", directory, *QUICK, "--apis", "protocol",
                         "-o", str(output))  # fmt: skip
        assert done.returncode == 2, done
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert not output.exists()
        return done.stderr

    # No route at all (the namespaces have none beyond their subnet): refused at once.
    assert "unreachable (Network is unreachable)" in refused("root@10.215.0.1", CLIENT1)
    assert "no suite in" in refused(SERVER, CLIENT1, directory=str(tmp_path / "none"))
    known = lab.home / ".ssh" / "known_hosts"
    trusted = known.read_text()
    known.write_text("")
    assert "host key not verified" in refused(SERVER, CLIENT1)
    known.write_text(trusted)
    (lab.tmp / "authorized_keys").write_text(
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummyKeyNotOurs0000000000000000000000000 other\n"
    )
    assert "authentication failed" in refused(SERVER, CLIENT1)
