"""The options every measuring command shares, and the checks made before anything runs:
the plan is sound, its servers are built, its paths can be made, its output can be written."""

import argparse
import math
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from aionetbench.argtypes import (
    list_of,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from aionetbench.cpus import split_cpus
from aionetbench.errors import UsageError
from aionetbench.loops import loop_argument
from bench.hosts.address import DEFAULT_DIR
from bench.measure.netns import PATHS, check_paths
from bench.measure.run import Pinning
from bench.plan.cells import LOOPBACK, TRANSPORTS
from bench.plan.profiles import AUTO, PROFILES, WORKLOADS, Plan, make_plan
from clients.arrivals import ARRIVALS
from clients.contract import Clients, python_generator
from clients.native import native_generator
from clients.spec import MAX_SIZE, OPTIONS
from servers import SERVERS

if TYPE_CHECKING:  # asyncssh is loaded only by runs across hosts
    from bench.measure.remote import Lab

CLIENTS = ("native", "python")


def add_plan_options(parser: argparse.ArgumentParser, default_output: Path) -> None:
    """What to run: a profile, overrides of its matrix, pinning and where results go."""
    add_matrix_options(parser)
    add_timing_options(parser)
    parser.add_argument(
        "--server-cpus",
        type=positive_int,
        default=1,
        help="CPUs pinned to the server; the client gets the rest (default %(default)s)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=default_output, help="default %(default)s"
    )
    add_force_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar (for CI)")


def add_force_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force", action="store_true", help="replace an output file that is read-only"
    )


def add_matrix_options(parser: argparse.ArgumentParser) -> None:
    """Which cells: the profile and what overrides its matrix."""
    parser.add_argument("--profile", choices=PROFILES, default="quick", help="default %(default)s")
    parser.add_argument("--apis", type=list_of(str, tuple(SERVERS)), help="e.g. protocol,streams")
    parser.add_argument("--loops", type=list_of(loop_argument), help="server loops, e.g. uvloop")
    add_client_option(parser)
    parser.add_argument(
        "--client-loop", type=loop_argument, help="the Python load generator's loop"
    )
    parser.add_argument("--transport", choices=TRANSPORTS, help="tcp, unix or tls")
    parser.add_argument(
        "--network",
        type=list_of(str, PATHS),
        metavar="LIST",
        help="paths between load generator and server, each its own cells: loopback "
        "(default), veth (two network namespaces, MTU 1500), gbit (veth at 1 Gbit/s each way), "
        "lan / wan (veth with 0.1 / 10 ms netem delay each way; need sch_netem). All but "
        "loopback need root",
    )
    parser.add_argument(
        "--sizes",
        type=list_of(OPTIONS["size"].type),  # the load spec's own bounds
        help=f"payload bytes, e.g. 1024,102400 (at most {MAX_SIZE:,})",
    )
    parser.add_argument(
        "--concurrency", type=list_of(positive_int), help="connections, e.g. 1,10,100"
    )
    parser.add_argument(
        "--pipeline", type=list_of(positive_int), help="messages in flight per connection"
    )
    parser.add_argument("--repeats", type=positive_int, help="runs per cell")
    parser.add_argument(
        "--workload",
        type=list_of(str, WORKLOADS),
        metavar="LIST",
        help="what the measured connections do, each its own cells: steady (they stay open; "
        "default), churn (each exchanges --churn-messages messages, closes, and a new one opens, "
        "with its TLS handshake where TLS: connections/s, open-loop rates in new connections/s, "
        "latency from connect to the first echo), idle (--idle-connections silent connections "
        "held open beside them, measured open loop at --fixed-rate msg/s: latency, CPU and "
        "server memory per idle connection), slow (--slow-readers connections beside them that "
        "send fast and read slowly, at --fixed-rate: latency against the same load alone, and "
        "the server's memory growth). All but steady need the native load generator",
    )
    parser.add_argument(
        "--idle-connections",
        type=list_of(non_negative_int),
        metavar="LIST",
        help="with --workload idle: idle connection counts, each its own cells (default "
        "0,100,1000,10000; 0 is the same load without any)",
    )
    parser.add_argument(
        "--slow-readers",
        type=positive_int,
        metavar="K",
        help="with --workload slow: connections that send up to 8 MiB/s each and read at "
        "16 KiB/s, beside the measured ones (default 4)",
    )
    parser.add_argument(
        "--fixed-rate",
        type=positive_float,
        metavar="MSG_S",
        help="with --workload idle or slow: the open-loop load their cells are measured at "
        "(default 2000)",
    )
    parser.add_argument(
        "--churn-messages",
        type=positive_int,
        metavar="N",
        help="with --workload churn: messages per connection (default 1)",
    )


