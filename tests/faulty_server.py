"""An echo server that misbehaves on purpose, to prove the load generator notices.

`--stall-ms MS`: block the event loop for MS milliseconds once a second.
`--corrupt-after N`: flip one byte in the Nth chunk it echoes.
Prints `READY host:port` like the real servers; SIGTERM kills it.
"""

import argparse
import asyncio
import time

from aionetbench.endpoints import Endpoint, listen
from servers import ServerOptions
from servers.protocol import EchoProtocol
from servers.transports import serve_protocol


def faulty_protocol(corrupt_after: int | None) -> type[EchoProtocol]:
    chunks = 0

    class FaultyEcho(EchoProtocol):
        def data_received(self, data: bytes) -> None:
            nonlocal chunks
            chunks += 1
            if chunks == corrupt_after:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            self.transport.write(data)

    return FaultyEcho


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    listener = listen(Endpoint(port=0))

    def stall() -> None:
        time.sleep(args.stall_ms / 1000)  # the point: nothing else runs meanwhile
        loop.call_later(1.0, stall)

    async with serve_protocol(faulty_protocol(args.corrupt_after), listener, ServerOptions()):
        if args.stall_ms:
            loop.call_later(1.0, stall)
        print(f"READY {Endpoint.of_listener(listener)}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--stall-ms", type=int, default=0)
    parser.add_argument("--corrupt-after", type=int)
    asyncio.run(main(parser.parse_args()))
