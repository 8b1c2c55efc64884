"""Runs a load: connect, warm up, measure one window, and merge the workers' results."""

import asyncio
import multiprocessing
import threading
import time
from array import array
from dataclasses import dataclass, field
from time import perf_counter_ns

import psutil

from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError
from aionetbench.loops import loop_factory
from aionetbench.tls import client_context
from clients import stats
from clients.connection import EchoConnection, WsHandshake
from clients.workload import Workload, build_workload
from clients.wsframes import ws_workload

# Open loop: when the next message is due sooner than this, keep the loop spinning instead of
# sleeping, because both loops sleep in whole milliseconds and the oversleep would be
# measured as latency. So open-loop clients use a full core by design.
SPIN_BELOW_S = 0.002

# Connection i starts at message i * STRIDE of the cycle, so no two connections send the same
# bytes at the same time and a reply crossing connections is caught.
STRIDE = 7
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class LoadSpec:
    protocol: str  # "tcp" or "ws"
    endpoint: Endpoint
    tls: bool = False
    loop: str = "asyncio"
    size: int = 1024
    concurrency: int = 10
    pipeline: int = 1
    duration: float = 5.0
    warmup: float = 1.0
    rate: float | None = None  # messages per second over all connections: open loop
    workers: int = 1
    server_pid: int | None = None  # when set, the server's CPU time is measured over the window


@dataclass
class WorkerResult:
    """One worker's measured window."""

    connections: int = 0
    requests: int = 0
    window_s: float = 0.0
    cpu_s: float = 0.0
    latency: stats.Recorded | None = None
    lag: stats.Recorded | None = None  # open loop: how late each tick sent its messages
    scheduled: int = 0
    sent: int = 0
    server_cpu_s: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.window_s if self.window_s else 0.0

    @property
    def cpu(self) -> float:
        """CPU seconds per wall second over the window: 1.0 is a whole core."""
        return self.cpu_s / self.window_s if self.window_s else 0.0


class CpuClock:
    """CPU seconds (user + system) of this process and, optionally, of the server's."""

    def __init__(self, server_pid: int | None) -> None:
        self.server = psutil.Process(server_pid) if server_pid else None

    def read(self) -> tuple[float, float | None]:
        if self.server is None:
            return time.process_time(), None
        try:
            times = self.server.cpu_times()
        except psutil.Error:  # the server died; the run reports it as connection errors
            return time.process_time(), None
        return time.process_time(), times.user + times.system


class OpenLoopSchedule:
    """Sends at a constant rate, round-robin over connections, stamping each message with the
    time it was due (not when it went out), so client lag and server stalls both count."""

    def __init__(self, connections: list[EchoConnection], rate: float) -> None:
        self.connections = connections
        self.interval_ns = 1e9 / rate
        self.sent = 0
        self.lags = array("q")  # per tick: how late the oldest due message went out
        self.started_ns = 0
        self.timer: asyncio.Handle | None = None

    def due(self, now_ns: int) -> int:
        return int((now_ns - self.started_ns) / self.interval_ns) + 1

    def start(self) -> None:
        self.started_ns = perf_counter_ns()
        self.tick()

    def tick(self) -> None:
        now = perf_counter_ns()
        due = self.due(now)
        if due > self.sent:
            self.lags.append(now - self.started_ns - int(self.sent * self.interval_ns))
        connections, count = self.connections, len(self.connections)
        while self.sent < due:
            connection = connections[self.sent % count]
            if not connection.closing:
                connection.send(self.started_ns + int(self.sent * self.interval_ns))
            self.sent += 1
        next_ns = self.started_ns + self.sent * self.interval_ns
        delay = (next_ns - perf_counter_ns()) / 1e9
        loop = asyncio.get_running_loop()
        if delay < SPIN_BELOW_S:
            self.timer = loop.call_soon(self.tick)
        else:
            self.timer = loop.call_later(delay - SPIN_BELOW_S / 2, self.tick)

    def stop(self) -> None:
        if self.timer:
            self.timer.cancel()


def workload_for(spec: LoadSpec) -> Workload:
    return ws_workload(spec.size) if spec.protocol == "ws" else build_workload(spec.size)


async def connect(
    spec: LoadSpec, workload: Workload, first_message: int, on_lost
) -> EchoConnection:
    loop = asyncio.get_running_loop()
    depth = 0 if spec.rate else spec.pipeline
    connection = EchoConnection(workload, first_message, depth, on_lost)
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
            factory, spec.endpoint.host, spec.endpoint.port, ssl=ssl
        )
    if isinstance(protocol, WsHandshake):
        leftover = await protocol.done
        transport.set_protocol(connection)
        connection.connection_made(transport)
        if leftover:
            connection.data_received(leftover)
    return connection


