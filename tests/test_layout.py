"""The house rules of the layout: arrows point down, between packages and between the wings
of `bench/`; no import circles at all; modules and functions small enough to read."""

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
# The wings of `bench/` and the wings each may import. The reader of results (store) never
# imports measuring code, nor does anything that reports; `gate` measures and compares, and
# `bench.cli` only dispatches (it loads a command's wing when that command runs).
WINGS = {
    "plan": {"plan"},
    "store": {"plan", "store"},
    "analyse": {"plan", "store", "analyse"},
    "report": {"plan", "store", "analyse", "report"},
    "hosts": {"hosts"},
    "measure": {"plan", "store", "hosts", "measure"},
    "gate": {"plan", "store", "analyse", "report", "measure", "gate"},
}
TOP_LEVEL = {"bench", "bench.cli", "bench.__main__"}  # the modules outside any wing
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def modules() -> dict[str, Path]:
    """Every module of the suite by dotted name (packages by their own name)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def module_imports() -> dict[str, set[str]]:
    """Module name -> the suite's modules it imports (anywhere in it, TYPE_CHECKING too)."""
    found = modules()
    graph = {}
    for name, path in found.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
                imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        graph[name] = {m for m in imported if m in found and m != name}
    return graph


def wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if (parts[0] == "bench" and len(parts) > 2) or module in WINGS else None


def test_arrows_point_down() -> None:
    for name, deps in module_imports().items():
        package = name.split(".")[0]
        wrong = {dep for dep in deps if dep.split(".")[0] not in ALLOWED[package]}
        assert not wrong, f"{name} imports {wrong}"


def test_wings_point_down() -> None:
    graph = module_imports()
    for name, deps in graph.items():
        if not name.startswith("bench") or name in TOP_LEVEL:
            continue
        own = name.split(".")[1]
        assert own in WINGS, f"{name} is in no wing of bench/"
        wrong = {
            dep
            for dep in deps
            if dep.startswith("bench") and (dep in TOP_LEVEL or dep.split(".")[1] not in WINGS[own])
        }
        assert not wrong, f"{name} ({own}) imports {wrong}"
    cli = {dep for dep in graph["bench.cli"] if dep.startswith("bench")}
    assert not cli, f"bench.cli imports {cli} at load time: it dispatches by name"


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


def test_modules_and_functions_stay_small() -> None:
    for name, path in modules().items():
        text = path.read_text()
        assert text.count("\n") <= MAX_MODULE_LINES, f"{name}: {text.count(chr(10))} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                assert length <= MAX_FUNCTION_LINES, f"{name}.{node.name}: {length} lines"


def test_tests_share_only_through_helpers() -> None:
    """A test module imports what tests share from tests/helpers/, never from another test
    module or from conftest.py (which holds fixtures and marks only)."""
    for path in ROOT.joinpath("tests").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top = node.module.split(".")[0]
                assert not top.startswith("test_") and top != "conftest", (path.name, node.module)
