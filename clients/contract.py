"""How a load generator is driven: a program that takes a LoadSpec's arguments
(clients.spec) and prints a Summary (clients.summary). The Python one here, the native one
beside it (clients.native); the orchestrator picks one per load (`Clients`)."""

import sys
from dataclasses import dataclass

from clients.spec import LoadSpec


@dataclass(frozen=True)
class Generator:
    """A load generator: the program that takes a spec's arguments and prints a Summary."""

    name: str
    program: tuple[str, ...]
    tls: bool = True  # whether it can load a TLS server
    workloads: bool = False  # whether it does --churn, --idle and --tls-resume

    def command(self, spec: LoadSpec) -> list[str]:
        return [*self.program, *spec.to_argv(), "--json"]

    def can(self, spec: LoadSpec) -> bool:
        return (self.tls or not spec.tls) and (self.workloads or not spec.native_only)


@dataclass(frozen=True)
class Clients:
    """Which load generator measures a load: `preferred` wherever it can, else `fallback`
    (the native generator built without OpenSSL does not do TLS; the Python one does everything)."""

    preferred: Generator
    fallback: Generator

    def for_spec(self, spec: LoadSpec) -> Generator:
        return self.preferred if self.preferred.can(spec) else self.fallback


def python_generator(python: str = sys.executable) -> Generator:
    return Generator("python", (python, "-m", "clients"))
