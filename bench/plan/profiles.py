"""Profiles: whole matrices by name, their cells, and the interleaved order of their runs."""

import itertools
import random
from dataclasses import dataclass, replace

from aionetbench.loops import LOOPS
from bench.plan.cells import LOOPBACK, Cell
from servers import SERVERS

# Seconds a run costs beyond its warm-up and measured window: starting the server and the
# client, connecting, and stopping (measured on the 2-core machine the suite is built on).
RUN_OVERHEAD_S = 0.7
# The same for one open-loop point on a server already running (starting the load generator,
# its drain, reading the server's wake-ups), and for starting the one server each cell's
# sweep uses; and the share of points measured again (interfered, stalled, or an unreliable
# miss on the climb). Measured in `make bench` runs here: 2.2-2.6 s a point of 1.2 s.
POINT_OVERHEAD_S = 1.0
SWEEP_SERVER_S = 0.4
REMEASURED_SHARE = 0.25
# `bench explain`'s open load for read and write calls per message: the same rate for every
# API, under the capacity of the slowest here (websockets on asyncio, ~25,000 msg/s).
EXPLAIN_OPEN_RATE = 10_000.0
AUTO = "auto"
# What the measured connections do, and what runs beside them: steady (they stay open),
# churn (they come and go), idle (N silent connections held open beside them), slow (K
# connections beside them that send and read slowly); idle and slow at a fixed load, beside
# the same load alone.
WORKLOADS = ("steady", "churn", "idle", "slow")
IDLE_COUNTS = (0, 100, 1_000, 10_000)  # idle0: the same load with none, to compare against
# The idle cells' load: under every server's capacity here (websockets over TLS on asyncio
# answers ~14,000 msg/s), so that what moves is what the idle connections cost.
FIXED_RATE = 2_000.0
FOUND = "found"  # as a plan's pythons: every Python found on the machine (bench.pythons)
LADDER_POINTS = 5  # offered loads in an `auto` ladder: coarse, the knee search refines it
KNEE_POINTS = 3  # points a cell's knee search typically adds (a 2.5x bracket, or past the top)
# Idle connections the load generator typically opens a second before a run (each with one
# echo): 10,000 plain ones took 0.6-1 s here, over TLS 5-9 s (the handshakes, on both CPUs).
TYPICAL_OPENINGS_PER_S = 10_000.0
TYPICAL_TLS_OPENINGS_PER_S = 1_200.0


# The APIs of the quick profile (and the default of every profile): the five asyncio APIs
# and the native reference. The others (readline, aiohttp, picows) are in the wide profile.
CORE_APIS = ("sockets", "streams", "protocol", "buffered", "websockets", "native")


