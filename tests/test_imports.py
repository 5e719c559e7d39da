"""Who may import whom: clients use only protocol/ and rules/ (names included), the hub never
imports clients, and no two packages import each other, however indirectly (run-time imports;
those under TYPE_CHECKING do not count)."""

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).parents[1]
FOLDERS = {
    "hub": "hutch.hub",
    "protocol": "hutch.protocol",
    "rules": "hutch.rules",
    "clients": "hutch.clients",
}


def package_of(path: Path) -> str:
    """The unit the rules speak of: hutch.<folder>.<subfolder> for a file in a subfolder; a
    module of the hub's own folder (node, app, cli...) is a unit of its own."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    folder = FOLDERS[parts[0]]
    if len(parts) > 2:
        return f"{folder}.{parts[1]}"
    if parts[0] == "hub" and parts[1] != "__init__":
        return f"{folder}.{parts[1]}"
    return folder


def runtime_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hutch."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("hutch."))
    return found


def graph() -> dict[str, set[str]]:
    edges: defaultdict[str, set[str]] = defaultdict(set)
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            source = package_of(path)
            for module in runtime_imports(path):
                target = next(
                    (
                        p
                        for p in sorted(all_packages(), key=len, reverse=True)
                        if module == p or module.startswith(p + ".")
                    ),
                    module,
                )
                if target != source:
                    edges[source].add(target)
    return edges


def all_packages() -> set[str]:
    return {package_of(path) for folder in FOLDERS for path in (ROOT / folder).rglob("*.py")}


def test_clients_import_only_protocol_and_rules() -> None:
    for source, targets in graph().items():
        if source.startswith("hutch.clients"):
            outside = {
                t for t in targets if not t.startswith(("hutch.protocol", "hutch.rules", "hutch.clients"))
            }
            assert not outside, f"{source} imports {outside}"


def test_the_hub_never_imports_clients() -> None:
    for source, targets in graph().items():
        if source.startswith("hutch.hub"):
            assert not {t for t in targets if t.startswith("hutch.clients")}, source


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one unit (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        for target in sorted(edges.get(unit, ())):
            if target not in index:
                visit(target)
                low[unit] = min(low[unit], low[target])
            elif target in stack:
                low[unit] = min(low[unit], index[target])
        if low[unit] == index[unit]:
            group = []
            while (member := stack.pop()) != unit:
                group.append(member)
            group.append(unit)
            if len(group) > 1:
                found.append(sorted(group))

    for unit in sorted(edges):
        if unit not in index:
            visit(unit)
    return found


def test_no_two_packages_import_each_other() -> None:
    assert cycles(graph()) == []


def test_a_cycle_is_found() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
