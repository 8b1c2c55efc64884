"""A cell: one server variant under one load, and the name its results are stored under."""

from dataclasses import dataclass

from servers import SERVERS, framing_of

LOOPBACK = "loopback"  # the default path: client and server on this host's loopback
TRANSPORTS = ("tcp", "unix", "tls")


@dataclass(frozen=True)
class Cell:
    """One combination of the matrix: a server variant under one load."""

    api: str
    loop: str
    transport: str
    size: int
    concurrency: int
    pipeline: int
    python: str = ""  # the servers' Python when a run compares several, e.g. "3.12"
    network: str = LOOPBACK  # the path between client and server (bench.measure.netns.PATHS)
    # Connection churn: messages each connection exchanges before it closes and another opens
    # (clients.spec's --churn); 0: the connections stay open.
    churn: int = 0
    # Connections held open and silent beside the measured ones (clients.spec's --idle), and
    # connections that send but read slowly (--slow-readers).
    idle: int = 0
    slow: int = 0
    # A fixed open-loop load its runs are measured at (msg/s), instead of closed loop: what
    # idle connections do to latency and CPU is compared at a load every server sustains.
    at_rate: float = 0.0

    @property
    def name(self) -> str:
        """pyperf benchmark name, e.g. `tcp/protocol/uvloop/1024B/c10` (`/d4` for depth 4;
        `tcp/protocol/uvloop/py3.12/1024B/c10` when the run compares Pythons,
        `tcp/protocol/uvloop/veth/1024B/c10` off loopback, `.../c10/churn1` with churn,
        `.../c10/idle1000/at2000` with idle connections at a fixed load)."""
        server = f"{self.api}/{self.loop}" + (f"/py{self.python}" if self.python else "")
        server += "" if self.network == LOOPBACK else f"/{self.network}"
        name = f"{self.transport}/{server}/{self.size}B/c{self.concurrency}"
        name += "" if self.pipeline == 1 else f"/d{self.pipeline}"
        name += f"/churn{self.churn}" if self.churn else ""
        name += f"/idle{self.idle}" if self.idle else ""
        name += f"/slow{self.slow}" if self.slow else ""
        return name + (f"/at{self.at_rate:.0f}" if self.at_rate else "")

    @property
    def unit(self) -> str:
        """What its open-loop rate counts: messages, or with churn new connections, a second."""
        return "conn/s" if self.churn else "msg/s"

    def point_name(self, rate: float) -> str:
        """Name of an open-loop point of this cell, e.g. `tcp/protocol/uvloop/1024B/c10/open20000`."""
        return f"{self.name}/open{rate:.0f}"

    @property
    def protocol(self) -> str:
        """The load generator's framing for this cell's server."""
        return framing_of(self.api)

    @property
    def reference(self) -> bool:
        """A reference server (the C one): drawn for comparison, never ranked."""
        return SERVERS[self.api].reference


def version_key(version: str) -> tuple[int, ...]:
    """Sort key for Python versions such as `3.9` and `3.13`."""
    return tuple(int(part) for part in version.split("."))
