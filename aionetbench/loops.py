"""Event loops by name, declared once: servers, load generators, profiles, the report and
the tests all derive from `LOOPS`.

A loop is named three ways:
- a registered name (`uvloop`, `veloxloop`, ...), with what is known of it;
- `BASE+LAYER`, a transport layer over a loop (`uvloop+aiofastnet`): the layer wraps the
  base loop's factory and replaces its networking methods (create_server, sock_*, ...);
- `MODULE:FACTORY`, any callable that returns a new loop, for a loop under development.
Every name resolves to a factory or to a one-line reason it cannot: `LoopUnavailable` for
an optional loop with no wheel here, which servers report as unsupported so that the
orchestrator records the cell instead of failing it; a plain usage error otherwise.
"""

import argparse
import asyncio
import importlib
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from aionetbench.errors import UNSUPPORTED, UsageError

LoopFactory = Callable[[], asyncio.AbstractEventLoop]
CUSTOM = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # MODULE:FACTORY


@dataclass(frozen=True)
class Loop:
    """One loop: where its factory lives, who ships it, and what it is known to lack."""

    name: str
    module: str
    factory: str  # an attribute of `module`: a loop factory, or a layer's factory wrapper
    package: str = ""  # the distribution that provides it ("" for the standard library)
    # Installed by `make` only where a wheel exists (aionetbench.extras), never built from
    # source; `wheels` says where wheels exist, for the line said when none installs.
    optional: bool = False
    wheels: str = ""
    base: str = ""  # for a layer: the loop it wraps
    # Gaps found by the conformance tests, said where a server refuses the cell ("" if none).
    no_tls: str = ""
    no_unix_transports: str = ""
    no_apis: tuple[tuple[str, str], ...] = ()  # (API, why it cannot run on this loop)
    # A loop whose create_server() ignores `sock=` (and serves nothing on it) is handed the
    # listener's address instead (`by_address`): the only change the suite makes to a loop.
    ignores_server_sock: bool = False

    @property
    def layer(self) -> bool:
        return bool(self.base)

    def lacks(self, api: str) -> str:
        """Why `api` cannot run on this loop, or "" when it can."""
        return dict(self.no_apis).get(api, "")

    def resolve(self) -> LoopFactory:
        """The factory; `LoopUnavailable` for an optional loop with no wheel here (its cells
        are unsupported), a `UsageError` for a loop that should be there and is not (a
        broken environment, or a typo in MODULE:FACTORY): both in one line."""
        module = self.import_module()
        factory = getattr(module, self.factory, None)
        if not callable(factory):
            raise UsageError(f"loop {self.name}: {self.module} has no callable {self.factory!r}")
        if self.layer:
            return factory(resolve(self.base))
        if self.name not in LOOPS:  # a user's MODULE:FACTORY: checked when it is called
            return checked(self.name, factory)
        return by_address(factory) if self.ignores_server_sock else factory

    def import_module(self) -> ModuleType:
        try:
            return importlib.import_module(self.module)
        except ImportError as error:
            if self.optional:
                raise LoopUnavailable(
                    self.name, f"{self.package} is not installed for this Python ({self.wheels})"
                ) from None
            raise UsageError(
                f"loop {self.name}: {self.module} is not importable ({error})"
            ) from None

    def version(self) -> str | None:
        """The providing distribution's version (a custom loop's from its top-level module),
        or None for the standard library or a module that no distribution installed."""
        import importlib.metadata  # 40 ms: only where versions are asked for, not per server

        names = [self.package] if self.package else distributions_of(self.module)
        base = LOOPS[self.base].version() if self.base in LOOPS else None
        for name in names:
            try:
                own = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
            return f"{own} over {self.base} {base}" if base else own
        return None


