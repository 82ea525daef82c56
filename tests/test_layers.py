"""The three floors import only downwards (shared kit, servers, clients), product code never
reaches into tests or the local stack, and no module imports itself back through others."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FLOORS = {"common": 0, "servers": 1, "clients": 2, "policies": 0}


def product_modules() -> dict[str, Path]:
    modules = {}
    for folder in FLOORS:
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(("autodevops", *parts))] = path
    return modules


def imports_of(name: str, path: Path) -> set[str]:
    """Absolute names of what a module imports, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            if node.module:
                found.add(base)
            # `from . import x` names submodules (or attributes) of the package, not the package.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


MODULES = product_modules()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_its_floor_and_those_below(name: str) -> None:
    floor = FLOORS[name.split(".")[1]]
    for imported in imports_of(name, MODULES[name]):
        top = imported.split(".")[0]
        assert top not in ("tests", "devstack", "bench"), f"{name} imports {imported}"
        if top == "autodevops" and imported.count("."):
            target = imported.split(".")[1]
            assert FLOORS.get(target, 0) <= floor, f"{name} imports {imported} from above"


def test_no_import_cycles_between_product_modules() -> None:
    graph = {
        name: {i for i in imports_of(name, path) if i in MODULES and i != name}
        for name, path in MODULES.items()
    }
    # Depth-first search for a back edge; the path found is reported.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state:
            cycle = visit(name)
            assert cycle is None, " -> ".join(cycle)
