"""The load generator: closed- and open-loop echo load over TCP or WebSocket, with verification.

Sans-I/O pieces (`workload`, `wsframes`, `stats`) are plain code that tests call directly;
`connection` and `runner` are the thin asyncio layer; `cli` is the command line.
"""
