"""`bench hosts check` and `bench hosts setup`: from fresh machines to a run (docs/hosts.md)."""

import argparse
import sys

from bench.hosts.address import DEFAULT_DIR, HostAddress
from bench.hosts.check import orchestrator_commit, probe
from bench.hosts.setup import set_up
from bench.hosts.ssh import Host, HostError, SshLoop


def hosts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Other hosts to run servers and load generators on, over SSH (key or agent "
        "authentication, host keys checked against ~/.ssh/known_hosts)."
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="one line per host: can it run its part?")
    setup = actions.add_parser("setup", help="copy the committed suite and make its environment")
    setup.add_argument(
        "--wheels",
        action="store_true",
        help="for hosts without a package registry: download their wheels here and copy them",
    )
    for action in (check, setup):
        action.add_argument("hosts", nargs="+", metavar="[USER@]HOST[:PORT]")
        action.add_argument(
            "--remote-dir",
            default=f"~/{DEFAULT_DIR}",
            metavar="DIR",
            help="the suite's directory on every host (default %(default)s)",
        )


def command_hosts(args: argparse.Namespace) -> int:
    """Each host in turn, one line each; exit 2 if any cannot run its part."""
    ssh, failed = SshLoop(), 0
    hosts = [Host(HostAddress.parse(text), args.remote_dir, ssh) for text in args.hosts]
    commit = orchestrator_commit()
    if args.action == "setup":
        print(f"copying commit {commit[:12]} (the committed tree) to {len(hosts)} host(s)",
              file=sys.stderr)  # fmt: skip
    for host in hosts:
        try:
            if args.action == "setup":
                print(set_up(host, args.wheels), flush=True)
            else:
                report = probe(host)
                print(report.line("any", commit))
                failed += bool(report.problems("any", commit))
        except HostError as error:
            print(f"{error}", flush=True)
            failed += 1
    return 2 if failed else 0


COMMANDS = {"hosts": (hosts_arguments, command_hosts)}
