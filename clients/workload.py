"""What a connection sends and the exact bytes it must get back, precomputed off the hot path.

Each connection cycles through `count` distinct messages cut from one random block. The
expected reply stream (the echoes, in the protocol's framing) is known in advance, so a
received chunk is verified with one `bytes.startswith` call at the current offset: no
parsing, slicing or allocation per message. Because consecutive messages differ, a
reordered, truncated, duplicated or corrupted echo shifts or changes the stream and fails.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass

# The expected stream spans at least this many bytes, so that any chunk a transport hands
# us (asyncio and uvloop read up to 256 KiB) can be checked with a single comparison.
MIN_PERIOD = 256 * 1024
MIN_MESSAGES = 16


class EchoMismatch(Exception):
    """The server's reply differs from what was sent."""


@dataclass(frozen=True)
class Workload:
    """The messages to send, in order, and the reply stream they must produce."""

    payload_size: int
    messages: tuple[bytes, ...]  # on the wire, cycled
    reply_size: int  # wire bytes of one reply
    expected: bytes  # one period of replies, twice over, so any window <= period is contiguous

    @property
    def period(self) -> int:
        return self.reply_size * len(self.messages)


def message_count(payload_size: int) -> int:
    return max(MIN_MESSAGES, -(-MIN_PERIOD // payload_size))


def build_workload(
    payload_size: int,
    encode_request: Callable[[bytes], bytes] = bytes,
    encode_reply: Callable[[bytes], bytes] = bytes,
) -> Workload:
    """Cut distinct payloads from one random block and frame them for the wire both ways."""
    count = message_count(payload_size)
    block = os.urandom(payload_size * count)
    payloads = [block[i * payload_size : (i + 1) * payload_size] for i in range(count)]
    replies = b"".join(encode_reply(payload) for payload in payloads)
    return Workload(
        payload_size=payload_size,
        messages=tuple(encode_request(payload) for payload in payloads),
        reply_size=len(replies) // count,
        expected=replies * 2,
    )


def as_line(payload: bytes) -> bytes:
    """Line framing (the `readline` server): no newline in the payload but its last byte."""
    return payload[:-1].replace(b"\n", b" ") + b"\n"


def line_workload(payload_size: int) -> Workload:
    return build_workload(payload_size, as_line, as_line)


class EchoVerifier:
    """Checks a connection's reply stream chunk by chunk and counts completed replies.

    `feed` is the load generator's hot path: in the common case it costs one `startswith`
    and a few integer operations.
    """

    def __init__(self, workload: Workload, first_message: int = 0) -> None:
        self.expected = workload.expected
        self.period = workload.period
        self.reply_size = workload.reply_size
        self.offset = (first_message % len(workload.messages)) * workload.reply_size
        self.reply_left = workload.reply_size  # bytes until the current reply is complete

    def feed(self, data: bytes | memoryview) -> int:
        """Verify `data` and return how many replies it completed; raise EchoMismatch if wrong."""
        size = len(data)
        if size > self.period or not self.expected.startswith(data, self.offset):
            self._verify_piecewise(data)
        offset = self.offset + size
        self.offset = offset % self.period if offset >= self.period else offset
        left = self.reply_left - size
        if left > 0:
            self.reply_left = left
            return 0
        if left == 0:  # exactly one reply: the common case at depth 1
            self.reply_left = self.reply_size
            return 1
        completed, into_next = divmod(-left, self.reply_size)
        self.reply_left = self.reply_size - into_next
        return completed + 1

    def _verify_piecewise(self, data: bytes | memoryview) -> None:
        """The slow path: chunks longer than a period, and reporting a mismatch."""
        view = memoryview(data)
        for start in range(0, len(view), self.period):
            chunk = view[start : start + self.period]
            offset = (self.offset + start) % self.period
            expected = self.expected[offset : offset + len(chunk)]
            if chunk != expected:
                first = next(
                    i for i, (a, b) in enumerate(zip(chunk, expected, strict=True)) if a != b
                )
                byte = (offset + first) % self.reply_size
                raise EchoMismatch(
                    f"reply differs from what was sent at byte {byte} of {self.reply_size}"
                )
