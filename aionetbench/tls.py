"""TLS contexts: a self-signed certificate made at start-up, and a client that accepts it.

Benchmarks measure the cost of TLS, not of a PKI, so the server makes a fresh certificate
(via trustme) each time it starts and clients skip verification of it. Never reuse these
contexts outside loopback benchmarking.
"""

import ssl

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


def server_context() -> ssl.SSLContext:
    """A server context holding a fresh certificate for the loopback names."""
    import trustme  # only servers that serve TLS pay for importing it (~65 ms)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert(*SERVER_NAMES).configure_cert(context)
    return context


def client_context() -> ssl.SSLContext:
    """A client context that accepts the server's self-signed certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
