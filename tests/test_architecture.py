"""The package's layering, read from its imports (tools/import_graph.py, docs/architecture.md)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tools import import_graph

REPO = Path(__file__).resolve().parents[1]


def test_the_import_graph_has_no_loop_and_no_arrow_up() -> None:
    known = import_graph.modules()
    graph = import_graph.edges(known)
    assert import_graph.loops(graph, sorted(known)) == []
    assert import_graph.arrows_up(graph) == []


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = [m for m in import_graph.modules() if m != "webhook_app" and import_graph.layer_of(m) is None]
    assert unplaced == []


def test_the_plugin_contracts_import_nothing_above_the_model() -> None:
    graph = import_graph.edges(import_graph.modules())
    contracts = {m: targets for m, targets in graph.items() if m.startswith("webhook_app.plugins.")}
    contracts.pop("webhook_app.plugins.__init__", None)
    for module, targets in contracts.items():
        above = [
            t
            for t in targets
            if (import_graph.layer_of(t) or 0) > 0 and not t.startswith("webhook_app.plugins")
        ]
        assert above == [], module


def test_a_layer_check_catches_an_import_that_points_up() -> None:
    """The check itself can fail: a model module importing the store is reported."""
    graph = {"webhook_app.model.events": {"webhook_app.store.store"}}
    assert import_graph.arrows_up(graph) == [("webhook_app.model.events", "webhook_app.store.store")]


def test_the_package_keeps_at_most_twelve_modules_at_its_top_level() -> None:
    top = sorted(p.name for p in (REPO / "webhook_app").glob("*.py"))
    assert len(top) <= 12, top


PROVIDER_NAMED_IN_THE_CONTRACT = {
    # The event contract (docs/events.md) names these: the ops event `ops.azure.unauthorized`, a
    # recording's `resemble_sample_score` (its floor is a setting), and the schemas and pages
    # that show them.
    "webhook_app/model/events.py",
    "webhook_app/model/recordings.py",
    "webhook_app/web/schemas.py",
    # History: a migration is never edited once released.
    "webhook_app/store/migrations/versions/0011_voice_names.py",
}
"""Core files that name a provider because the event contract does; no other may."""


def test_no_more_core_code_names_a_provider() -> None:
    """Outside `providers/`, code says neither "resemble" nor "azure" (providers plug in through
    the contracts), except where the event contract itself names one (listed above)."""
    word = re.compile(r"resemble|azure", re.I)
    found = set()
    for path in sorted((REPO / "webhook_app").rglob("*")):
        relative = path.relative_to(REPO).as_posix()
        if path.suffix not in (".py", ".html") or relative.startswith("webhook_app/providers/"):
            continue
        if word.search(path.read_text()):
            found.add(relative)
    assert found - PROVIDER_NAMED_IN_THE_CONTRACT == set()


def test_no_module_over_400_lines_and_no_function_over_60() -> None:
    """Migrations are history, written once and never edited, so they are left out."""
    import ast

    too_long = []
    for path in sorted((REPO / "webhook_app").rglob("*.py")) + sorted((REPO / "handlers").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        if text.count("\n") > 400:
            too_long.append(f"{path.relative_to(REPO)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    too_long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {length} lines")
    assert too_long == []


def test_the_repository_keeps_no_secret_an_instance_makes() -> None:
    """Was: a running instance's sealing key (`webhook_app.secret_key`) was committed, so every
    clone sealed route secrets with the same, public key."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    made = {"webhook_app.secret_key", "webhook_app.tokens.json"}
    assert made & {Path(name).name for name in tracked} == set()
    ignored = (REPO / ".gitignore").read_text().split()
    assert made <= set(ignored), "and git is told to leave them out"
