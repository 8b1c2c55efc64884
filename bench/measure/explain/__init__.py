"""`bench explain`: what each API and loop costs per request, and where it goes.

`driver` runs the load against one server, `syscalls` counts system calls (perf or
strace), `memory` measures the cost of idle connections, `cells` puts them together.

For each cell, one fresh pinned server, driven in the quick profile's shape (10 connections,
one message in flight each) by the pinned load generator:

- **Exact counts**, from N and then 2N verified echoes, differenced, (C(2N) - C(N)) / N, so
  that connecting, accepting and closing cancel out: system calls by name (perf or strace
  around each run) and, on request, Python function calls (a profiling hook in the server).
  Event-loop passes (the wait calls: epoll_wait, or io_uring_enter) depend on timing, so they are averaged over both
  runs, (C(N) + C(2N)) / 3N, rather than differenced.
- **Times**, from an untraced run (tracing inflates time): server user and system CPU and
  context switches per request over a 1 s window, as the load generator measures them.
- **Memory per connection**: the server's RSS growth while K idle connections are open
  (WebSocket ones after their handshake).
"""