@dataclass(frozen=True)
class Plan:
    """A matrix and how to measure it."""

    apis: tuple[str, ...] = CORE_APIS
    loops: tuple[str, ...] = ("asyncio", "uvloop")
    transports: tuple[str, ...] = ("tcp",)
    sizes: tuple[int, ...] = (1024,)
    concurrency: tuple[int, ...] = (10,)
    pipeline: tuple[int, ...] = (1,)
    # WORKLOADS measured, each its own cells: churn's messages per connection, and the idle
    # connections held beside the measured ones at `fixed_rate` msg/s, one cell per count.
    workloads: tuple[str, ...] = ("steady",)
    churn_messages: int = 1
    idle_connections: tuple[int, ...] = IDLE_COUNTS
    slow_readers: int = 4
    fixed_rate: float = FIXED_RATE
    repeats: int = 3
    duration: float = 4.0
    warmup: float = 1.0
    client_loop: str = "uvloop"
    # Server Pythons compared in one run (versions, e.g. ("3.11", "3.13"), or (FOUND,));
    # () runs the servers on the orchestrator's own interpreter.
    pythons: tuple[str, ...] = ()
    # Network paths (bench.netns.PATHS), each its own cells; the others than loopback only
    # for TCP and TLS (a Unix socket crosses no network), and for sizes of at least
    # `network_min_size` bytes.
    networks: tuple[str, ...] = (LOOPBACK,)
    network_min_size: int = 0
    # Open-loop sweep after the throughput matrix: offered loads in messages/s, or AUTO for
    # a ladder built from the capacities just measured (bench.sweep); () for none.
    rates: tuple[float, ...] | str = ()
    arrivals: str = "poisson"
    sweep_duration: float = 1.5
    sweep_warmup: float = 0.3
    # A point measures further slices of sweep_duration until its p99 is known to +-10%, up
    # to this many seconds in all (clients.slices); no more than sweep_duration: one slice.
    sweep_cap: float = 0.0
    slo_p99_ms: float = 1.0
    # The cells the sweep climbs, as APIs or API/LOOP (() for every cell), and how many fresh
    # server processes climb each, in a shuffled order across cells: SLO capacity varies most
    # between processes, so it is repeated there (bench.analyse.slo.cell_capacity).
    sweep_only: tuple[str, ...] = ()
    sweep_processes: int = 1
    # Measurements one server process may take in all, its ladder's included: once spent,
    # no point is measured again and the knee search stops, so that a disturbed machine
    # cannot stretch the sweep without bound (0: no limit). A knee left wider than +-5% is
    # then unresolved.
    sweep_budget: int = 0

    @property
    def ladder_length(self) -> int:
        """Offered loads in the ladder each cell climbs (until it misses the objective)."""
        return LADDER_POINTS if self.rates == AUTO else len(self.rates)

    @property
    def cells(self) -> list[Cell]:
        """Every combination, except TLS for APIs that have none; an API that runs on no
        asyncio loop (the reference) once per combination, with its own loop label and no Python.
        Network paths vary fastest, then Pythons, so the schedule interleaves both."""
        combinations = itertools.product(
            self.transports, self.sizes, self.concurrency, self.pipeline, self.apis
        )
        return [
            Cell(api, loop, transport, size, concurrency, depth, python, network, **variant)
            for transport, size, concurrency, depth, api in combinations
            if not (transport == "tls" and SERVERS[api].no_tls)
            for loop in self.loops_of(api)
            for python in (("",) if SERVERS[api].reference else (self.pythons or ("",)))
            for network in self.cell_networks(transport, size)
            for variant in self.workload_variants()
        ]

    def workload_variants(self) -> list[dict[str, int | float]]:
        """Each workload's Cell fields, once each: none for steady, one set per idle count,
        and for slow readers the same fixed load without them too."""
        variants: list[dict[str, int | float]] = []
        alone = {"at_rate": self.fixed_rate}
        for workload in self.workloads:
            if workload == "steady":
                variants.append({})
            elif workload == "churn":
                variants.append({"churn": self.churn_messages})
            elif workload == "idle":
                variants += [{"idle": n, **alone} if n else alone for n in self.idle_connections]
            else:
                variants += [alone, {"slow": self.slow_readers, **alone}]
        return [v for i, v in enumerate(variants) if v not in variants[:i]]

    def loops_of(self, api: str) -> tuple[str, ...]:
        """The plan's loops, or a reference server's own label (it runs on none)."""
        own = SERVERS[api].own_loop
        return (own,) if own else self.loops

    def cell_networks(self, transport: str, size: int) -> list[str]:
        """The paths a transport and size are measured on."""
        return [
            path
            for path in self.networks
            if path == LOOPBACK or (transport != "unix" and size >= self.network_min_size)
        ]

    def schedule(self) -> list[tuple[int, Cell]]:
        """(repeat, cell) pairs: every cell once, then every cell again, so that drift in
        a noisy machine hits all variants alike instead of one cell's repeats."""
        cells = self.cells
        return [(repeat, cell) for repeat in range(1, self.repeats + 1) for cell in cells]

    @property
    def sweep_cells(self) -> list[Cell]:
        """The cells the sweep climbs."""
        wanted = set(self.sweep_only)
        return [
            c
            for c in self.cells
            if not c.at_rate and (not wanted or {c.api, f"{c.api}/{c.loop}"} & wanted)
        ]

    def sweep_order(self) -> list[tuple[int, Cell]]:
        """(process, cell) climbs: every swept cell once per process, the first time in the
        plan's order and then shuffled anew for each process (seeded: a run is repeatable), so
        that drift and the machine's bursts fall on all cells alike (RMIT's randomized
        multiple interleaved trials)."""
        order = []
        for process in range(1, self.sweep_processes + 1):
            cells = self.sweep_cells
            if process > 1:
                random.Random(process).shuffle(cells)
            order += [(process, cell) for cell in cells]
        return order

    def point_seconds(self) -> float:
        """A typical point: one slice, or two when slices may be added up to a cap."""
        slices = min(self.sweep_cap, 2 * self.sweep_duration)
        return self.sweep_warmup + max(self.sweep_duration, slices) + POINT_OVERHEAD_S

    def sweep_seconds(self) -> float:
        """The sweep's typical cost: every cell climbs the whole ladder and searches its knee
        (a cell that misses the objective early costs less; the session corrects the bar)."""
        if not self.ladder_length:
            return 0.0
        points = (self.ladder_length + KNEE_POINTS) * (1 + REMEASURED_SHARE)
        if self.sweep_budget:
            points = min(points, self.sweep_budget)
        return len(self.sweep_order()) * (SWEEP_SERVER_S + points * self.point_seconds())

    def estimated_seconds(self) -> float:
        run = self.warmup + self.duration + RUN_OVERHEAD_S
        closed = sum(run + opening_seconds(cell) for _, cell in self.schedule())
        return closed + self.sweep_seconds()


