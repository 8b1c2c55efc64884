"""The classic benchmark client, kept as a baseline to measure ours against.

The method of uvloop's `examples/bench/echoclient.py`: blocking sockets in a process pool,
one connection per worker process, one message in flight, no verification and no latency.
`python -m clients.classic --connect HOST:PORT` prints one JSON object with `requests`,
`duration_s` and `rps`. Unlike the original, it counts only the measured window (not process
start-up), which flatters the baseline slightly.
"""

import argparse
import json
import socket
import time
from concurrent.futures import ProcessPoolExecutor

from aionetbench.endpoints import Endpoint


def echo_until(endpoint: Endpoint, size: int, start_at: float, stop_at: float) -> int:
    """One worker: send, wait for the whole echo, repeat until `stop_at`; return the count."""
    with socket.create_connection((endpoint.host, endpoint.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        message, buffer = b"x" * size, bytearray(size)
        view = memoryview(buffer)
        time.sleep(max(0.0, start_at - time.monotonic()))
        count = 0
        while time.monotonic() < stop_at:
            sock.sendall(message)
            received = 0
            while received < size:
                received += sock.recv_into(view[received:])
            count += 1
        return count


def run(endpoint: Endpoint, size: int, workers: int, duration: float) -> dict[str, float]:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        start_at = time.monotonic() + 1.0  # every worker connected and waiting
        stop_at = start_at + duration
        futures = [
            pool.submit(echo_until, endpoint, size, start_at, stop_at) for _ in range(workers)
        ]
        requests = sum(future.result() for future in futures)
    return {"requests": requests, "duration_s": duration, "rps": requests / duration}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m clients.classic", description=__doc__)
    parser.add_argument("--connect", metavar="HOST:PORT", required=True, type=Endpoint.parse)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps(run(args.connect, args.size, args.workers, args.duration)))


if __name__ == "__main__":
    main()
