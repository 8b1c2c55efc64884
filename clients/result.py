"""The load generator's output: the workers' windows merged into a Summary, and a short
table for people."""

import math

from clients import stats
from clients.spec import LoadSpec
from clients.summary import Latency, Schedule, ServerCost, Summary, Waits, WorkerShare
from clients.window import LATE_NS, ServerUsage, WorkerResult

MIB = 1024 * 1024
CLIENT_BOUND_CPU = 0.9  # CPU seconds per wall second of one worker that mean "client-bound"
# ...unless the server's core was this busy too: then the server had no more to give, and
# the rate is its own (a load generator as fast per request as the server is busy too).
SERVER_FULL_CPU = 0.95
BEHIND_SHARE = 0.99  # open loop: sending fewer than this share of due messages is falling behind
# Open loop: a client late by more than this for over a tenth of its messages (its lateness
# p90), and by more than this share of the p99 latency, was steadily behind its schedule,
# not in a stall (the stalls are the late share). A few late messages do not lower the
# offered load, nor matter against a 200 ms stall.
BEHIND_LAG_US = 100.0
BEHIND_LAG_SHARE = 0.1
# Open loop: past this share of its messages sent in a stall of the client (LATE_NS late,
# and so in a burst the schedule never asked for), the arrivals the server saw were not the
# schedule's. Up to it the stall's messages are at most half the p99's 1%: whatever their
# latencies, the p99 lies between the p99 and the p99.5 of the messages sent on time. Past it
# the point is measured again (bench.measure.sweep), and if it stays, it is client-limited.
STALL_SHARE = 0.005


def summarize(spec: LoadSpec, results: list[WorkerResult], generator: str = "python") -> Summary:
    """Merge the workers' windows into the summary the orchestrator reads; `generator` is
    which load generator measured them (the native one has no asyncio loop: `epoll`)."""
    duration = sum(r.window_s for r in results) / len(results)
    rps = sum(r.rps for r in results)
    requests = sum(r.requests for r in results)
    errors = [error for r in results for error in r.errors]
    latency = Latency(**stats.summary_us(r.latency for r in results if r.latency))  # type: ignore[arg-type]
    samples = sum(r.latency.count for r in results if r.latency)
    server = next((r.server for r in results if r.server is not None), None)
    schedule = open_loop_schedule(spec, results, duration, latency) if spec.rate else None
    server_full = server is not None and duration > 0 and server.cpu_s / duration >= SERVER_FULL_CPU
    client_bound = any(r.cpu >= CLIENT_BOUND_CPU for r in results) and not server_full
    if schedule is not None:
        # An open-loop client spins between sends by design, so its CPU says nothing;
        # whether it kept to its schedule does.
        client_bound = schedule.fell_behind or schedule.client_stalled
    return Summary(
        protocol=spec.protocol,
        endpoint=str(spec.endpoint),
        tls=spec.tls,
        loop=spec.loop if generator == "python" else "epoll",
        generator=generator,
        size=spec.size,
        concurrency=spec.concurrency,
        pipeline=spec.pipeline,
        workers=spec.workers,
        mode="open" if spec.rate else "closed",
        requests=requests,
        duration_s=duration,
        rps=rps,
        mib_s=rps * spec.size / MIB,
        errors=len(errors),
        error_messages=errors[:10],
        client_cpu=sum(r.cpu for r in results),
        client_cpu_us_per_request=per_request_us(sum(r.cpu_s for r in results), requests),
        client_bound=client_bound,
        latency=latency,
        latency_samples=samples,
        undelivered=sum(r.undelivered for r in results),
        per_worker=[
            WorkerShare(
                r.connections, r.requests, r.rps, r.cpu, r.latency.histogram if r.latency else ""
            )
            for r in results
        ],
        server=None if server is None else server_cost(server, duration, requests),
        schedule=schedule,
        slices=results[0].slices if results else 1,
        waits=waits(results, server),
        window_ns=[min(r.started_ns for r in results), max(r.ended_ns for r in results)]
        if results
        else [],
        silent_s=max((r.silent_s for r in results), default=0.0),
        intended_latency=Latency(**stats.summary_us(r.intended for r in results if r.intended))  # type: ignore[arg-type]
        if spec.rate
        else None,
        kernel_timed=sum(r.timed for r in results) / samples if samples else 0.0,
        realtime_share=sum(r.realtime_s for r in results) / (duration * len(results))
        if duration
        else 0.0,
        churn=spec.churn or 0,
        connections_opened=sum(r.opened for r in results),
        tls_resumed=sum(r.resumed for r in results),
        cps=sum(r.opened / r.window_s for r in results if r.window_s),
    )


