"""One worker's load: connect, warm up, measure one window, drain (`workers` runs several)."""

import asyncio
import resource
import socket
import time
from array import array
from dataclasses import dataclass
from time import perf_counter_ns

import psutil

from aionetbench import procstat
from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError
from aionetbench.tls import client_context
from clients import stats
from clients.arrivals import Arrivals
from clients.connection import EchoConnection, WsHandshake
from clients.schedule import OpenLoopSchedule
from clients.spec import COUNTED_LIMIT_S, LoadSpec
from clients.window import ServerUsage, WorkerResult, split
from clients.workload import Workload, build_workload, line_workload
from clients.wsframes import ws_workload

# Connection i starts at message i * STRIDE of the cycle, so no two connections send the same
# bytes at the same time and a reply crossing connections is caught.
STRIDE = 7
CONNECT_TIMEOUT = 10.0
# The measured window is cut into this many consecutive blocks; resampling them gives the
# confidence interval of the tail (stats.percentile_interval).
BLOCKS = 20
SILENCE_TICK_S = 0.02  # how often the silence watch looks: its resolution


class SilenceWatch:
    """The longest time, with messages in flight, that no reply came on any connection: a
    task that looks every SILENCE_TICK_S, off the per-message path (load.c tracks the same
    per byte)."""

    def __init__(self, conns: list[EchoConnection]) -> None:
        self.conns = conns
        self.longest_s = 0.0
        self.task = asyncio.get_running_loop().create_task(self.watch())

    def progress(self) -> int:
        return sum(c.replies + len(c.latencies) for c in self.conns)

    async def watch(self) -> None:
        loop = asyncio.get_running_loop()
        heard, seen = loop.time(), self.progress()
        while True:
            await asyncio.sleep(SILENCE_TICK_S)
            now, progress = loop.time(), self.progress()
            if progress != seen or not any(c.in_flight for c in self.conns if not c.closing):
                heard, seen = now, progress
            self.longest_s = max(self.longest_s, now - heard)

    def stop(self) -> float:
        self.task.cancel()
        return self.longest_s


@dataclass(frozen=True)
class OwnUsage:
    """This process's CPU seconds, its time waiting for a CPU and involuntary switches, and
    the machine's steal, so far."""

    cpu_s: float
    wait_s: float
    involuntary: int
    steal_s: float

    @classmethod
    def now(cls) -> "OwnUsage":
        switches = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
        return cls(time.process_time(), procstat.run_delay_s(), switches, procstat.steal_s())


class CpuClock:
    """A measured window, started when made: its wall time, this process's usage and,
    optionally, the server's usage over it."""

    def __init__(self, server_pid: int | None) -> None:
        self.server = psutil.Process(server_pid) if server_pid else None
        self.started_ns, (self.own_before, self.server_before) = perf_counter_ns(), self.read()

    def stop(self, result: WorkerResult) -> int:
        """End the window: put its times into `result`; return when it ended (ns)."""
        ended_ns, (own, server_after) = perf_counter_ns(), self.read()
        result.started_ns, result.ended_ns = self.started_ns, ended_ns
        result.window_s = (ended_ns - self.started_ns) / 1e9
        result.cpu_s = own.cpu_s - self.own_before.cpu_s
        result.own_wait_s = own.wait_s - self.own_before.wait_s
        result.own_involuntary = own.involuntary - self.own_before.involuntary
        result.steal_s = own.steal_s - self.own_before.steal_s
        if self.server_before is not None and server_after is not None:
            result.server = server_after - self.server_before
        return ended_ns

    def read(self) -> tuple[OwnUsage, ServerUsage | None]:
        own = OwnUsage.now()
        if self.server is None:
            return own, None
        try:
            with self.server.oneshot():
                times, switches = self.server.cpu_times(), self.server.num_ctx_switches()
        except psutil.Error:  # the server died; the run reports it as connection errors
            return own, None
        usage = ServerUsage(
            times.user,
            times.system,
            switches.voluntary,
            switches.involuntary,
            procstat.run_delay_s(self.server.pid),
        )
        return own, usage


