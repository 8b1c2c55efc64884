"""`bench system check`: what may interfere with a run, what to tune, and the quietest CPU."""

import json
import os

import pytest
from helpers.commands import bench

from bench.measure.system import quietest_cpu
from bench.store.machine import SystemCheck


@pytest.mark.live
def test_system_check_says_what_it_found_per_cpu_and_in_json() -> None:
    text = bench("system", "check", "--seconds", "0.3")
    assert text.returncode == 0, text.stderr
    for cpu in sorted(os.sched_getaffinity(0)):
        assert f"CPU {cpu}: other threads ran" in text.stdout
    assert "guest halt polling" in text.stdout and "transparent huge pages" in text.stdout
    found = bench("system", "check", "--seconds", "0.3", "--json")
    data = json.loads(found.stdout)
    assert SystemCheck.from_json({k: v for k, v in data.items() if k != "advice"}).cpus == sorted(
        os.sched_getaffinity(0)
    )


def test_the_quietest_cpu_is_chosen_only_where_there_is_a_choice() -> None:
    busy = {0: [("kdamond.0", 9.0)], 1: [("ksoftirqd/1", 2.0)], 2: [], 3: [("kworker/3:1", 1.0)]}
    four = SystemCheck(seconds=2.0, cpus=[0, 1, 2, 3], busy=busy)
    assert quietest_cpu(four) == 2
    assert quietest_cpu(SystemCheck(seconds=2.0, cpus=[0, 1], busy=busy)) is None


def test_advice_names_what_could_be_tuned_and_survives_the_results() -> None:
    found = SystemCheck(seconds=2.0, cpus=[0, 1], busy={1: [("tokio-rt-worker", 30.0)]},
                        halt_poll_ns="0", thp="[always] madvise never", governor="powersave")  # fmt: skip
    tips = " ".join(found.advice())
    assert "CPU 1 ran other threads over 1%" in tips and "guest halt polling is off" in tips
    assert "`madvise`" in tips and "`performance`" in tips
    assert SystemCheck.from_json(json.loads(json.dumps(found.to_json()))) == found
