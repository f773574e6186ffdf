"""Tracking Azure operations and polling them politely, turning each status change into an event.

Cadence: the first poll comes `poll_interval` after tracking; while nothing changes the
interval grows ×1.5 (with ±25 % jitter) up to `max_interval`; a change resets it. A
`Retry-After` (seconds or HTTP-date, on 429 or any answer) is a floor for the next poll.
Network errors and 5xx back off the same way. 401/403 stop the operation with a
configuration error. After `max_age` without a terminal status, or when Azure no longer
knows the operation (404/410), a `voice.operation.stalled` event ends the tracking.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from webhook_app.config.settings import Settings
from webhook_app.errors import InvalidInput, WebhookAppError
from webhook_app.model import ops
from webhook_app.model.clock import Clock, SystemClock
from webhook_app.model.events import Event, EventType
from webhook_app.model.retry import parse_retry_after
from webhook_app.model.states import OperationState
from webhook_app.plugins.job import Ingest, Job
from webhook_app.providers.azure import mapping as azure
from webhook_app.providers.azure.client import AzureClient, OperationGone, PollFailed, PollStopped
from webhook_app.providers.azure.metrics import polled
from webhook_app.providers.azure.operations import NewOperation, OperationStore, TrackedOperation
from webhook_app.providers.azure.settings import AzureSettings
from webhook_app.runtime.worker import new_worker_id
from webhook_app.store import NewReceipt, Store

logger = logging.getLogger(__name__)

GROWTH = 1.5
IDLE_SLEEP_CAP_SECONDS = 5.0
STATUS_CHARS = 40  # the column's size; Azure's words (NotStarted, Running, Succeeded, Failed) are far shorter


class AzureKeyMissing(WebhookAppError):
    """No Speech key is configured, so no poll could succeed: refused when tracking, not at the first poll."""

    status, code = 409, "azure_key_missing"

    def __init__(self) -> None:
        super().__init__(
            "WEBHOOK_APP_AZURE_SPEECH_KEY is not set, so this operation could not be polled: set it to the "
            "Speech resource's key (where the worker runs), then track the operation"
        )


def track_operation(
    operations: OperationStore, settings: Settings, *, url: str, kind: str, resource_id: str, now: datetime
) -> tuple[TrackedOperation, bool]:
    """Validate and track an operation URL; `UnsafeOperationURL` or ValueError explain a refusal,
    `AzureKeyMissing` a service that could not poll it."""
    try:
        if kind not in azure.KINDS:
            raise ValueError(f"kind must be one of {', '.join(azure.KINDS)}")
        azure.check_resource_id(resource_id.strip())
    except ValueError as exc:
        raise InvalidInput(
            str(exc), {"operation_url": [str(exc)]}, status=422, code="invalid_operation"
        ) from None
    own = AzureSettings.read(settings)
    operation_id = azure.check_operation_url(url, own.allowed_hosts)
    if not own.speech_key:
        raise AzureKeyMissing()
    new = NewOperation(
        operation_url=url,
        operation_id=operation_id,
        kind=kind,
        resource_id=resource_id.strip(),
        interval_seconds=own.poll_interval,
    )
    return operations.track(new, now=now, limit=settings.max_tracked_operations)


class AzurePoller(Job):
    name = "azure-poller"

    def __init__(
        self,
        store: Store,
        ingest: Ingest,
        settings: Settings,
        *,
        clock: Clock | None = None,
        worker_id: str | None = None,
        client: AzureClient | None = None,
        batch: int = 16,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__()
        self.store = store
        self.operations = OperationStore(store)
        self.ingest = ingest
        self.settings = settings
        self.clock = clock or SystemClock()
        self.worker_id = worker_id or new_worker_id()
        self.azure = AzureSettings.read(settings)
        self.client = client or AzureClient(self.azure.speech_key, self.azure.allowed_hosts)
        self.batch = batch
        self.jitter = jitter
        self.lease = timedelta(seconds=settings.lease_seconds)

    def close(self) -> None:
        self.client.close()

    def idle_seconds(self, claimed: int) -> float:
        """None at once after a full batch; else until the next operation is due, at most 5 s."""
        if claimed >= self.batch:
            return 0.0
        next_due = self.operations.next_due_at()
        if next_due is None:
            return IDLE_SLEEP_CAP_SECONDS
        return min(IDLE_SLEEP_CAP_SECONDS, max(0.05, (next_due - self.clock.now()).total_seconds()))

    def run_once(self) -> int:
        """Poll every due operation once; returns how many were polled."""
        claimed = self.operations.claim_due(
            worker=self.worker_id, now=self.clock.now(), limit=self.batch, lease=self.lease
        )
        for operation in claimed:
            try:
                self.poll(operation)
            except Exception as exc:
                # No transition is lost either way: it was not saved, and the next poll sees it again.
                logger.exception("polling %s failed unexpectedly", operation.id, extra=_context(operation))
                self._retry_after_surprise(operation, exc)
        return len(claimed)

    def poll(self, operation: TrackedOperation) -> None:
        now = self.clock.now()
        if now - operation.created_at >= timedelta(seconds=self.azure.max_age):
            hours = self.azure.max_age / 3600
            self._stalled(
                operation, f"The operation did not finish within {hours:g} h (WEBHOOK_APP_AZURE_MAX_AGE)."
            )
            return
        try:
            body, headers = self.client.read(operation.operation_url, now=now)
            status = azure.word(body.get("status"), STATUS_CHARS) if isinstance(body, dict) else None
            if status is None:
                raise PollFailed(
                    f"Azure's answer has no status (a word of at most {STATUS_CHARS} characters)"
                )
            retry_after = parse_retry_after(headers.get("retry-after"), now)
            if status == operation.status:
                self._schedule(operation, now, operation.interval_seconds * GROWTH, None, retry_after)
                polled.send(self, outcome="unchanged")
                return
            resource = None
            if status in azure.TERMINAL:
                resource, _ = self.client.read(
                    azure.resource_url(operation.operation_url, operation.kind, operation.resource_id),
                    now=now,
                    missing_ok=True,
                )
        except PollFailed as exc:
            self._schedule(operation, now, operation.interval_seconds * 2, str(exc), exc.retry_after)
            polled.send(self, outcome="retry")
            return
        except OperationGone as exc:
            self._stalled(operation, str(exc))
            return
        except PollStopped as exc:
            self._stop(operation, now, exc)
            return
        self._transition(operation, now, status, resource, headers)
        polled.send(self, outcome="changed")

    def _stop(self, operation: TrackedOperation, now: datetime, exc: PollStopped) -> None:
        """Stop polling; when Azure refused the key (401/403), say so with `ops.azure.unauthorized`."""
        raised = []
        if exc.status_code in (401, 403):
            raised.append(
                ops.provider_unauthorized(
                    EventType.OPS_AZURE_UNAUTHORIZED,
                    operation_id=operation.operation_id,
                    resource_id=operation.resource_id,
                    status_code=exc.status_code,
                    at=now,
                )
            )
        self.ingest.record_with(  # stopped until tracked again, with the ops event that says so
            None,
            raised,
            dedupe_key=None,
            together_with=lambda conn: self.operations.move(
                conn,
                operation,
                worker=self.worker_id,
                state=OperationState.ERROR.value,
                polls=operation.polls + 1,
                last_error=str(exc),
                updated_at=now,
            ),
        )
        polled.send(self, outcome="stopped")
        logger.error("stopped polling %s: %s", operation.operation_url, exc, extra=_context(operation))

    def _retry_after_surprise(self, operation: TrackedOperation, exc: Exception) -> None:
        """Back off and say why in `last_error`, rather than poll again the moment the lease ends."""
        try:
            error = f"polling failed unexpectedly ({type(exc).__name__}); see the worker's log"
            self._schedule(operation, self.clock.now(), operation.interval_seconds * 2, error, None)
        except Exception:  # the database itself: the lease expires and the operation is polled again
            logger.warning("could not record the failed poll of %s", operation.id, extra=_context(operation))

    def _schedule(
        self,
        operation: TrackedOperation,
        now: datetime,
        interval: float,
        error: str | None,
        retry_after: float | None,
    ) -> None:
        interval = min(self.azure.poll_max_interval, max(self.azure.poll_interval, interval))
        delay = min(self.azure.poll_max_interval, interval * (0.75 + 0.5 * self.jitter()))
        if retry_after is not None:  # a floor, but no proxy's absurd number may park the operation for days
            delay = max(delay, min(retry_after, self.azure.poll_max_interval))
        self.operations.record_poll(
            operation,
            worker=self.worker_id,
            now=now,
            next_poll_at=now + timedelta(seconds=delay),
            interval_seconds=interval,
            last_error=error,
        )
        if error:
            logger.warning(
                "poll of %s failed, next in %.1fs: %s",
                operation.operation_id,
                delay,
                error,
                extra=_context(operation),
            )

    def _transition(
        self,
        operation: TrackedOperation,
        now: datetime,
        status: str,
        resource: Any,
        headers: dict[str, str],
    ) -> None:
        body = {"operation_url": operation.operation_url, "status": status, "resource": resource}
        receipt = self._receipt(now, body, headers)
        event = azure.to_event(
            kind=operation.kind,
            resource_id=operation.resource_id,
            operation_id=operation.operation_id,
            status=status,
            resource=resource if isinstance(resource, dict) else None,
            receipt_id=receipt.id,
            at=now,
        )
        finished = status in azure.TERMINAL
        self._record(
            operation,
            now,
            status=status,
            state=OperationState.FINISHED.value if finished else OperationState.ACTIVE.value,
            receipt=receipt,
            event=event,
            interval=self.azure.poll_interval,
            headers=headers,
        )

    def _stalled(self, operation: TrackedOperation, reason: str) -> None:
        polled.send(self, outcome="stalled")
        now = self.clock.now()
        receipt = self._receipt(now, {"operation_url": operation.operation_url, "stalled": reason}, {})
        event = azure.stalled_event(
            resource_id=operation.resource_id,
            operation_id=operation.operation_id,
            status=operation.status,
            reason=reason,
            receipt_id=receipt.id,
            at=now,
        )
        self._record(
            operation,
            now,
            status=operation.status,
            state=OperationState.STALLED.value,
            receipt=receipt,
            event=event,
            interval=operation.interval_seconds,
            headers={},
            dedupe_status="Stalled",
            last_error=reason,
        )

    def _record(
        self,
        operation: TrackedOperation,
        now: datetime,
        *,
        status: str,
        state: str,
        receipt: NewReceipt,
        event: Event,
        interval: float,
        headers: dict[str, str],
        dedupe_status: str | None = None,
        last_error: str | None = None,
    ) -> None:
        retry_after = min(
            parse_retry_after(headers.get("retry-after"), now) or 0.0, self.azure.poll_max_interval
        )
        result = self.ingest.record_with(  # the row moves with the event, or neither is kept
            receipt,
            [event],
            dedupe_key=azure.dedupe_key(operation.operation_id, dedupe_status or status),
            together_with=lambda conn: self.operations.move(
                conn,
                operation,
                worker=self.worker_id,
                status=status,
                state=state,
                polls=operation.polls + 1,
                next_poll_at=now + timedelta(seconds=max(interval, retry_after)),
                interval_seconds=interval,
                last_error=last_error,
                updated_at=now,
            ),
        )
        if result is None:
            logger.info("operation %s changed hands before its transition was saved", operation.id)
            return
        if not result.duplicate:
            logger.info(
                "azure %s %s: %s -> %s (%s)",
                operation.kind,
                operation.resource_id,
                operation.status,
                dedupe_status or status,
                event.type,
                extra={**_context(operation), "event_id": event.id},
            )

    @staticmethod
    def _receipt(now: datetime, body: dict[str, Any], headers: dict[str, str]) -> NewReceipt:
        """What Azure said, kept like a callback's body (the key is a request header: never kept)."""
        return NewReceipt(
            provider=azure.PROVIDER,
            received_at=now,
            body=json.dumps(body, separators=(",", ":")).encode(),
            headers=headers,
            content_type="application/json",
        )


def _context(operation: TrackedOperation) -> dict[str, str]:
    return {"operation_id": operation.operation_id}