def workload_for(spec: LoadSpec) -> Workload:
    framings = {"ws": ws_workload, "line": line_workload}
    return framings.get(spec.protocol, build_workload)(spec.size)


async def connect(
    spec: LoadSpec,
    workload: Workload,
    first_message: int,
    on_lost,
    budget: int | None = None,
    address: str | None = None,
) -> EchoConnection:
    """One verified echo connection (after its WebSocket handshake for `ws`); `address` is
    the endpoint's host already resolved."""
    loop = asyncio.get_running_loop()
    depth = 0 if spec.rate else spec.pipeline
    connection = EchoConnection(workload, first_message, depth, on_lost, budget)
    ssl = client_context() if spec.tls else None
    factory = (
        (lambda: WsHandshake(spec.endpoint.host)) if spec.protocol == "ws" else lambda: connection
    )
    if spec.endpoint.path is not None:
        server_hostname = "localhost" if ssl else None
        transport, protocol = await loop.create_unix_connection(
            factory, spec.endpoint.path, ssl=ssl, server_hostname=server_hostname
        )
    else:
        transport, protocol = await loop.create_connection(
            factory, address or spec.endpoint.host, spec.endpoint.port, ssl=ssl,
            server_hostname=spec.endpoint.host if ssl else None,
        )  # fmt: skip
    if isinstance(protocol, WsHandshake):
        leftover = await protocol.done
        transport.set_protocol(connection)
        connection.connection_made(transport)
        if leftover:
            connection.data_received(leftover)
    return connection


async def resolve(endpoint: Endpoint) -> str | None:
    """The address of a TCP endpoint's host (its first), looked up once for all
    connections; None for a Unix socket."""
    if endpoint.path is not None:
        return None
    infos = await asyncio.get_running_loop().getaddrinfo(
        endpoint.host, endpoint.port, type=socket.SOCK_STREAM
    )
    return infos[0][4][0]


async def connect_all(spec: LoadSpec, workload: Workload, count: int, first: int, on_lost):
    """Resolve the host once, then open `count` connections at once; the first failure
    cancels the others (a TaskGroup: with gather, the others' failures would each be logged
    as never retrieved)."""
    budgets = split(spec.requests, count) if spec.requests else [None] * count
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            address = await resolve(spec.endpoint)
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(
                        connect(spec, workload, (first + i) * STRIDE, on_lost, budgets[i], address)
                    )
                    for i in range(count)
                ]
    except TimeoutError:
        raise UsageError(f"cannot connect to {spec.endpoint}: timed out") from None
    except OSError as error:  # the host does not resolve
        raise UsageError(f"cannot connect to {spec.endpoint}: {error.strerror or error}") from None
    except ExceptionGroup as failures:
        # a refused connection, a refused WebSocket upgrade, a broken TLS handshake
        error = failures.exceptions[0]
        why = (error.strerror if isinstance(error, OSError) else None) or error
        raise UsageError(f"cannot connect to {spec.endpoint}: {why}") from None
    return [task.result() for task in tasks]


