"""The results file's records: what the writer stores is what the reader gets back, through
pyperf's own metadata checks, and files from before a field existed still read."""

import random
from dataclasses import replace

import pyperf
from helpers.synthetic import measurement

from bench.store.records import (
    EnvironmentRecord,
    GcRecord,
    PointRecord,
    RunRecord,
    from_metadata,
    to_metadata,
)
from bench.store.schema import GcPauses
from bench.store.writer import point_record, run_record
from clients.summary import Schedule, Waits

EVERY_POINT_FIELD = PointRecord(
    server_cpu=0.61, duration=1.5, requests=14_900, client_cpu=0.2, server_peak_rss=31 << 20,
    latency_max_s=0.0021, latency_histogram_ns="HISTFAAAA", client="python", client_loop="uvloop",
    client_hosts_detail='[{"host": "a"}]', achieved_rate=9_930.0, sent_rate=10_010.0,
    scheduled_rate=10_000.0, fell_behind=False, client_stalled=True, caught_up=False,
    client_limited=True, interfered=True, remeasured=True, late_share=0.004, saturated=False,
    unreliable=True, slices=2, schedule_lag_p50_s=3e-6, schedule_lag_p99_s=2e-5,
    schedule_lag_max_s=1e-3, latency_samples=14_950, undelivered=3, p99_ci_low_s=1e-4,
    p99_ci_high_s=2e-4, waits=Waits(5.5, 0.25, 3, 0.0),
    gc=GcRecord(gen0=40, gen1=3, gen2=1, window_pauses=2, window_pause_s=0.004,
                longest_s=0.003, longest_generation=2),
)  # fmt: skip


def through_pyperf(metadata: dict) -> dict:
    """The metadata as a pyperf run keeps it (pyperf checks every value's type)."""
    return pyperf.Run([1e-5], metadata={"name": "x", "unit": "second", **metadata}).get_metadata()


def test_a_point_with_every_field_reads_back_as_written() -> None:
    stored = through_pyperf(to_metadata(EVERY_POINT_FIELD))
    assert stored["client_stalled"] == 1 and stored["gc_gen2"] == 1  # pyperf's types, old keys
    assert stored["waits_server_wait_ms"] == 5.5
    assert from_metadata(PointRecord, stored) == EVERY_POINT_FIELD


def test_what_is_not_there_is_left_out_and_read_as_absent() -> None:
    bare = replace(EVERY_POINT_FIELD, waits=None, gc=None, p99_ci_low_s=None, client_loop=None)
    stored = through_pyperf(to_metadata(bare))
    assert not any(key.startswith(("waits_", "gc_")) for key in stored)
    assert from_metadata(PointRecord, stored) == bare


def test_a_file_from_before_client_limited_falls_back() -> None:
    old = {k: v for k, v in to_metadata(EVERY_POINT_FIELD).items() if k != "client_limited"}
    assert from_metadata(PointRecord, old).client_limited is None


def test_the_environment_leaves_pyperfs_own_keys_to_pyperf() -> None:
    """Written without them, read back with what pyperf collected (the CPU's model)."""
    written = to_metadata(
        EnvironmentRecord(pinning="server:0 client:1", libraries={"uvloop": "0.23"})
    )
    assert "cpu_model_name" not in written and "cpu_count" not in written
    assert written["uvloop_version"] == "0.23" and written["server_free_threading"] == 0
    stored = through_pyperf(written)
    read = from_metadata(EnvironmentRecord, stored)
    assert read.cpu_count == stored["cpu_count"] and read.pinning == "server:0 client:1"
    assert read.libraries == {"uvloop": "0.23"}


def test_the_writer_builds_the_records_the_reader_reads() -> None:
    run = measurement(50_000, 200.0, random.Random(3))
    record = from_metadata(RunRecord, through_pyperf(to_metadata(run_record(run, repeat=2))))
    assert record == run_record(run, repeat=2)
    assert record.rps == 50_000 and record.repeat == 2 and record.client_bound is False
    schedule = Schedule(10_000.0, "poisson", (90.0, 110.0), 9_990.0, 10_000.0, 10_000.0,
                        3.0, 20.0, 400.0, False, 0.0, False)  # fmt: skip
    point = replace(run, client=replace(run.client, mode="open", schedule=schedule),
                    gc=GcPauses((10, 1, 0), ((1, 2.5), (0, 0.5))))  # fmt: skip
    stored = from_metadata(PointRecord, through_pyperf(to_metadata(point_record(point))))
    assert stored == point_record(point)
    assert (stored.p99_ci_low_s, stored.p99_ci_high_s) == (90e-6, 110e-6)
    assert stored.gc == GcRecord(gen0=10, gen1=1, gen2=0, window_pauses=2, window_pause_s=0.003,
                                 longest_s=0.0025, longest_generation=1)  # fmt: skip
