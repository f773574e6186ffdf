"""`events list` from the command line: filters, time windows, JSON lines."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from tests.conftest import load_fixture
from webhook_app.cli import cli


def test_events_list_filters_by_time_and_prints_json(server: Any, settings: Any) -> None:
    server.post_callback(load_fixture("resemble_finished.json"))
    env = {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}
    recent = CliRunner().invoke(cli, ["events", "list", "--since", "1h", "--json"], env=env)
    assert recent.exit_code == 0
    assert json.loads(recent.output.splitlines()[0])["type"] == "voice.training.succeeded"
    older = CliRunner().invoke(cli, ["events", "list", "--until", "1h"], env=env)
    assert older.exit_code == 0 and older.output.strip() == "no events"
    typed = CliRunner().invoke(cli, ["events", "list", "--type", "voice.dataset.issue"], env=env)
    assert typed.output.strip() == "no events"
    bad = CliRunner().invoke(cli, ["events", "list", "--until", "soonish"], env=env)
    assert bad.exit_code == 2 and "--until" in bad.output


def test_the_command_line_offers_the_statuses_samples_can_build() -> None:
    from webhook_app import cli as command_line
    from webhook_app import samples

    assert command_line.SIMULATED_STATUSES == samples.SIMULATED_STATUSES


def test_importing_the_package_or_its_handler_api_loads_no_web_or_database_stack() -> None:
    import subprocess
    import sys

    probe = (
        "import sys; import webhook_app; from webhook_app import Handler, Event, EventType; "
        "import webhook_app.cli; "
        "print(sorted(m for m in ('flask', 'sqlalchemy', 'psycopg', 'alembic') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_a_since_outside_the_calendar_is_a_usage_error(settings: Any, store: Any) -> None:
    env = {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}
    for since in ("0001-01-01T00:00:00+14:00", "99999999d"):
        result = CliRunner().invoke(cli, ["deliveries", "retry", "--since", since, "--yes"], env=env)
        assert result.exit_code == 2 and "--since" in result.output, result.output