def add_timing_options(parser: argparse.ArgumentParser) -> None:
    """How long each run and sweep point lasts, the sweep's loads, and the objective."""
    parser.add_argument("--duration", type=positive_float, help="measured seconds per run")
    parser.add_argument(
        "--warmup", type=non_negative_float, help="discarded seconds before each window"
    )
    parser.add_argument(
        "--rates",
        type=rates_arg,
        metavar="LIST|auto|none",
        help="open-loop sweep after the matrix: offered loads in messages/s (e.g. 1000,5k,20k), "
        "or auto: one ladder for all cells from the capacities just measured, 20%% of the "
        "slowest to 110%% of the fastest (quick and full default to auto)",
    )
    parser.add_argument(
        "--arrivals",
        choices=ARRIVALS,
        help="sweep arrivals: poisson (default; as mutilate and Lancet) or uniform (as wrk2)",
    )
    parser.add_argument(
        "--sweep-duration", type=positive_float, help="measured seconds per sweep point"
    )
    parser.add_argument(
        "--sweep-warmup", type=non_negative_float, help="discarded seconds before each point"
    )
    parser.add_argument(
        "--sweep-cap",
        type=non_negative_float,
        metavar="S",
        help="a point measures further slices of --sweep-duration until its p99's 95%% interval "
        "is within +-10%%, up to S measured seconds (quick: 1; 0 or at most --sweep-duration: "
        "one slice)",
    )
    parser.add_argument(
        "--sweep-only",
        type=list_of(sweep_entry),
        metavar="API[/LOOP],...",
        help="the cells the sweep climbs, by API or API/LOOP (quick: websockets/asyncio, "
        "websockets/uvloop unless --apis names others; the others: every cell)",
    )
    parser.add_argument(
        "--sweep-processes",
        type=positive_int,
        metavar="N",
        help="fresh server processes that climb each swept cell, in shuffled order (quick and "
        "slo: 3); SLO capacity is their median, with their lowest and highest",
    )
    parser.add_argument(
        "--sweep-budget",
        type=positive_int,
        metavar="N",
        help="measurements one server process may take in all (quick: 12; others: no limit); "
        "once spent, no point is measured again and the knee search stops (it may then be "
        "unresolved)",
    )
    parser.add_argument(
        "--slo-p99",
        type=positive_float,
        metavar="MS",
        help="the latency objective for SLO capacity in the report (default 1 ms)",
    )


def sweep_entry(text: str) -> str:
    """An API, or API/LOOP, of the cells to sweep."""
    if text.split("/")[0] not in SERVERS or text.count("/") > 1:
        raise argparse.ArgumentTypeError(
            f"expected API or API/LOOP (APIs: {', '.join(SERVERS)}), got {text!r}"
        )
    return text


def rates_arg(text: str) -> tuple[float, ...] | str:
    """`auto`, `none`, or positive messages/s separated by commas (`k` means thousands)."""
    if text.strip() in (AUTO, "none"):
        return AUTO if text.strip() == AUTO else ()

    def rate(item: str) -> float:
        scale = 1000 if item.lower().endswith("k") else 1
        try:
            value = float(item[:-1] if scale == 1000 else item) * scale
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a rate: {item!r}") from None
        if not math.isfinite(value) or value < 1:
            raise argparse.ArgumentTypeError(f"rates must be at least 1 message/s, got {item!r}")
        return value

    return tuple(sorted(set(list_of(rate)(text))))


def add_echo_count_options(parser: argparse.ArgumentParser, requests: int) -> None:
    """The size and number of the echoes a per-request count is made of."""
    parser.add_argument(
        "--size", type=positive_int, default=1024, help="payload bytes (default %(default)s)"
    )
    parser.add_argument(
        "--requests", type=positive_int, default=requests, help="N (default %(default)s)"
    )


def check_workload_options(args: argparse.Namespace) -> None:
    """Each workload's own options only with that workload named (a profile's own are kept)."""
    named = args.workload or ()
    for option, workloads in (("churn_messages", {"churn"}), ("idle_connections", {"idle"}),
                              ("slow_readers", {"slow"}), ("fixed_rate", {"idle", "slow"})):  # fmt: skip
        if getattr(args, option) is not None and not workloads & set(named):
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} goes with --workload {' or '.join(sorted(workloads))}")


def plan_from(args: argparse.Namespace) -> Plan:
    return make_plan(
        args.profile,
        apis=args.apis,
        loops=args.loops,
        client_loop=args.client_loop,
        transports=(args.transport,) if args.transport else None,
        networks=args.network,
        sizes=args.sizes,
        concurrency=args.concurrency,
        pipeline=args.pipeline,
        workloads=args.workload,
        churn_messages=args.churn_messages,
        idle_connections=args.idle_connections,
        slow_readers=args.slow_readers,
        fixed_rate=args.fixed_rate,
        repeats=args.repeats,
        duration=args.duration,
        warmup=args.warmup,
        rates=args.rates,
        arrivals=args.arrivals,
        sweep_duration=args.sweep_duration,
        sweep_warmup=args.sweep_warmup,
        sweep_cap=args.sweep_cap,
        slo_p99_ms=args.slo_p99,
        # APIs named by hand are swept unless the sweep's own are named too.
        sweep_only=args.sweep_only or (() if args.apis else None),
        sweep_processes=args.sweep_processes,
        sweep_budget=args.sweep_budget,
    )


