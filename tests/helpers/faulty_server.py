"""An echo server that misbehaves on purpose, to prove the load generator notices.

`--stall-ms MS`: block the event loop for MS milliseconds once a second.
`--stall-at S`: instead, block it once, S seconds after the first connection arrives.
`--corrupt-after N`: flip one byte in the Nth chunk it echoes.
`--mute`: read everything, answer nothing.
`--tls`: serve TLS (a fresh self-signed certificate), misbehaving inside it.
`--no-backpressure`: keep reading a peer that does not read, buffering without limit.
Prints `READY host:port` like the real servers; SIGTERM kills it.
"""

import argparse
import asyncio
import time
from collections.abc import Callable

from aionetbench.endpoints import Endpoint, listen
from aionetbench.tls import server_context
from servers import ServerOptions
from servers.protocol import EchoProtocol
from servers.transports import serve_protocol


def faulty_protocol(
    corrupt_after: int | None,
    on_first_connection: Callable[[], None],
    mute: bool = False,
    backpressure: bool = True,
) -> type[EchoProtocol]:
    chunks = 0
    connected = False

    class FaultyEcho(EchoProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            nonlocal connected
            super().connection_made(transport)
            if not connected:
                connected = True
                on_first_connection()

        def data_received(self, data: bytes) -> None:
            nonlocal chunks
            chunks += 1
            if chunks == corrupt_after:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            if not mute:
                self.transport.write(data)

        def pause_writing(self) -> None:
            if backpressure:
                super().pause_writing()

        def resume_writing(self) -> None:
            if backpressure:
                super().resume_writing()

    return FaultyEcho


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    listener = listen(Endpoint(port=0))

    def stall(again: bool = True) -> None:
        time.sleep(args.stall_ms / 1000)  # the point: nothing else runs meanwhile
        if again:
            loop.call_later(1.0, stall)

    def on_first_connection() -> None:
        if args.stall_at is not None:
            loop.call_later(args.stall_at, stall, False)

    protocol = faulty_protocol(
        args.corrupt_after, on_first_connection, args.mute, not args.no_backpressure
    )
    options = ServerOptions(tls=server_context() if args.tls else None)
    async with serve_protocol(protocol, listener, options):
        if args.stall_ms and args.stall_at is None:
            loop.call_later(1.0, stall)
        print(f"READY {Endpoint.of_listener(listener)}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--stall-ms", type=int, default=0)
    parser.add_argument("--stall-at", type=float)
    parser.add_argument("--corrupt-after", type=int)
    parser.add_argument("--mute", action="store_true")
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--no-backpressure", action="store_true")
    asyncio.run(main(parser.parse_args()))
