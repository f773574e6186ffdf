"""`events list` from the command line: filters, time windows, JSON lines."""

from __future__ import annotations

import json
from pathlib import Path
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


def test_simulate_offers_each_sample_its_provider_can_build_and_refuses_others() -> None:
    from webhook_app.providers.resemble.callbacks import ResembleProvider

    for sample in ResembleProvider.samples:
        assert ResembleProvider.sample_callback(sample, "v")["status"] == sample
    unknown = CliRunner().invoke(cli, ["simulate", "resemble", "exploded"])
    assert unknown.exit_code == 2 and "dataset_issue" in unknown.output
    polled_only = CliRunner().invoke(cli, ["simulate", "azure", "finished"])
    assert polled_only.exit_code == 2 and "choose from resemble" in polled_only.output


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


def test_events_and_receipts_show_a_summary_and_json_on_asking(settings: Any, server: Any) -> None:
    env = {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}
    answer = server.post_callback(load_fixture("resemble_dataset_issue.json")).json()
    (event_id,) = answer["event_ids"]
    shown = CliRunner().invoke(cli, ["events", "show", event_id], env=env)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == f"{event_id}  voice.dataset.issue"
    assert any(line.startswith("  dataset   1 of 1 recording flagged") for line in lines), lines
    assert "deliveries: 1" in shown.output and "  log: pending" in shown.output
    as_json = json.loads(CliRunner().invoke(cli, ["events", "show", event_id, "--json"], env=env).output)
    assert as_json["id"] == event_id and as_json["deliveries"][0]["route"] == "log"
    receipt = CliRunner().invoke(cli, ["receipts", "show", answer["receipt_id"]], env=env)
    assert (
        receipt.exit_code == 0
        and f"  events    {event_id}" in receipt.output
        and "accepted" in receipt.output
    )
    whole = json.loads(
        CliRunner().invoke(cli, ["receipts", "show", answer["receipt_id"], "--json"], env=env).output
    )
    assert whole["body_encoding"] == "utf-8" and json.loads(whole["body"])["status"] == "dataset_issue"
    assert CliRunner().invoke(cli, ["receipts", "show", "rcpt_nope"], env=env).exit_code == 1


def test_prune_with_nothing_to_remove_succeeds_under_cron(settings: Any, store: Any) -> None:
    """Was: exit 1 ("nobody can answer") when there was nothing to delete."""
    env = {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}
    result = CliRunner().invoke(cli, ["prune", "--older-than", "90d"], env=env)
    assert result.exit_code == 0 and "nothing older than" in result.output and "to remove" in result.output


def test_the_command_line_finds_providers_groups_as_importlib_metadata_does(
    tmp_path: Any, monkeypatch: Any
) -> None:
    """Read without importing importlib.metadata (a fifth of `--help`), to the same answer."""
    from importlib.metadata import entry_points

    from webhook_app.cli import provided_commands

    assert provided_commands() == {ep.name: ep.value for ep in entry_points(group="webhook_app.commands")}
    plugin = tmp_path / "site" / "tick_voice_plugin-1.0.dist-info"
    plugin.mkdir(parents=True)
    (plugin / "entry_points.txt").write_text(
        "[webhook_app.providers]\ntick-voice = tick_voice.provider:TickVoiceProvider\n\n"
        "[webhook_app.commands]\n# a comment\ntick-voice = tick_voice.provider:commands\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert provided_commands()["tick-voice"] == "tick_voice.provider:commands"
    assert "azure" in provided_commands()


def test_the_web_master_applies_the_routes_without_importing_the_database_driver(
    database_url: str, tmp_path: Path
) -> None:
    """Was: `webhook-app web` applied the routes in gunicorn's master, which so imported psycopg
    before the evented workers were forked; they inherited its blocking waits and served one
    request at a time (PostgreSQL ingest fell from 1,852 to 930 req/s)."""
    import subprocess
    import sys

    from webhook_app.store import Store, migrate

    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    script = (
        "import sys; from webhook_app.cli.server import _apply_routes_apart; "
        "from webhook_app.config.settings import load_settings; "
        "_apply_routes_apart(load_settings()); "
        "print(sorted(m for m in ('psycopg', 'sqlite3') if m in sys.modules))"
    )
    env = {"WEBHOOK_APP_DATABASE_URL": database_url, "WEBHOOK_APP_DATA_DIR": str(tmp_path), "PATH": ""}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert [stored.name for stored in store.routes.all()[1]] == ["log"], "applied all the same (seeded)"
    store.dispose()
