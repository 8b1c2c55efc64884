"""Open-loop arrival processes: when each message is due, in nanoseconds from the start.

- `uniform`: constant spacing, 1/rate apart (wrk2).
- `poisson`: independent exponential gaps with mean 1/rate (mutilate, Lancet). Real users do
  not coordinate, so their requests arrive like this; constant spacing can fall into step
  with the server's own loop period and hide the queueing that bursts cause.

Due times are made in blocks with numpy, off the hot path, and handed out as plain lists of
ints: the scheduler's cost per message is one list index and one comparison either way.
"""

import numpy as np

ARRIVALS = ("poisson", "uniform")
BLOCK = 4096  # due times made at a time


class Arrivals:
    """The due times of one schedule, in increasing order, block by block."""

    def __init__(self, rate: float, kind: str = "poisson", seed: int | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if kind not in ARRIVALS:
            raise ValueError(f"arrivals must be one of {', '.join(ARRIVALS)}, got {kind!r}")
        self.interval_ns = 1e9 / rate
        self.kind = kind
        self.rng = np.random.default_rng(seed)
        self.made = 0  # due times handed out so far
        self.last_ns = 0.0  # the last due time handed out (poisson: gaps add up from it)

    def next_block(self, size: int = BLOCK) -> list[int]:
        """The next `size` due times (ns from the start)."""
        if self.kind == "uniform":
            # From the index, not by adding gaps, so rounding never drifts over long runs.
            times = (np.arange(self.made, self.made + size) * self.interval_ns).astype(np.int64)
        else:
            gaps = self.rng.exponential(self.interval_ns, size)
            cumulative = self.last_ns + np.cumsum(gaps)
            self.last_ns = float(cumulative[-1])
            times = cumulative.astype(np.int64)
        self.made += size
        return times.tolist()
