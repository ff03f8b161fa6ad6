"""The import graph of `shareai/`, from the source (`ast`, nothing imported): no loops among the
coordinator's modules, and the coordinator never reaches up into the agent or the dev tools.

Every import counts: top-level, inside functions, and under `if TYPE_CHECKING:` (a type-only loop
is still a loop a reader has to untangle, and the next refactor turns it into a real one).
`from pkg import name` is an edge to `pkg.name` when that is a module, else to `pkg`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import shareai

ROOT = Path(shareai.__file__).parent

# What must remain, and why. Keep this short; each entry is a reviewed exception.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    # (importer, imported): reason
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in files else base)
            for target in targets:
                if target.startswith("shareai") and target != name:
                    # `import shareai.a.b` names a module; strip to the longest one that exists.
                    while target not in files and "." in target:
                        target = target.rpartition(".")[0]
                    if target in files and target != name:
                        graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]], nodes: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), restricted to `nodes`."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v] & nodes):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_and_type_only_imports() -> None:
    graph = import_graph()
    # cli.py imports the composition root inside the `serve` command only.
    assert "shareai.coordinator.compose" in graph["shareai.coordinator.cli"]
    # interfaces.py names the host's types under `if TYPE_CHECKING:` only.
    assert "shareai.coordinator.admin" in graph["shareai.coordinator.interfaces"]
    # A loop planted in a copy of the graph is found.
    planted = {k: set(v) for k, v in graph.items()}
    planted["shareai.coordinator.interfaces"].add("shareai.coordinator.compose")
    coordinator = {m for m in planted if m.startswith("shareai.coordinator")}
    assert _cycles(planted, coordinator)


def test_no_import_loop_among_coordinator_modules() -> None:
    graph = import_graph()
    coordinator = {m for m in graph if m == "shareai.coordinator" or m.startswith("shareai.coordinator.")}
    assert _cycles(graph, coordinator) == []


def test_the_coordinator_never_imports_the_agent_or_the_dev_tools() -> None:
    graph = import_graph()
    higher = ("shareai.agent", "shareai.devstack", "shareai.demo", "shareai.smoke_local")
    upward = sorted(
        (m, t) for m, targets in graph.items() if m.startswith("shareai.coordinator")
        for t in targets if t.startswith(higher) and (m, t) not in ALLOWED_UPWARD
    )
    assert upward == []


def test_subsystems_depend_on_the_host_interface_not_on_the_app() -> None:
    graph = import_graph()
    importers = sorted(m for m, targets in graph.items() if "shareai.coordinator.app" in targets)
    # Only the composition root (and what sits above it) may know the concrete Coordinator.
    assert importers == ["shareai.coordinator.compose"]