async def run_worker(
    spec: LoadSpec, connections: int, first: int, rate: float | None, barrier=None
) -> WorkerResult:
    """Connect, warm up, measure one window, then drain; ends early if every connection is
    lost.

    The latency sample is every message sent in the window. Messages still in flight when it
    closes are waited for (up to `spec.drain` seconds, sending nothing new); any still
    unanswered then count with latency = end of the wait - intended send time. Dropping
    them instead would hide exactly the stall that straddles the window's end.
    """
    everything_lost = asyncio.Event()
    conns: list[EchoConnection] = []

    def on_lost() -> None:
        if all(c.closing for c in conns):
            everything_lost.set()

    conns[:] = await connect_all(spec, workload_for(spec), connections, first, on_lost)
    if barrier is not None:
        barrier.wait(timeout=60)  # all workers connected: start together
    if spec.requests:
        return await run_counted(spec, conns, connections, first, everything_lost)
    schedule = OpenLoopSchedule(conns, Arrivals(rate, spec.arrivals)) if rate else None
    if schedule:
        schedule.start()
    else:
        for connection in conns:
            connection.start()
    loop = asyncio.get_running_loop()

    async def wait_until(deadline: float) -> None:
        try:
            async with asyncio.timeout_at(deadline):
                await everything_lost.wait()
        except TimeoutError:
            pass

    await wait_until(loop.time() + spec.warmup)
    for connection in conns:
        connection.start_window()
    late_before = len(schedule.lateness) if schedule else 0
    sent_before = schedule.sent if schedule else 0
    clock = CpuClock(spec.server_pid if first == 0 else None)  # one worker measures the server
    due_before = schedule.due(clock.started_ns) if schedule else 0  # only countable while current
    window_started = loop.time()
    silence = SilenceWatch(conns)
    blocks: list[list[tuple[array, array]]] = []
    for block in range(1, BLOCKS + 1):
        await wait_until(window_started + spec.duration * block / BLOCKS)
        blocks.append([connection.take_latencies() for connection in conns])
    result = WorkerResult(connections=connections)
    ended_ns = clock.stop(result)
    result.requests = sum(connection.replies for connection in conns)
    if schedule:
        schedule.stop()
        result.scheduled = schedule.due(ended_ns) - due_before
        result.sent = schedule.sent - sent_before
        result.lag = stats.record([schedule.lateness[late_before:]])
    late = await drain(conns, spec.drain)
    result.silent_s = silence.stop()
    result.undelivered = sum(len(latencies) for latencies, _ in late)
    blocks[-1] += [connection.take_latencies() for connection in conns] + late
    result.errors = [c.error for c in conns if c.error]
    close_all(conns)
    result.latency = stats.record(sample for block in blocks for sample, _ in block)
    if rate:  # the tail's confidence interval is worth its cost only in open loop
        result.blocks = [stats.Counts.of(sample for sample, _ in block) for block in blocks]
        result.intended = stats.record(intended for block in blocks for _, intended in block)
    return result


async def run_counted(
    spec: LoadSpec,
    conns: list[EchoConnection],
    connections: int,
    first: int,
    everything_lost: asyncio.Event,
) -> WorkerResult:
    """Closed loop until every connection has sent its share of `spec.requests` and had it
    answered: a fixed amount of work, for per-request counts (`bench explain`)."""
    clock = CpuClock(spec.server_pid if first == 0 else None)
    for connection in conns:
        connection.start_window()
        connection.start()
    deadline = time.monotonic() + COUNTED_LIMIT_S
    while not everything_lost.is_set() and time.monotonic() < deadline:
        if all(c.closing or (not c.budget and not c.in_flight) for c in conns):
            break
        await asyncio.sleep(0.001)
    result = WorkerResult(connections=connections)
    clock.stop(result)
    result.latency = stats.record(connection.take_latencies()[0] for connection in conns)
    result.requests = sum(connection.replies for connection in conns)
    result.errors = [c.error for c in conns if c.error]
    if result.requests < (spec.requests or 0) and not result.errors:
        result.errors.append(
            f"only {result.requests} of {spec.requests} echoes within {COUNTED_LIMIT_S:g} s"
        )
    close_all(conns)
    return result


def close_all(conns: list[EchoConnection]) -> None:
    for connection in conns:
        if not connection.closing:
            connection.close()


async def drain(conns: list[EchoConnection], seconds: float) -> list[tuple[array, array]]:
    """Send nothing more and wait up to `seconds` for the replies in flight; return, per
    connection, the latencies (and intended ones) of those that never came, as of the end
    of the wait."""
    for connection in conns:
        connection.stop_sending()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(c.in_flight for c in conns if not c.closing):
        await asyncio.sleep(0.001)
    now = perf_counter_ns()
    return [connection.give_up(now) for connection in conns if not connection.closing]
