"""What travels between a load generator and a server: the framings both speak."""

# Raw bytes echoed as they come, newline-terminated messages (each ends in its only newline),
# and WebSocket messages. A server declares its framing (servers.SERVERS); a load spec names
# the one to speak (clients.spec).
FRAMINGS = ("tcp", "line", "ws")