# Closed windows of 1.5 s (not 4) and sweep points in slices of 0.5 s, up to 1 s, leave room
# in `make bench`'s 360 s for `bench explain` and a sweep of the cells whose knee the load
# generator can reach here, each climbed by three fresh server processes (one process per
# cell gave answers that did not reproduce): websockets on asyncio and on uvloop, the same
# API on both loops. The transport and stream APIs sustain more open-loop load than it can
# send (streams on asyncio met 1 ms at 200,000-290,000 msg/s): their capacities are only
# bounds, and a sweep of one took a third of the budget to say so.
QUICK = Plan(
    duration=1.5,
    warmup=0.3,
    rates=AUTO,
    sweep_duration=0.5,
    sweep_warmup=0.2,
    sweep_cap=1.0,
    sweep_only=("websockets/asyncio", "websockets/uvloop"),
    sweep_processes=3,
    sweep_budget=12,  # 6-16 measurements a process took here; 12 keeps `make bench` near 4.5 min
)


def opening_seconds(cell: Cell) -> float:
    """How long opening a cell's idle connections typically takes before its run."""
    tls = cell.transport == "tls"
    return cell.idle / (TYPICAL_TLS_OPENINGS_PER_S if tls else TYPICAL_OPENINGS_PER_S)


# What servers see besides ten steady connections (issue 28): connections that come and go
# (with their TLS handshakes), 0-10,000 idle ones and slow readers, plain and TLS, for every
# API on asyncio and uvloop and the C server; no sweep (churn's knee: `--workload churn
# --rates auto`). About 17 minutes here.
WORKLOADS_PLAN = Plan(
    apis=(
        "sockets",
        "streams",
        "protocol",
        "buffered",
        "websockets",
        "aiohttp",
        "picows",
        "native",
    ),
    transports=("tcp", "tls"),
    workloads=("churn", "idle", "slow"),
    repeats=2,
    duration=1.5,
    warmup=0.3,
)

PROFILES: dict[str, Plan] = {
    "quick": QUICK,
    # Every core cell swept carefully: three processes each, points up to 2 s of slices.
    "slo": replace(
        QUICK, sweep_only=(), sweep_duration=1.0, sweep_warmup=0.3, sweep_cap=2.0, sweep_budget=0
    ),
    "workloads": WORKLOADS_PLAN,
    # For CI gates: few cells, more repeats (a t-test needs them), short runs.
    "smoke": Plan(apis=("streams", "protocol"), repeats=5, duration=2.0, warmup=0.5),
    # Everything a user chooses between, at the headline load: every API x every registered
    # loop x every Python found, 3 interleaved repeats of 2 s; a loop with no wheel for a
    # Python makes unsupported cells there (uringcore runs on 3.13 only). No sweep: ~190
    # cells would not fit in an hour with one.
    "wide": Plan(
        apis=tuple(SERVERS),
        loops=tuple(LOOPS),
        pythons=(FOUND,),
        repeats=3,
        duration=2.0,
        warmup=0.5,
    ),
    # Off loopback (veth, and veth at 1 Gbit/s) for the sizes where segments and bandwidth
    # matter: 10 and 100 KiB.
    "full": Plan(
        transports=("tcp", "unix"),
        sizes=(1024, 10 * 1024, 100 * 1024),
        networks=(LOOPBACK, "veth", "gbit"),
        network_min_size=10 * 1024,
        concurrency=(1, 10, 100),
        repeats=5,
        duration=5.0,
        rates=AUTO,
        sweep_duration=2.0,
        sweep_warmup=0.5,
    ),
}


def make_plan(profile: str, **overrides: object) -> Plan:
    """A profile's plan with the given settings (those not None) replaced."""
    return replace(PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None})
