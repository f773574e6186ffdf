"""Retention: `prune` removes old, finished history in batches and never a pending delivery."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from click.testing import CliRunner

from tests.conftest import succeed
from webhook_app.cli import cli
from webhook_app.model.routes import Route
from webhook_app.providers.resemble import callbacks as resemble
from webhook_app.store import NewReceipt, PlannedDelivery, Store
from webhook_app.store.audit import Audit, AuditFilters
from webhook_app.store.records import delivery_row
from webhook_app.store.tables import deliveries
from webhook_app.usecases.ingest import record_events

NOW = datetime.now(UTC)
ROUTES = (Route(name="r", handler="log"),)


def add(store: Store, voice: str, age_days: float) -> str:
    at = NOW - timedelta(days=age_days)
    receipt = NewReceipt(provider="resemble", received_at=at, body=b"{}", headers={})
    (event,) = resemble.to_events(
        resemble.validate_callback({"id": voice, "status": "finished"}), receipt_id=receipt.id, received_at=at
    )
    record_events(store, ROUTES, receipt, [event], dedupe_key=None, dedupe_window=timedelta(0))
    return event.id


def finish_all(store: Store) -> None:
    for claim in store.deliveries.claim_due_deliveries(
        worker="w", now=NOW, limit=100, lease=timedelta(seconds=30)
    ):
        succeed(store, claim, "w", NOW)


def test_prune_keeps_recent_and_pending_and_removes_the_rest_in_batches(store: Store) -> None:
    old = [add(store, f"old-{n}", 100) for n in range(5)]
    recent = add(store, "recent", 1)
    finish_all(store)
    old_pending = add(store, "old-pending", 100)  # its delivery was never attempted
    store.ingest.record_rejected(
        NewReceipt(provider="resemble", received_at=NOW - timedelta(days=120), body=b"x", headers={}),
        {"code": "x"},
        keep=10,
    )
    batches: list[tuple[str, int]] = []
    store.rollups.roll_up(now=NOW + timedelta(minutes=1))  # what the worker's job does
    assert store.retention.prune_counts(before=NOW - timedelta(days=90))["voices"] == 5
    audit = Audit("cli:ops@host", "prune", "older than 90 days", NOW)
    removed = store.retention.prune(
        before=NOW - timedelta(days=90),
        batch=2,
        progress=lambda kind, n: batches.append((kind, n)),
        audit=audit,
    )
    assert removed == {
        "events": 5, "deliveries": 5, "attempts": 5, "receipts": 6, "voices": 5
    }  # fmt: skip
    (entry,), _ = store.audit.entries(AuditFilters(action="prune"), limit=10)
    assert entry["details"] == {"removed": removed}, "one entry, brought up to date by every batch"
    assert [n for kind, n in batches if kind == "events"] == [2, 2, 1], "short transactions, one batch each"
    assert all(store.reads.get_event(e) is None for e in old)
    assert store.reads.get_event(recent) is not None
    assert store.reads.get_event(old_pending) is not None
    assert store.reads.deliveries_of(old_pending)[0]["status"] == "pending"
    listed, _ = store.rollups.voice_list(provider=None, q=None, last_type=None, limit=100, cursor=None)
    voices = {voice["voice_id"] for voice in listed}
    assert voices == {"recent", "old-pending"}, "a voice goes once its last event has gone"
    again = store.retention.prune(before=NOW - timedelta(days=90), audit=Audit("t", "prune", "again", NOW))
    assert again["events"] == 0
    assert len(store.audit.entries(AuditFilters(action="prune"), limit=10)[0]) == 1, (
        "nothing removed, nothing recorded"
    )


def test_prune_command(settings: Any, store: Store) -> None:
    add(store, "old", 100)
    finish_all(store)
    env = {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}
    result = CliRunner().invoke(cli, ["prune", "--older-than", "90d", "--yes"], env=env)
    assert result.exit_code == 0, result.output
    summary = "1 events, 1 deliveries, 1 attempts, 1 receipts, 0 voices, 0 azure_operations removed"
    assert summary in result.output
    (entry,), _ = store.audit.entries(AuditFilters(action="prune"), limit=10)
    assert entry["actor"].startswith("cli:") and entry["details"]["removed"]["events"] == 1


def test_prune_keeps_the_audit_log_unless_told(settings: Any, store: Store) -> None:
    with store.writing() as conn:
        Audit("alice", "route.pause", "partner", NOW - timedelta(days=400)).write(conn)
    env = {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}
    add(store, "old", 100)
    finish_all(store)
    kept = CliRunner().invoke(cli, ["prune", "--older-than", "90d", "--yes"], env=env)
    assert kept.exit_code == 0, kept.output
    assert store.audit.entries(AuditFilters(actor="alice"), limit=10)[0], "events go, the audit entry stays"
    gone = CliRunner().invoke(
        cli, ["prune", "--older-than", "90d", "--audit-older-than", "365d", "--yes"], env=env
    )
    assert gone.exit_code == 0 and "1 audit entries removed" in gone.output, gone.output
    assert not store.audit.entries(AuditFilters(actor="alice"), limit=10)[0]
    actions = [e["target"] for e in store.audit.entries(AuditFilters(action="prune"), limit=10)[0]]
    assert len(actions) == 2 and actions[0].startswith("audit entries older than"), actions
    bad = CliRunner().invoke(cli, ["prune", "--older-than", "a while"], env=env)
    assert bad.exit_code == 2 and "not a duration" in bad.output


def test_a_replay_queued_while_prune_runs_is_kept_and_prune_does_not_abort(store: Store) -> None:
    """Was (PostgreSQL): prune deleted a replay queued during its batch, or aborted on a foreign key."""
    event_id = add(store, "old-replayed", 100)
    finish_all(store)
    (done,) = store.reads.deliveries_of(event_id)
    replay = delivery_row(PlannedDelivery(event_id=event_id, route="r", replay_of=done["id"]), NOW)
    outcome: dict[str, Any] = {}
    with store.writing() as conn:  # the replay's transaction: under way when prune starts
        conn.execute(deliveries.insert().values(replay))

        def prune() -> None:
            try:
                audit = Audit("t", "prune", "old", NOW)
                outcome["removed"] = store.retention.prune(before=NOW - timedelta(days=90), audit=audit)
            except Exception as exc:  # what the test reports
                outcome["error"] = exc

        pruning = threading.Thread(target=prune)
        pruning.start()
        time.sleep(0.5)
    pruning.join(30)
    assert "error" not in outcome, outcome
    assert outcome["removed"]["events"] == 0
    assert [d["id"] for d in store.reads.deliveries_of(event_id)] == [done["id"], replay["id"]]
