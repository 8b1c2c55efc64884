"""The house rules of the layout: arrows point down, and no import circles at all."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("aionetbench", "servers", "clients", "bench")
# What each package may import from the suite: the pipeline's arrows point down.
ALLOWED = {
    "aionetbench": {"aionetbench"},
    "servers": {"aionetbench", "servers"},
    "clients": {"aionetbench", "clients"},
    "bench": {"aionetbench", "servers", "clients", "bench"},
}


def module_imports() -> dict[str, set[str]]:
    """Module name -> the suite's modules it imports (anywhere in it, TYPE_CHECKING too)."""
    graph = {}
    for package in PACKAGES:
        for path in (ROOT / package).glob("*.py"):
            name = f"{package}.{path.stem}"
            imported = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    imported.add(node.module)
                    imported |= {f"{node.module}.{alias.name}" for alias in node.names}
            graph[name] = {m for m in imported if m.split(".")[0] in PACKAGES and m != name}
    return {name: {m for m in deps if m in graph} for name, deps in graph.items()}


def test_arrows_point_down() -> None:
    for name, deps in module_imports().items():
        package = name.split(".")[0]
        wrong = {dep for dep in deps if dep.split(".")[0] not in ALLOWED[package]}
        assert not wrong, f"{name} imports {wrong}"


def test_no_import_cycles() -> None:
    graph = module_imports()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
