"""The library's layout as docs/layout.md describes it (issue 25): every import among its modules, the
type-only ones included, runs one way; the management script is a client of the library's public names
and its read API, not of the plumbing."""

import ast
from pathlib import Path
from typing import Dict, List, Set

PACKAGE = Path(__file__).resolve().parents[2] / "pynamodb_tables"
#: The plumbing: what only the library's own modules use.
PLUMBING = {"store", "connection", "region_states", "tiles", "completion", "room", "tile_buffer",
            "validation", "tile_recorder"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def imports(path: Path, modules: Set[str]) -> Set[str]:
    """The package's ``modules`` that ``path`` imports, anywhere in it (``TYPE_CHECKING`` blocks and functions
    too)."""
    package = module_name(path).split(".")[:-1]
    named: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        parts = (node.module or "").split(".")
        if node.level:
            parts = [*package[:len(package) - node.level + 1], *parts]
        elif parts[0] == "pynamodb_tables":
            parts = parts[1:]
        else:
            continue
        module = [part for part in parts if part]
        named.add(".".join(module))
        named |= {".".join([*module, alias.name]) for alias in node.names}  # (from . import a, b)
    return (named & modules) - {module_name(path)}


def graph() -> Dict[str, Set[str]]:
    paths = list(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports(path, modules) for path in paths}


def cycles(edges: Dict[str, Set[str]]) -> List[Set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    found: List[Set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in edges.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_library_imports_run_one_way() -> None:
    library = {name: {each for each in targets if not each.startswith("management")}
               for name, targets in graph().items() if not name.startswith("management")}
    assert cycles(library) == []  # (the buffer writes through a store; the completion takes stores)


def test_the_management_script_reaches_no_more_of_the_plumbing() -> None:
    reached = {name: sorted(targets & PLUMBING) for name, targets in graph().items()
               if name.startswith("management.") and targets & PLUMBING}
    assert reached == {}  # (they read through pynamodb_tables.reads, the library's read API)
