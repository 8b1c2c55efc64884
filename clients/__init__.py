"""The load generator: closed- and open-loop echo load over TCP or WebSocket, with verification.

`contract` is what the orchestrator asks of it and what it answers (a LoadSpec in, a Summary
out). Sans-I/O pieces (`workload`, `wsframes`, `stats`, `arrivals`) are plain code that tests
call directly; `connection`, `schedule` (open loop) and `runner` (one worker's window) are
the thin asyncio layer; `workers` runs several processes; `window` is what one worker
measured, whichever load generator it belongs to; `result` merges the windows into a Summary;
`cli` is the command line. `native` is the C load generator with the same contract.
"""