def add_client_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--client",
        choices=CLIENTS,
        help="the load generator: native (C, clients/native; TLS cells use the Python one "
        "where it was built without OpenSSL) or python; default native wherever it was built",
    )


def clients_from(choice: str | None) -> Clients:
    """The load generators for `--client`: native wherever it is built and can, else Python."""
    python, native = python_generator(), native_generator()
    if choice == "python":
        return Clients(python, python)
    if native is None:
        if choice == "native":
            raise UsageError("the native load generator is not built: run `make native`")
        print(
            "bench: the native load generator is not built (no C compiler?): the Python one "
            "measures every cell",
            file=sys.stderr,
        )
        return Clients(python, python)
    return Clients(native, python)


def add_host_options(parser: argparse.ArgumentParser) -> None:
    """Other hosts to run on, over SSH (docs/hosts.md)."""
    parser.add_argument(
        "--server-host",
        metavar="[USER@]HOST[:PORT]",
        help="run the servers on this host, over SSH (needs --client-host)",
    )
    parser.add_argument(
        "--client-host",
        action="append",
        metavar="[USER@]HOST[:PORT]",
        help="run the native load generator on this host; repeat for several (each takes an "
        "equal share of the connections and of the rate)",
    )
    parser.add_argument(
        "--remote-dir",
        default=f"~/{DEFAULT_DIR}",
        metavar="DIR",
        help="the suite on every host, as `bench hosts setup` made it (default %(default)s)",
    )


def lab_from(args: argparse.Namespace, plan: Plan) -> "Lab | None":
    """The hosts the options name, connected and checked (one line and exit 2 if a host
    cannot run its part), or None to run on this machine."""
    if not args.server_host and not args.client_host:
        return None
    if not args.server_host or not args.client_host:
        raise UsageError("--server-host and --client-host go together (this machine can be "
                         "a client host too: give its address, with sshd running)")  # fmt: skip
    if plan.networks != (LOOPBACK,):
        raise UsageError("--network shapes a path on this machine: not with --server-host")
    if args.pythons:
        raise UsageError("--pythons picks this machine's interpreters: not with --server-host")
    if args.client == "python":
        raise UsageError("across hosts the native load generator measures: not --client python")
    from bench.measure.remote import open_lab

    return open_lab(args.server_host, args.client_host, args.remote_dir, args.server_cpus)


def pinning_from(args: argparse.Namespace, quietest: int | None = None) -> Pinning:
    """The server on the first `--server-cpus` CPUs and the load generator on the rest; with
    one server CPU and a `quietest` one (bench.measure.system, over two CPUs), that one."""
    try:
        server_cpus, client_cpus = split_cpus(args.server_cpus)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if quietest is not None and args.server_cpus == 1:
        client_cpus = (server_cpus | client_cpus) - {quietest}
        server_cpus = {quietest}
    return Pinning(
        frozenset(server_cpus), frozenset(client_cpus), clients=clients_from(args.client)
    )


def without_unbuilt(plan: Plan) -> Plan:
    """The plan without the cells of servers whose native program is not built (one line)."""
    unbuilt = [
        api
        for api in plan.apis
        if (binary := SERVERS[api].binary) is not None and not os.access(binary, os.X_OK)
    ]
    for api in unbuilt:
        print(
            f"bench: the {api} server is not built (`make native` needs a C compiler); its cells are skipped",
            file=sys.stderr,
        )
    return replace(plan, apis=tuple(api for api in plan.apis if api not in unbuilt))


def checked_plan(args: argparse.Namespace) -> Plan:
    """The plan the options ask for, after every check that can fail before a run."""
    check_workload_options(args)
    plan = without_unbuilt(plan_from(args))
    if set(plan.transports) == {"unix"} and LOOPBACK not in plan.networks:
        raise UsageError("a Unix socket crosses no network: use --network with tcp or tls")
    check_paths(plan.networks)  # root, iproute2 and netem, before anything is written or run
    if not plan.cells:
        raise UsageError("the plan has no cells (is every API unsupported on this transport?)")
    if plan.rates and plan.sweep_only and not plan.sweep_cells:
        raise UsageError(f"--sweep-only {','.join(plan.sweep_only)} names none of the plan's cells")
    if set(plan.workloads) - {"steady"} and (args.client == "python" or native_generator() is None):
        raise UsageError(
            "--workload churn, idle and slow are measured by the native load generator (`make "
            "native`), not --client python"
        )
    return plan
