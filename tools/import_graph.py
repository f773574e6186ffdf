"""The import graph of `webhook_app` and `handlers`, and its loops.

    python tools/import_graph.py            # every loop, and every import that points up the layers
    python tools/import_graph.py --edges    # every edge, `importer -> imported`

Every import counts: at module level, inside functions, and under `TYPE_CHECKING`. An import
of `a.b.c` is an edge to the module `a.b.c` when it exists, else to the package `a.b`;
`from a.b import c` is also an edge to the package `a.b`, whose `__init__` runs first (so a
module that imports its own package that way counts). Exits 1 when there is a loop
or an arrow up.

The layers, lowest first (docs/architecture.md): a module may import its own layer and those
below it, never one above. The plugin contracts (`plugins/`) sit right above the model, so a
plugin that imports them loads nothing of the service; providers and handlers are plugins,
on top, and nothing of the core imports them (it finds them through entry points).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("webhook_app", "handlers")
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "webhook_app.errors",
        "webhook_app.tokens",
        "webhook_app.alarms",
        "webhook_app.outbound",
        "webhook_app.model",
    ),
    ("webhook_app.plugins",),
    ("webhook_app.config",),
    ("webhook_app.store",),
    ("webhook_app.usecases", "webhook_app.telemetry", "webhook_app.services"),
    ("webhook_app.web",),
    ("webhook_app.runtime",),
    ("webhook_app.cli", "webhook_app.__main__"),
    ("webhook_app.providers", "handlers"),
)


def layer_of(module: str) -> int | None:
    """The index in `LAYERS` of the module's layer (None for the package itself)."""
    for level, prefixes in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return level
    return None


def arrows_up(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Every import of a module in a higher layer than the importer's."""
    found = []
    for importer, targets in graph.items():
        for target in targets:
            mine, theirs = layer_of(importer), layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                found.append((importer, target))
    return sorted(found)


def modules() -> dict[str, Path]:
    found = {}
    for root in ROOTS:
        for path in (REPO / root).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def edges(known: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                    ).strip(".")
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def loops(graph: dict[str, set[str]], names: list[str]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for name in names:
        if name not in index:
            visit(name)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--edges", action="store_true", help="print every edge")
    args = parser.parse_args()
    known = modules()
    graph = edges(known)
    if args.edges:
        for name in sorted(graph):
            for target in sorted(graph[name]):
                print(f"{name} -> {target}")
    found = loops(graph, sorted(known))
    for group in found:
        print(f"loop of {len(group)}: {', '.join(group)}")
    up = arrows_up(graph)
    for importer, target in up:
        print(f"arrow up: {importer} -> {target}")
    imports = sum(len(t) for t in graph.values())
    print(f"{len(known)} modules, {imports} imports, {len(found)} loop(s), {len(up)} arrow(s) up")
    sys.exit(1 if found or up else 0)


if __name__ == "__main__":
    main()