class LoopUnavailable(UsageError):
    """A loop that cannot run here: a usage error, and an unsupported cell for a server."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{UNSUPPORTED}loop {name}: {reason}")


def by_address(factory: LoopFactory) -> LoopFactory:
    """Loops whose create_server(sock=...) are given the socket's host and port instead: the
    socket, bound by the suite's plumbing, is closed and the loop binds the address itself.
    Only at start-up: nothing per connection or per message changes."""

    def make() -> asyncio.AbstractEventLoop:
        loop = factory()
        create_server = loop.create_server

        async def create_server_by_address(protocol_factory, host=None, port=None, *, sock=None,
                                           **options):  # fmt: skip
            if sock is not None:
                if sock.family not in (socket.AF_INET, socket.AF_INET6):
                    raise NotImplementedError("create_server on a Unix socket")
                host, port = sock.getsockname()[:2]
                sock.close()
            return await create_server(protocol_factory, host, port, **options)

        loop.create_server = create_server_by_address  # type: ignore[method-assign]
        return loop

    return make


def distributions_of(module: str) -> list[str]:
    import importlib.metadata

    return importlib.metadata.packages_distributions().get(module.partition(".")[0], [])


# A transport layer by name: (module, wrapper of a loop factory, distribution).
LAYERS = {"aiofastnet": ("aiofastnet", "loop_factory", "aiofastnet")}
LAYER_WHEELS = "wheels for CPython 3.10-3.13 at least"


def layered(base: str, layer: str) -> Loop:
    module, wrapper, package = LAYERS[layer]
    return Loop(
        f"{base}+{layer}", module, wrapper, package, optional=True, wheels=LAYER_WHEELS, base=base
    )


# In the order the suite reports them: the stock loop, the established ones, the new ones,
# then the layers. rloop's gaps and the others' are what tests/test_echo.py and
# tests/test_faults.py find (docs/loops.md has the table).
LOOPS: dict[str, Loop] = {
    loop.name: loop
    for loop in (
        Loop("asyncio", "asyncio", "new_event_loop"),
        Loop("uvloop", "uvloop", "new_event_loop", "uvloop"),
        Loop(
            "rloop",
            "rloop",
            "new_event_loop",
            "rloop",
            no_tls="rloop 0.5 does not implement create_server(ssl=...) or start_tls()",
            no_unix_transports="create_server() on a Unix socket: rloop accepts the connections and closes them at once",
        ),
        Loop(
            "veloxloop",
            "veloxloop",
            "new_event_loop",
            "veloxloop",
            optional=True,
            wheels="wheels for CPython 3.11-3.13",
            no_tls="veloxloop 0.2's create_server() ignores ssl= and would serve plain TCP",
            no_unix_transports="veloxloop 0.2 implements no create_unix_server()",
            no_apis=(
                ("sockets", "veloxloop 0.2 implements no sock_recv_into()"),
                ("buffered", "veloxloop 0.2 calls data_received() on a BufferedProtocol"),
                ("picows", "veloxloop 0.2's sockets have no getsockopt(), which picows calls"),
            ),
            ignores_server_sock=True,
        ),
        Loop(
            "uringcore",
            "uringcore",
            "UringEventLoop",
            "uringcore",
            optional=True,
            wheels="wheels for CPython 3.13 only",
            no_apis=(
                (
                    "sockets",
                    "uringcore 0.9.1: sock_recv() on an accepted socket never returns (the echo hangs)",
                ),
                ("buffered", "uringcore 0.9.1 calls data_received() on a BufferedProtocol"),
                (
                    "picows",
                    "uringcore 0.9.1's transports have no socket for picows to set options on",
                ),
            ),
        ),
        Loop(
            "rsloop",
            "rsloop",
            "new_event_loop",
            "rsloop",
            optional=True,
            wheels="its wheels need glibc >= 2.39, its source a nightly Rust",
        ),
        layered("asyncio", "aiofastnet"),
        layered("uvloop", "aiofastnet"),
    )
}
STOCK = "asyncio"


def loop_named(name: str) -> Loop:
    """The registered loop, a layer over one (`BASE+LAYER`), or a custom `MODULE:FACTORY`;
    anything else is a usage error that lists the choices."""
    if name in LOOPS:
        return LOOPS[name]
    base, plus, layer = name.rpartition("+")
    if plus and layer in LAYERS and (base in LOOPS or CUSTOM.match(base)):
        return layered(base, layer)
    if CUSTOM.match(name):
        module, _, factory = name.partition(":")
        return Loop(name, module, factory)
    raise UsageError(
        f"unknown loop {name!r}: choose from {', '.join(LOOPS)}, BASE+LAYER "
        f"(layers: {', '.join(LAYERS)}) or MODULE:FACTORY"
    )


def checked(name: str, factory: LoopFactory) -> LoopFactory:
    """`factory`, made to say in one line (UsageError) when it makes no event loop."""

    def make() -> asyncio.AbstractEventLoop:
        try:
            loop = factory()
        except Exception as error:
            raise UsageError(f"loop {name}: calling it failed ({error})") from None
        if not isinstance(loop, asyncio.AbstractEventLoop):
            raise UsageError(f"loop {name}: made a {type(loop).__name__}, not an event loop")
        return loop

    return make


def resolve(name: str) -> LoopFactory:
    """A factory for the named loop, for `asyncio.Runner(loop_factory=...)`."""
    return loop_named(name).resolve()


def is_loop(label: str) -> bool:
    """Whether a cell's loop label names an asyncio loop (a reference's `epoll` does not)."""
    try:
        loop_named(label)
    except UsageError:
        return False
    return True


def loop_argument(name: str) -> str:
    """argparse `type=` for a loop name: checked for form here, resolved where it runs."""
    try:
        loop_named(name)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return name


def order_key(name: str) -> int:
    """Registry order; layers over a custom loop and custom loops after every registered one."""
    return list(LOOPS).index(name) if name in LOOPS else len(LOOPS)


def packages() -> tuple[str, ...]:
    """The distributions that provide the registered loops and layers, for results' records."""
    return tuple(dict.fromkeys(loop.package for loop in LOOPS.values() if loop.package))
