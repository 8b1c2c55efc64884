"""What `bench system check` found on a machine (bench.measure.system samples it), and what a
user could tune: kept in the results, read by the report."""

from dataclasses import asdict, dataclass, field
from typing import Any

LOUD_SHARE = 0.01  # a CPU whose other threads ran more than this share of the sample


@dataclass(frozen=True)
class SystemCheck:
    """What `check` found."""

    seconds: float
    cpus: list[int]
    busy: dict[int, list[tuple[str, float]]] = field(default_factory=dict)  # CPU: (thread, ms)
    steal_share: float = 0.0  # of the CPUs' time over the sample
    interrupts_per_s: dict[int, float] = field(default_factory=dict)
    cpuidle: str = "?"
    halt_poll_ns: str = "?"
    thp: str = "?"
    governor: str = "?"
    isolated: str = ""

    def busy_ms(self, cpu: int) -> float:
        return sum(ms for _, ms in self.busy.get(cpu, []))

    def lines(self) -> list[str]:
        """One line per finding, for people."""
        found = []
        for cpu in self.cpus:
            threads = ", ".join(f"{name} {ms:,.1f} ms" for name, ms in self.busy.get(cpu, [])[:5])
            found.append(
                f"CPU {cpu}: other threads ran {self.busy_ms(cpu):,.1f} ms in {self.seconds:g} s"
                f"{f' ({threads})' if threads else ''}; "
                f"{self.interrupts_per_s.get(cpu, 0):,.0f} interrupts/s"
            )
        found.append(f"steal: {self.steal_share:.2%} of the CPUs' time")
        found.append(f"idle driver: {self.cpuidle}; guest halt polling: {self.halt_poll_ns} ns")
        found.append(f"transparent huge pages: {self.thp}; frequency governor: {self.governor}")
        found.append(f"isolated CPUs: {self.isolated or 'none'}")
        return found

    def advice(self) -> list[str]:
        """What a user could tune, where they may."""
        tips = []
        loud = [cpu for cpu in self.cpus if self.busy_ms(cpu) > LOUD_SHARE * 1000 * self.seconds]
        if loud:
            tips.append(
                f"CPU {', '.join(map(str, loud))} ran other threads over 1% of the time: their "
                "waits for a CPU are named in each point's tail"
            )
        if self.halt_poll_ns == "0":
            tips.append(
                "guest halt polling is off: an idle CPU halts and is woken late, which a server "
                "sleeping between messages pays (haltpoll.guest_halt_poll_ns, e.g. 200000)"
            )
        if self.thp.startswith("[always]"):
            tips.append("transparent huge pages are always on: `madvise` avoids compaction stalls")
        if self.governor not in ("?", "performance"):
            tips.append(f"frequency governor {self.governor}: `performance` keeps clocks steady")
        if not self.isolated and len(self.cpus) > 2:
            tips.append("no isolated CPUs: isolcpus= and nohz_full= keep kernel threads off them")
        if self.steal_share > 0.01:
            tips.append("the hypervisor steals over 1%: a dedicated host or vCPU pinning helps")
        return tips

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SystemCheck":
        data = dict(data)
        data["busy"] = {int(k): [tuple(t) for t in v] for k, v in data.get("busy", {}).items()}
        data["interrupts_per_s"] = {int(k): v for k, v in data.get("interrupts_per_s", {}).items()}
        return cls(**data)
