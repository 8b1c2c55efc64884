"""`python -m clients.native {tcp,ws,line}`: the native load generator, with the arguments
and output of `python -m clients`."""

from aionetbench.errors import run_command
from clients.cli import parse_args, run_and_report
from clients.native.workers import run

DESCRIPTION = (
    "Native echo load generator: the same modes, verification and output as `python -m "
    "clients` (see its --help), with the sending, receiving and timing done in C, so it "
    "needs a fraction of a core for what takes the Python client a whole one. TLS through "
    "OpenSSL where it was built with it; --loop is the Python client's and is ignored here."
)


def main(argv: list[str] | None = None) -> None:
    run_command(
        "clients.native",
        lambda: run_and_report(
            *parse_args(argv, "python -m clients.native", DESCRIPTION), run, "native"
        ),
    )
