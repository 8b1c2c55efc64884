"""Driving a load generator on this machine: a spec in, a Summary out, or one line saying why
not. `bench run`, `bench explain` and the GC-cost tool all measure through `drive`; runs
across hosts drive the native workers on each host instead (bench.measure.remote), and judge
what comes back the same way (clients.judgement.why_failed)."""

import json
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from aionetbench.cpus import spawn_pinned
from clients.contract import Clients
from clients.spec import LoadSpec
from clients.summary import Summary

SLICE_OVERHEAD_S = 1.0  # starting the load generator and connecting, per slice, at most
# Beyond that, before a silent load generator is killed: it ends by itself long before (its
# own deadlines: clients.native.workers), so this is only a backstop.
CLIENT_GRACE_S = 30.0


class LoadFailed(Exception):
    """The load generator gave no Summary: one line, why."""


def time_limit(spec: LoadSpec) -> float:
    """How long a run of `spec` may take, all its slices (clients.slices) included."""
    slices = 1 if spec.requests else -(-(spec.max_duration or spec.duration) // spec.duration)
    return slices * (spec.run_s + SLICE_OVERHEAD_S) + CLIENT_GRACE_S


def drive(
    spec: LoadSpec,
    clients: Clients,
    cpus: Iterable[int] | None,
    wrap: Sequence[str] = (),
    cwd: Path | None = None,
) -> Summary:
    """Run the load generator `clients` picks for `spec`, pinned to `cpus` (inside `wrap`,
    such as a network namespace's `ip netns exec`), and parse its Summary. LoadFailed if it
    did not finish in time, refused (its own last line), or printed no Summary; a Summary
    with echo errors is returned, for the caller to judge."""
    command = [*wrap, *clients.for_spec(spec).command(spec)]
    client = spawn_pinned(command, cpus, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=cwd)  # fmt: skip
    try:
        out, err = client.communicate(timeout=time_limit(spec))
    except subprocess.TimeoutExpired:
        raise LoadFailed("client did not finish in time") from None
    finally:
        if client.poll() is None:  # timed out or interrupted: no child may outlive the run
            client.kill()
            client.wait()
    if client.returncode not in (0, 1) or not out.strip():
        lines = err.strip().splitlines()
        raise LoadFailed(f"client failed: {lines[-1] if lines else 'no output'}")
    try:
        return Summary.from_json(json.loads(out))
    except (ValueError, KeyError, TypeError) as error:
        raise LoadFailed(f"client printed no summary ({error})") from None
