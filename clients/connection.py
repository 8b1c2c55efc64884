"""The per-connection hot path: verify replies, time them, and in closed loop send the next."""

import asyncio
import itertools
from array import array
from collections import deque
from collections.abc import Callable
from time import perf_counter_ns

from clients.workload import EchoMismatch, EchoVerifier, Workload
from clients.wsframes import HandshakeError, handshake_request, new_key, parse_handshake_response

UNLIMITED = 1 << 62  # a send budget that never runs out


class EchoConnection(asyncio.Protocol):
    """Sends workload messages and records, per reply, nanoseconds since its send time.

    In closed loop (`depth` > 0) every completed reply sends the next message at once, while
    the send budget lasts (unlimited unless a run asks for an exact count); in open loop
    (`depth` == 0) the scheduler calls `send()` with each message's intended time and the
    time it handed it over: the latency runs from the handing over (the client's own lateness
    is not the server's; a write the socket would not take stays in the transport's buffer,
    so the server's back-pressure still counts), and `intended` from the intended time
    (wrk2's rule), so a stalled server shows in every message scheduled during the stall.
    Replies are timed when read: asyncio's transports give no kernel receive timestamps.
    """

    transport: asyncio.Transport

    def __init__(
        self,
        workload: Workload,
        first_message: int,
        depth: int,
        on_lost: Callable[[], None],
        budget: int | None = None,
    ) -> None:
        self.feed = EchoVerifier(workload, first_message).feed
        count = len(workload.messages)
        order = [workload.messages[(first_message + i) % count] for i in range(count)]
        self.next_message = itertools.cycle(order).__next__
        self.depth = depth
        # Closed loop: messages this connection may still send by itself.
        self.budget = 0 if not depth else UNLIMITED if budget is None else budget
        self.on_lost = on_lost
        self.sent_at: deque[int] = deque()
        self.due_at: deque[int] = deque()  # open loop: each message's intended send time
        self.latencies = array("q")
        self.intended = array("q")  # open loop: from the intended send time
        self.replies = 0  # replies taken since the window started: the throughput count
        self.skip = 0  # replies still due to messages sent before the window started
        self.error: str | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def start(self) -> None:
        """Closed loop: put `depth` messages in flight."""
        now = perf_counter_ns()
        for _ in range(min(self.depth, self.budget)):
            self.budget -= 1
            self.send(now)

    def send(self, sent_at: int, due: int | None = None) -> None:
        """Write the next message; `due`: open loop, when it was meant to go."""
        try:
            self.transport.write(self.next_message())
        except RuntimeError as error:  # uvloop: the peer closed before connection_lost ran
            self.fail(f"connection lost: {error}")
            return
        self.sent_at.append(sent_at)
        if due is not None:
            self.due_at.append(due)

    def data_received(self, data: bytes) -> None:
        try:
            completed = self.feed(data)
        except EchoMismatch as error:
            self.fail(str(error))
            return
        if not self.depth:  # open loop: nothing to send back
            now = perf_counter_ns()
            for _ in range(completed):
                self.latencies.append(now - self.sent_at.popleft())
                self.intended.append(now - self.due_at.popleft())
        elif completed == 1:  # the common case, kept free of loops
            now = perf_counter_ns()
            self.latencies.append(now - self.sent_at.popleft())
            if self.budget:
                self.budget -= 1
                self.transport.write(self.next_message())
                self.sent_at.append(now)
        elif completed:
            now = perf_counter_ns()
            for _ in range(completed):
                self.latencies.append(now - self.sent_at.popleft())
                if self.budget:
                    self.budget -= 1
                    self.send(now)

    def start_window(self) -> None:
        """Begin the measured window: what was recorded so far is warm-up and discarded.

        The window's sample is the messages *sent* in it. Replies come back in order, so the
        first `len(sent_at)` replies from now belong to warm-up messages and are skipped
        when taken: exact, and free on the hot path.
        """
        self.latencies, self.intended = array("q"), array("q")
        self.replies = 0
        self.skip = len(self.sent_at)

    def take_latencies(self) -> tuple[array, array]:
        """Hand over the latencies of window messages recorded so far, and (open loop) their
        intended latencies; start fresh arrays."""
        taken, intended = self.latencies, self.intended
        self.latencies, self.intended = array("q"), array("q")
        self.replies += len(taken)
        return self._without_warmup(taken, intended)

    def stop_sending(self) -> None:
        """Closed loop: send no more messages; those in flight may still be answered."""
        self.budget = 0

    @property
    def in_flight(self) -> int:
        return len(self.sent_at)

    def give_up(self, now: int) -> tuple[array, array]:
        """Stop waiting for the messages still in flight: each counts as answered `now`, a
        lower bound of its latency, so a stall at the end of the window is not dropped."""
        late = array("q", (now - sent_at for sent_at in self.sent_at))
        intended = array("q", (now - due for due in self.due_at))
        self.sent_at.clear()
        self.due_at.clear()
        return self._without_warmup(late, intended)

    def _without_warmup(self, latencies: array, intended: array) -> tuple[array, array]:
        """Drop the oldest entries that still belong to warm-up messages (FIFO order)."""
        if self.skip:
            skipped = min(self.skip, len(latencies))
            self.skip -= skipped
            del latencies[:skipped]
            del intended[:skipped]
        return latencies, intended

    def fail(self, error: str) -> None:
        if self.error is None:
            self.error = error
        self.close()

    def close(self) -> None:
        self.closing = True
        self.transport.abort()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.closing = True
            self.error = self.error or f"connection lost: {exc or 'closed by the server'}"
        self.on_lost()


class WsHandshake(asyncio.Protocol):
    """Performs the opening handshake; `done` resolves to the bytes that followed it."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.key = new_key()
        self.buffer = b""
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(handshake_request(self.host, self.key))  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        self.buffer += data
        try:
            consumed = parse_handshake_response(self.buffer, self.key)
        except HandshakeError as error:
            self.done.set_exception(error)
            self.transport.abort()
            return
        if consumed is not None:
            self.done.set_result(self.buffer[consumed:])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"closed during handshake: {exc or 'EOF'}"))
