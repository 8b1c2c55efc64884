"""`bench report`: a Markdown report and its PNG figures from any results file."""

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.analyse.order import ordered_apis, ordered_loops
from bench.analyse.ranking import SERVER_CPU, deciding_metric, margin, rank
from bench.plan.cells import LOOPBACK, version_key
from bench.report.by_loop import loop_section
from bench.report.by_network import network_section
from bench.report.by_python import labels_of, python_section, reference_python, view
from bench.report.churn import churn_section
from bench.report.idle import idle_section
from bench.report.latency_load import cell_capacities, latency_section
from bench.report.plots import matrix as plots
from bench.report.slow import slow_section
from bench.report.text import spread
from bench.report.why import why_section
from bench.store.explained import Explained
from bench.store.reader import CellResults, Results, load_results, server_line
from bench.store.records import EnvironmentRecord

HEADLINE = {
    "transport": "tcp", "size": 1024, "concurrency": 10, "pipeline": 1, "network": LOOPBACK, "churn": 0
}  # fmt: skip
GroupKey = tuple[str, int, int, int, str, int]
EXPECTED_ORDER = ("protocol", "streams", "sockets")  # the folklore the report checks


def group_key(cell: CellResults) -> GroupKey:
    return (cell.transport, cell.size, cell.concurrency, cell.pipeline, cell.network, cell.churn)


def describe(key: GroupKey) -> str:
    transport, size, concurrency, pipeline, network, churn = key
    path = "" if network == LOOPBACK else f", over {network}"
    churned = f", each connection {churn} message(s) then closed" if churn else ""
    return f"{transport}, {size:,} B, {concurrency} connections, depth {pipeline}{path}{churned}"


def groups(cells: Sequence[CellResults]) -> dict[GroupKey, list[CellResults]]:
    grouped: dict[GroupKey, list[CellResults]] = {}
    for cell in cells:
        grouped.setdefault(group_key(cell), []).append(cell)
    return grouped


def headline_group(cells: Sequence[CellResults]) -> list[CellResults]:
    """The 1 KiB / 10 connections / TCP cells if present, else the first group."""
    grouped = groups(cells)
    wanted = tuple(HEADLINE.values())
    return grouped.get(wanted) or next(iter(grouped.values()))  # type: ignore[arg-type]


def ranking(cells: Sequence[CellResults]) -> list[str]:
    """Sentences: fastest API per loop and by how much (on the metric that can decide:
    bench.ranking), the expected order, uvloop's gain."""
    sentences = []
    for loop in ordered_loops(cells):
        on_loop = rank([c for c in cells if c.loop == loop])
        best, *rest = on_loop
        caveat = " (client-bound: it may be faster still)" if best.is_client_bound else ""
        comparisons = ", ".join(margin(best, c) for c in rest)
        decided = ""
        if rest and deciding_metric(best, rest[0]) == SERVER_CPU:
            decided = (
                f" Both {best.api} and {rest[0].api} were client-bound, so their req/s measured "
                "the load generator; server CPU per request, which it cannot cap, decided."
            )
        sentences.append(
            f"On **{loop}**, the fastest API is **{best.api}** at {best.median_rps:,.0f} req/s{caveat}"
            + (f": {comparisons}." if comparisons else ".")
            + decided
        )
        by_api = {c.api: c for c in on_loop}
        if all(api in by_api for api in EXPECTED_ORDER):
            ordered = [c.api for c in on_loop if c.api in EXPECTED_ORDER]
            holds = tuple(ordered) == EXPECTED_ORDER
            sentences.append(
                f"Protocol > Streams > raw sockets {'holds' if holds else 'does **not** hold'} on {loop}: "
                + ", ".join(f"{api} {by_api[api].median_rps:,.0f}" for api in EXPECTED_ORDER)
                + ("." if holds else f" (measured order: {' > '.join(ordered)}).")
            )
    by_key = {(c.api, c.loop): c for c in cells}
    pairs = [
        (api, by_key[(api, "uvloop")], by_key[(api, "asyncio")])
        for api in ordered_apis(cells)
        if (api, "uvloop") in by_key and (api, "asyncio") in by_key
    ]
    gains = [
        f"{api} {fast.median_rps / slow.median_rps:.2f}x"
        + ("*" if fast.is_client_bound and slow.is_client_bound else "")
        for api, fast, slow in pairs
    ]
    if gains:
        bound = any(g.endswith("*") for g in gains)
        note = (
            " (* both client-bound: the ratio of what the load generator reached, not of the servers)"
            if bound
            else ""
        )
        sentences.append("uvloop over asyncio, requests/s: " + ", ".join(gains) + "." + note)
    return sentences