def waits(results: list[WorkerResult], server: ServerUsage | None) -> Waits:
    """The workers' and the server's waits for a CPU, and steal, over the window (ms); the
    machine's steal once (every worker reads the same counter)."""
    return Waits(
        server_wait_ms=1000 * server.run_delay_s if server else 0.0,
        client_wait_ms=1000 * sum(r.own_wait_s for r in results),
        client_involuntary=sum(r.own_involuntary for r in results),
        steal_ms=1000 * max((r.steal_s for r in results), default=0.0),
    )


def server_cost(server: ServerUsage, duration: float, requests: int) -> ServerCost:
    def per_request(count: int) -> float:
        return count / requests if requests else 0.0

    return ServerCost(
        cpu=server.cpu_s / duration,
        cpu_us=per_request_us(server.cpu_s, requests),
        user_us=per_request_us(server.user_s, requests),
        system_us=per_request_us(server.system_s, requests),
        voluntary_switches=per_request(server.voluntary),
        involuntary_switches=per_request(server.involuntary),
    )


def open_loop_schedule(
    spec: LoadSpec, results: list[WorkerResult], duration: float, latency: Latency
) -> Schedule:
    """How the workers kept to their schedule, and whether the client made the tail."""
    sent = sum(r.sent for r in results)
    scheduled = sum(r.scheduled for r in results)
    lag = stats.summary_us(r.lag for r in results if r.lag)
    lag_matters = lag["p90"] > max(BEHIND_LAG_US, BEHIND_LAG_SHARE * latency.p99)  # type: ignore[operator]
    share = late_share(results, sent)
    low, high = p99_interval_us(results)
    return Schedule(
        target_rate=spec.rate or 0.0,
        arrivals=spec.arrivals,
        p99_ci_us=(low, high),
        achieved_rate=sum(r.rps for r in results),
        sent_rate=sent / duration if duration else 0.0,
        scheduled_rate=scheduled / duration if duration else 0.0,
        lag_p50_us=lag["p50"],  # type: ignore[arg-type]
        lag_p99_us=lag["p99"],  # type: ignore[arg-type]
        lag_max_us=lag["max"],  # type: ignore[arg-type]
        fell_behind=sent < BEHIND_SHARE * scheduled or lag_matters,
        late_share=share,
        client_stalled=share > STALL_SHARE,
    )


def late_share(results: list[WorkerResult], sent: int) -> float:
    """The share of the messages sent that the client sent LATE_NS or more after they were
    due: in a stall of its own."""
    late = stats.count_at_least((r.lag for r in results if r.lag), LATE_NS)
    return late / sent if sent else 0.0


def p99_interval_us(results: list[WorkerResult]) -> tuple[float | None, float | None]:
    """The p99's 95% confidence interval in us, from the workers' time blocks merged by
    index (block i of every worker covers the same slice of the window); None if unknown."""
    blocks = [stats.Counts.merge(parts) for parts in zip(*(r.blocks for r in results), strict=True)]
    low, high = stats.percentile_interval(blocks, 99.0)
    return (None if math.isnan(low) else low / 1000, None if math.isnan(high) else high / 1000)


def timed_by(summary: Summary) -> str:
    """Who timed the replies' arrival: the kernel, the client's reads, or both."""
    if summary.kernel_timed >= 1:
        return "kernel timestamps"
    if summary.kernel_timed <= 0:
        return "timed when read, no kernel timestamps"
    return f"kernel timestamps for {summary.kernel_timed:.1%}, the rest when read"


