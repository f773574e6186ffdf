"""The schema's revision is checked without alembic: its idea of the newest revision must be alembic's."""

from __future__ import annotations

from webhook_app.store import Store, migrate


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