async def connect_all(spec: LoadSpec, workload: Workload, count: int, first: int, on_lost):
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            return await asyncio.gather(
                *(connect(spec, workload, (first + i) * STRIDE, on_lost) for i in range(count))
            )
    except TimeoutError:
        raise UsageError(f"cannot connect to {spec.endpoint}: timed out") from None
    except OSError as error:
        raise UsageError(f"cannot connect to {spec.endpoint}: {error.strerror or error}") from None
    except Exception as error:  # a refused WebSocket upgrade, a broken TLS handshake
        raise UsageError(f"cannot connect to {spec.endpoint}: {error}") from None


async def run_worker(
    spec: LoadSpec, connections: int, first: int, rate: float | None, barrier=None
) -> WorkerResult:
    """Connect, warm up, then measure one window; ends early if every connection is lost."""
    everything_lost = asyncio.Event()
    conns: list[EchoConnection] = []

    def on_lost() -> None:
        if all(c.closing for c in conns):
            everything_lost.set()

    conns[:] = await connect_all(spec, workload_for(spec), connections, first, on_lost)
    if barrier is not None:
        barrier.wait(timeout=60)  # all workers connected: start together
    schedule = OpenLoopSchedule(conns, rate) if rate else None
    if schedule:
        schedule.start()
    else:
        for connection in conns:
            connection.start()

    async def wait(seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await everything_lost.wait()
        except TimeoutError:
            pass

    await wait(spec.warmup)
    for connection in conns:
        connection.take_latencies()  # warm-up is discarded
    lags_before = len(schedule.lags) if schedule else 0
    sent_before = schedule.sent if schedule else 0
    clock = CpuClock(spec.server_pid if first == 0 else None)  # one worker measures the server
    started_ns, (cpu_before, server_before) = perf_counter_ns(), clock.read()
    await wait(spec.duration)
    ended_ns, (cpu_after, server_after) = perf_counter_ns(), clock.read()
    samples = [connection.take_latencies() for connection in conns]
    result = WorkerResult(
        connections=connections,
        requests=sum(map(len, samples)),
        window_s=(ended_ns - started_ns) / 1e9,
        cpu_s=cpu_after - cpu_before,
        errors=[c.error for c in conns if c.error],
    )
    if server_before is not None and server_after is not None:
        result.server_cpu_s = server_after - server_before
    if schedule:
        schedule.stop()
        result.scheduled = schedule.due(ended_ns) - schedule.due(started_ns)
        result.sent = schedule.sent - sent_before
        result.lag = stats.record([schedule.lags[lags_before:]])
    for connection in conns:
        if not connection.closing:
            connection.close()
    result.latency = stats.record(samples)
    return result


def run_in_process(spec: LoadSpec, connections: int, first: int, rate, barrier=None):
    with asyncio.Runner(loop_factory=loop_factory(spec.loop)) as runner:
        return runner.run(run_worker(spec, connections, first, rate, barrier))


def _worker_main(spec, connections, first, rate, barrier, results) -> None:
    try:
        results.put((first, run_in_process(spec, connections, first, rate, barrier)))
    except UsageError as error:
        barrier.abort()
        results.put((first, error))
    except threading.BrokenBarrierError:
        results.put((first, None))  # another worker failed and says why
    except KeyboardInterrupt:
        barrier.abort()


def split(total: int, parts: int) -> list[int]:
    """Split `total` connections as evenly as possible over `parts` workers."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def run(spec: LoadSpec) -> list[WorkerResult]:
    """Run the load on `spec.workers` processes (in this one when 1) and return their results."""
    loop_factory(spec.loop)  # an unusable loop is a usage error before anything starts
    shares = split(spec.concurrency, spec.workers)
    rates = [spec.rate * share / spec.concurrency if spec.rate else None for share in shares]
    firsts = [sum(shares[:i]) for i in range(len(shares))]
    if spec.workers == 1:
        return [run_in_process(spec, shares[0], 0, rates[0])]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(spec.workers), context.Queue()
    processes = [
        context.Process(target=_worker_main, args=(spec, share, first, rate, barrier, results))
        for share, first, rate in zip(shares, firsts, rates, strict=True)
    ]
    for process in processes:
        process.start()
    try:
        deadline = CONNECT_TIMEOUT + spec.warmup + spec.duration + 60
        collected = dict(results.get(timeout=deadline) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    for outcome in collected.values():
        if isinstance(outcome, UsageError):
            raise outcome
    return [collected[first] for first in firsts]
