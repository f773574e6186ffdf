"""The schema's revision is checked without alembic: its idea of the newest revision must be alembic's."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from webhook_app.store import Store, migrate
from webhook_app.store.migrate import HEAD_REVISION
from webhook_app.store.tables import deliveries, events


def test_the_head_revision_constant_is_alembics_head() -> None:
    assert migrate.head_revision() == migrate.HEAD_REVISION


def test_a_schema_is_current_only_after_upgrading(database_url: str) -> None:
    store = Store.from_url(database_url)
    try:
        assert migrate.current_revision(store.engine) is None and not migrate.is_current(store.engine)
        migrate.upgrade(store.engine)
        assert migrate.current_revision(store.engine) == migrate.HEAD_REVISION
        assert migrate.is_current(store.engine)
    finally:
        store.dispose()


def test_replays_that_raced_before_0010_keep_one_link_each(database_url: str) -> None:
    """Replays queued twice for one delivery (before the unique index) upgrade without a step."""
    store = Store.from_url(database_url)
    try:
        migrate.upgrade(store.engine, "0009")
        now = datetime(2026, 12, 1, tzinfo=UTC)
        with store.engine.begin() as conn:
            conn.execute(
                events.insert().values(
                    id="evt_1", provider="resemble", type="voice.training.succeeded", voice_id="v",
                    status="finished", occurred_at=now, receipt_id=None, document={},
                )
            )  # fmt: skip
            for n, replay_of in enumerate([None, "dlv_0", "dlv_0", "dlv_0"]):
                row = {"id": f"dlv_{n}", "event_id": "evt_1", "route": "r", "status": "dead", "attempts": 1,
                       "next_attempt_at": now, "created_at": now + timedelta(seconds=n),
                       "updated_at": now, "replay_of": replay_of}  # fmt: skip
                conn.execute(deliveries.insert().values(row))
        migrate.upgrade(store.engine)
        with store.engine.connect() as conn:
            links = dict(conn.execute(sa.select(deliveries.c.id, deliveries.c.replay_of)).all())
        assert links == {"dlv_0": None, "dlv_1": "dlv_0", "dlv_2": None, "dlv_3": None}
    finally:
        store.dispose()


def test_a_rollback_takes_the_schema_back_and_forth(database_url: str, tmp_path: Any) -> None:
    from click.testing import CliRunner

    from webhook_app.cli import cli

    env = {"WEBHOOK_APP_DATABASE_URL": database_url, "WEBHOOK_APP_DATA_DIR": str(tmp_path)}
    assert f"schema at {HEAD_REVISION}" in CliRunner().invoke(cli, ["db", "upgrade"], env=env).output
    back = CliRunner().invoke(cli, ["db", "downgrade", "0009", "--yes"], env=env)
    assert back.exit_code == 0 and "schema at 0009" in back.output, back.output
    assert f"schema at {HEAD_REVISION}" in CliRunner().invoke(cli, ["db", "upgrade"], env=env).output
    wrong = CliRunner().invoke(cli, ["db", "downgrade", "nope", "--yes"], env=env)
    assert wrong.exit_code == 1 and "cannot go back to 'nope'" in wrong.output


def _tables(engine: sa.Engine) -> dict[str, Any]:
    """Every table's columns, indexes, unique constraints, foreign keys and primary key."""
    inspector = sa.inspect(engine)
    described = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        described[table] = (
            sorted((c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)),
            sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
            ),
            sorted((u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)),
            sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in inspector.get_foreign_keys(table)
            ),
            inspector.get_pk_constraint(table)["constrained_columns"],
        )
    return described


def test_the_migrations_make_the_tables_as_declared(database_url: str, tmp_path: Any) -> None:
    """What lets the tests' fixtures make the schema from the declared tables (`at_head`)."""
    from tests.conftest import at_head, postgres_schema
    from webhook_app.store.tables import metadata

    migrated = Store.from_url(database_url)
    migrate.upgrade(migrated.engine)
    expected = _tables(migrated.engine)
    migrated.dispose()
    sqlite = database_url.startswith("sqlite")
    with (
        nullcontext(f"sqlite:///{tmp_path / 'declared.db'}") if sqlite else postgres_schema() as declared_url
    ):
        declared = Store.from_url(declared_url)
        at_head(declared.engine)
        assert _tables(declared.engine) == expected and set(expected) == set(metadata.tables)
        assert migrate.is_current(declared.engine)
        declared.dispose()
