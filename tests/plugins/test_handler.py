"""The handler guide (docs/writing-a-handler.md), installed as a package, gets events in a real worker."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, wait_until
from tests.processes import Process, environment, ingest_directly
from tests.sink import Sink
from webhook_app.model.routes import Route
from webhook_app.store import Store

pytestmark = pytest.mark.slow  # real processes, a browser or a drill


def readme_block(marker: str) -> tuple[str, str]:
    """The fenced block after `<!-- guide:MARKER … -->` in the guides (docs/writing-a-*.md), with
    the marker's argument."""
    guides = "".join(path.read_text() for path in sorted((REPO / "docs").glob("writing-a-*.md")))
    match = re.search(rf"<!-- guide:{marker} ?(\S*) -->\n```\w+\n(.*?)```", guides, re.S)
    assert match, f"docs/writing-a-*.md has no guide:{marker} block"
    return match.group(1), match.group(2)


def build_plugin(tmp_path: Path, code_marker: str = "handler", entry_marker: str = "entry-point") -> Path:
    """The README's example as a package installed into a folder of its own (for PYTHONPATH)."""
    module_path, code = readme_block(code_marker)
    _, entry_point = readme_block(entry_marker)
    package_name = module_path.split("/")[0]
    package = tmp_path / f"{package_name}-plugin"
    (package / module_path).parent.mkdir(parents=True)
    (package / module_path).write_text(code)
    (package / module_path).parent.joinpath("__init__.py").write_text("")
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{package_name.replace("_", "-")}-plugin"\nversion = "1.0"\n'
        f'[tool.setuptools]\npackages = ["{package_name}"]\n' + entry_point
    )
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(package)],
        check=True, capture_output=True,
    )  # fmt: skip
    return target


def test_the_guide_handler_installed_as_a_plugin_receives_events(
    database_url: str, tmp_path: Path, sink: Sink
) -> None:
    site = build_plugin(tmp_path)
    assert list(site.glob("mycompany_plugin-1.0.dist-info/entry_points.txt"))
    config = tmp_path / "routes.toml"
    options = f'[routes.options]\nurl = "{sink.url}/alerts"\napi_key = "pager-secret"\n'
    config.write_text(
        '[[routes]]\nname = "by-name"\nhandler = "pager"\n' + options
        + '[[routes]]\nname = "by-path"\nhandler = "mycompany.hooks:PagerHandler"\n' + options
    )  # fmt: skip
    routes = (Route(name="by-name", handler="pager"), Route(name="by-path", handler="pager"))
    event_id = ingest_directly(database_url, routes)
    env = environment(database_url, tmp_path, config=str(config))
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    worker = Process(["worker"], env, tmp_path)
    store = Store.from_url(database_url)
    try:
        wait_until(
            lambda: {d["status"] for d in store.reads.deliveries_of(event_id)} == {"succeeded"}, timeout=20
        )
    except AssertionError:
        raise AssertionError(worker.output) from None
    finally:
        worker.close()
        store.dispose()
    assert len(sink.requests) == 2
    for request in sink.requests:
        alert: dict[str, Any] = request.json()
        assert request.path == "/alerts" and request.headers["Authorization"] == "Token pager-secret"
        assert alert["dedup_key"] == event_id and alert["details"]["type"] == "voice.dataset.issue"
    assert "pager-secret" not in worker.output