def per_request_us(cpu_s: float, requests: int) -> float:
    return cpu_s / requests * 1e6 if requests else 0.0


def format_table(summary: Summary) -> str:
    """A few aligned lines: what ran, throughput, latency, client CPU, and any warnings."""
    latency, schedule = summary.latency, summary.schedule
    unit = "conn/s" if summary.churn else "msg/s"
    mode = (
        f"open loop at {schedule.target_rate:,.0f} {unit}"
        if schedule
        else f"closed loop, depth {summary.pipeline}"
    )
    if summary.churn:
        mode += f", {summary.churn} message(s) per connection"
    timed = (
        "from connect to the first echo" if summary.churn else "from send to the reply's arrival"
    )
    lines = [
        f"{summary.protocol} {summary.endpoint}{' (TLS)' if summary.tls else ''}, "
        f"{summary.loop if summary.generator == 'python' else summary.generator} client "
        f"x {summary.workers} worker(s)",
        f"{summary.size} B x {summary.concurrency} connections, {mode}, "
        f"{summary.duration_s:.2f} s measured",
        f"  requests   {summary.requests:,}  ({summary.errors} errors)",
        f"  throughput {summary.rps:,.0f} req/s  {summary.mib_s:,.1f} MiB/s",
        *(
            [
                f"  churn      {summary.connections_opened:,} connections, {summary.cps:,.0f} conn/s"
                + (f", {summary.tls_resumed:,} TLS sessions resumed" if summary.tls else "")
            ]
            if summary.churn
            else []
        ),
        "  latency us "
        + "  ".join(f"{k} {latency.at(k):,.1f}" for k in ("p50", "p90", "p99", "p999", "max"))
        + f"  ({timed}: {timed_by(summary)})",
        f"  client CPU {summary.client_cpu:.2f} cores, {summary.client_cpu_us_per_request:.2f} us/request",
    ]
    if summary.server:
        per_connection = (
            f", {summary.server_cpu_us_per_connection:.1f} us/connection" if summary.churn else ""
        )
        lines.append(
            f"  server CPU {summary.server.cpu:.2f} cores, {summary.server.cpu_us:.2f} us/request"
            + per_connection
        )
    if schedule:
        low, high = schedule.p99_ci_us
        interval = f"{low:,.1f}-{high:,.1f}" if low is not None and high is not None else "unknown"
        lines.append(
            f"  achieved   {schedule.achieved_rate:,.0f} replies/s, sent {schedule.sent_rate:,.0f} msg/s"
            f" ({schedule.arrivals}), schedule lag p99 {schedule.lag_p99_us:,.0f} us"
        )
        lines.append(
            f"  p99 95% CI {interval} us; {summary.undelivered} of {summary.latency_samples:,} "
            "messages unanswered after the drain"
        )
        if intended := summary.intended_latency:
            lines.append(
                "  intended   "
                + "  ".join(f"{k} {intended.at(k):,.1f}" for k in ("p50", "p99", "max"))
                + " us (from when each was due to its reply's read, as wrk2)"
            )
        lines.append(
            f"  client     {schedule.late_share:.2%} of messages sent in a stall of its own; "
            f"real-time priority {summary.realtime_share:.0%} of the window"
        )
        if schedule.fell_behind:
            lines.append(
                "WARNING: the client fell behind its schedule; the offered load was lower than asked"
            )
        elif schedule.client_stalled:
            lines.append(
                f"WARNING: the client stalled: {schedule.late_share:.1%} of the messages went "
                "out late enough to make the tail its own, not the server's"
            )
    if summary.client_bound and not schedule:
        lines.append(
            "WARNING: client-bound: a worker used >= 90% of a core, so this measures the client, "
            "not the server; add --workers or lower the load"
        )
    lines.extend(f"ERROR: {message}" for message in summary.error_messages)
    return "\n".join(lines)