def results_table(cells: Sequence[CellResults]) -> list[str]:
    rows = [
        "| cell | req/s median (min-max) | MiB/s | p50 us at saturation | p99 us at saturation | max us | server us/req | client-bound |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in cells:
        server = f"{statistics.median(c.server_us):.2f}" if c.server_us else "-"
        bound = f"{sum(c.client_bound)}/{len(c.client_bound)}" if any(c.client_bound) else "no"
        rows.append(
            f"| `{c.name}` | {spread(c.rps)} | {statistics.median(c.mib_s):,.1f} "
            f"| {statistics.median(c.percentiles_us['p50']):,.1f} | {statistics.median(c.percentiles_us['p99']):,.1f} "
            f"| {max(c.latency_max_us):,.0f} | {server} | {bound} |"
        )
    return rows


def clients_line(results: Results) -> str:
    """Which load generator measured how many cells (`native for 10 cells; python (uvloop)
    for 2`), and why the Python one ran when the native one was asked for."""
    counts = Counter(client for cell in results.cells for client in set(cell.clients))
    line = "; ".join(
        f"{client} for {n} cell{'s' if n > 1 else ''}" for client, n in counts.most_common()
    )
    env = results.environment
    if env.client == "native" and len(counts) > 1:
        line += " (the native one was built without TLS)"
    elif env.client == "python" and env.native_client == "not built":
        line += " (the native one was not built)"
    return line or "?"


def host_rows(env: EnvironmentRecord) -> list[tuple[str, str]]:
    """One row per host of a run across hosts (bench.measure.remote): what each one is."""
    if env.server_host is None:
        return []
    clients = (env.client_hosts or "").split(",")
    rows = []
    for host in json.loads(env.hosts or "[]"):
        role = " and ".join(
            name for name, is_it in (("server", host["host"] == env.server_host),
                                     ("load generator", host["host"] in clients)) if is_it
        )  # fmt: skip
        rows.append((f"{role} host `{host['host']}`",
                     f"{host.get('hostname')}: {host.get('cpu_model')}, {host.get('cores')} cores, "
                     f"kernel {host.get('kernel')}, Python {host.get('python')}, "
                     f"MTU {host.get('mtu') or '?'} towards the server"))  # fmt: skip
    return rows


def path_of(env: EnvironmentRecord) -> str:
    """Which path the rankings hold for, when not this machine's loopback."""
    if env.server_host is None or env.client_hosts is None:
        return ""
    return f", load from {env.client_hosts.replace(',', ' + ')} to {env.server_host}"


def environment_table(results: Results) -> list[str]:
    env = results.environment
    rows = [
        ("CPU", f"{env.cpu_model_name or '?'}, {env.cpu_count or '?'} cores"),
        ("pinning", env.pinning),
        *(
            (f"server Python{f' {label}' if label else ''}", server_line(server))
            for label, server in sorted(
                results.server_environments.items(), key=lambda item: version_key(item[0] or "0")
            )
        ),
        (
            "orchestrator Python / pyperf",
            f"{env.orchestrator_python_version} / {env.pyperf_version}",
        ),
        ("kernel", env.kernel),
        ("load generator", clients_line(results)),
        (
            "profile",
            f"{env.profile}: {env.warmup_s or '?'} s warm-up + {env.duration_s or '?'} s per run",
        ),
        ("suite commit", env.suite_commit),
        ("date", " to ".join(results.dates) if results.dates else "?"),
        *host_rows(env),
        *machine_rows(results),
    ]
    return ["| | |", "| --- | --- |", *(f"| {name} | {value} |" for name, value in rows)]


def machine_rows(results: Results) -> list[tuple[str, str]]:
    """What `bench system check` found before the run, and what could be tuned."""
    found = results.system
    if found is None:
        return []
    rows = [(f"machine before the run ({found.seconds:g} s)", "; ".join(found.lines()))]
    if tips := found.advice():
        rows.append(("could be tuned", "; ".join(tips)))
    return rows


def write_figures(cells: Sequence[CellResults], directory: Path) -> list[tuple[str, str]]:
    """Make the figures; return (caption, file name) pairs in report order."""
    headline = headline_group(cells)
    figures = [
        ("Throughput", "throughput.png", lambda p: plots.grouped_bars(
            headline, lambda c: c.rps, "requests/s (median, min-max)", f"Throughput ({describe(group_key(headline[0]))})", p, mark_client_bound=True)),
        ("uvloop speed-up", "speedup.png", lambda p: plots.speedup(headline, p)),
        ("Latency percentile spectrum at saturation", "latency-spectrum.png", lambda p: plots.latency_spectrum(headline, p)),
        ("Latency distribution at saturation", "latency-distribution.png", lambda p: plots.latency_boxes(headline, p)),
        ("Server CPU per request", "server-cpu.png", lambda p: plots.grouped_bars(
            [c for c in headline if c.server_us], lambda c: c.server_us, "server CPU us per request (median, min-max)", "Server CPU time per request (lower is better)", p)),
    ]  # fmt: skip
    cells = [c for c in cells if c.network == LOOPBACK]  # the lines against size: loopback's
    if len({c.size for c in cells}) > 1:
        figures.append(
            (
                "Throughput against size",
                "throughput-size.png",
                lambda p: plots.throughput_against(cells, "size", p),
            )
        )
    if len({c.concurrency for c in cells}) > 1:
        figures.append(
            (
                "Throughput against concurrency",
                "throughput-concurrency.png",
                lambda p: plots.throughput_against(cells, "concurrency", p),
            )
        )
    made = []
    for caption, name, draw in figures:
        draw(directory / name)
        made.append((caption, name))
    return made


def write_report(results_path: Path, directory: Path, slo_p99_ms: float | None = None) -> Path:
    results = load_results(results_path)
    if slo_p99_ms is not None:
        results.slo_p99_ms = slo_p99_ms
    directory.mkdir(parents=True, exist_ok=True)
    if not results.cells:  # `bench explain` alone
        return write_lines(directory, [
            "# aionetbench report", "", f"From `{results_path}`: `bench explain` only.", "",
            *why_section([Explained.from_json(row) for row in results.explained], directory),
        ])  # fmt: skip
    # With several server Pythons, the single-Python sections show the reference one.
    base = reference_python(
        results.cells,
        ""
        if results.environment.orchestrator_python_version == "?"
        else results.environment.orchestrator_python_version,
    )
    # Every cell when the run compared no Pythons; cells measured at a fixed load (idle
    # connections) rank nothing, and have their own section.
    shown = [c for c in view(results.cells, base) if not c.at_rate]
    on = (f", Python {base}" if base else "") + path_of(results.environment)
    lines = [
        "# aionetbench report",
        "",
        f"From `{results_path}`. Every figure is the median of interleaved repeats with its min-max spread; "
        "a client-bound run measured the load generator, not the server.",
        "",
    ]
    figures = write_figures(shown, directory) if shown else []
    # One curve per API and loop: the reference Python's, on loopback.
    on_loopback = [p for p in results.points if p.python in (base, "") and p.network == LOOPBACK]
    swept = replace(results, points=on_loopback)
    capacities = cell_capacities(swept)
    if shown:
        lines += ranking_lines(results, shown, base, on, capacities, directory)
    lines += idle_section(results.cells, directory)
    lines += slow_section(results.cells)
    lines += [
        "## Results (closed loop)",
        "",
        *results_table(results.cells),
        "",
        "Closed-loop latencies are at saturation: each connection waits for its reply before "
        "sending again, so mean latency = connections x depth / throughput (Little's law) and "
        "they restate throughput. Latency at a given load is under *Latency under load*.",
        "",
        *latency_section(swept, capacities, directory),
        *why_section([Explained.from_json(row) for row in results.explained], directory),
    ]
    if results.unsupported:
        lines += [
            "## Unsupported cells",
            "",
            "Servers that cannot run on their loop (they exit 2 naming what the loop lacks); not failures.",
            "",
            "| cell | what is missing |",
            "| --- | --- |",
            *(f"| `{u['cell']}` | {u['reason']} |" for u in results.unsupported),
            "",
        ]
    if results.failures:
        lines += ["## Failed runs", "", "| cell | repeat | reason |", "| --- | --- | --- |"]
        lines += [f"| `{f['cell']}` | {f['repeat']} | {f['reason']} |" for f in results.failures]
        lines.append("")
    lines += ["## Figures", ""]
    for caption, name in figures:
        lines += [f"### {caption}", "", f"![{caption}]({name})", ""]
    lines += ["## Environment", "", *environment_table(results), ""]
    return write_lines(directory, lines)


def ranking_lines(
    results: Results,
    shown: list[CellResults],
    base: str,
    on: str,
    capacities: dict,
    directory: Path,
) -> list[str]:
    """The rankings of the closed-loop cells, then the sections built on them."""
    headline = headline_group(shown)
    lines = [
        f"## Ranking ({describe(group_key(headline[0]))}{on})",
        "",
        *(f"- {sentence}" for sentence in ranking(headline)),
        "",
    ]
    for key, cells in groups(shown).items():
        if key != group_key(headline[0]):
            lines += [f"### {describe(key)}{on}", "", *(f"- {s}" for s in ranking(cells)), ""]
    for python in labels_of(results.cells):
        if python != base:
            closed = [c for c in view(results.cells, python) if not c.at_rate]
            lines += [f"### {describe(group_key(headline[0]))}, Python {python}", ""]
            lines += [f"- {s}" for s in ranking(headline_group(closed))]
            lines.append("")
    by_api_loop = {(p.api, p.loop): c for p, c in capacities.values()}
    lines += loop_section(headline, results, by_api_loop)
    lines += python_section(results.cells, base, directory)
    lines += network_section(shown)
    lines += churn_section(results.cells, directory)
    return lines


def write_lines(directory: Path, lines: list[str]) -> Path:
    report = directory / "report.md"
    report.write_text("\n".join(lines))
    return report
