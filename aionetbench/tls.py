"""TLS contexts: a self-signed certificate made at start-up, and a client that accepts it.

Benchmarks measure the cost of TLS, not of a PKI, so the server makes a fresh certificate
(via trustme) each time it starts and clients skip verification of it. Never reuse these
contexts outside loopback benchmarking.
"""

import functools
import ssl

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


def server_context() -> ssl.SSLContext:
    """A server context holding a fresh certificate for the loopback names."""
    import trustme  # only servers that serve TLS pay for importing it (~65 ms)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert(*SERVER_NAMES).configure_cert(context)
    return context


@functools.cache
def client_context() -> ssl.SSLContext:
    """A client context that accepts the server's self-signed certificate, made once and
    shared by every connection. It loads no CA certificates: it verifies nothing, and
    loading the system's (what `ssl.create_default_context` does) took 38 ms per
    connection, most of a 50-connection TLS test's time."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
