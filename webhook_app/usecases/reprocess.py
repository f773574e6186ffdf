"""Re-running validation on rejected receipts, e.g. after fixing a mapping or a provider slip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from webhook_app.errors import WebhookAppError
from webhook_app.model.routes import Route, describe_validation_error
from webhook_app.model.states import ReceiptStatus
from webhook_app.plugins.provider import InvalidCallback, Provider
from webhook_app.services import Services
from webhook_app.store import IngestResult, Store
from webhook_app.store.ingest import ReceiptNotRejected
from webhook_app.usecases.ingest import accept_rejected, parse_callback


class ReprocessError(WebhookAppError):
    """The receipt cannot become events; the message says why."""

    status, code = 422, "still_rejected"


class AlreadyReprocessed(ReprocessError):
    """The receipt was reprocessed already (by a press or command that raced this one)."""

    status, code = 409, "already_reprocessed"


class NoSuchReceipt(ReprocessError, LookupError):
    """No receipt has that id."""

    status, code = 404, "not_found"


def reprocess_receipt(
    store: Store,
    routes: Sequence[Route],
    providers: Mapping[str, Provider],
    receipt_id: str,
    *,
    dedupe_window: timedelta,
    by: str,
    now: datetime,
) -> IngestResult:
    """The same steps as a callback (`parse_callback`), recorded in place of the rejection."""
    receipt = store.reads.get_receipt(receipt_id)
    if receipt is None:
        raise NoSuchReceipt(f"No receipt with id {receipt_id}.")
    if receipt["status"] != ReceiptStatus.REJECTED:
        raise _already(receipt_id, store.ingest.event_ids_of_receipt(receipt_id))
    provider = providers.get(receipt["provider"])
    if provider is None or not provider.sends_callbacks:
        raise ReprocessError(f"Receipts from {receipt['provider']} cannot be reprocessed.")
    try:
        parsed = parse_callback(
            provider, receipt["body"], receipt_id=receipt_id, received_at=receipt["received_at"]
        )
    except InvalidCallback as invalid:
        if isinstance(invalid.details, dict) and invalid.code == "invalid_callback":
            reason = describe_validation_error(invalid.details)
            raise ReprocessError(f"Still not a valid callback: {reason}") from None
        raise ReprocessError(f"Still rejected: {invalid.message}") from None
    try:
        return accept_rejected(store, routes, receipt_id, parsed, dedupe_window=dedupe_window, by=by, now=now)
    except ReceiptNotRejected as accepted:
        raise _already(receipt_id, accepted.event_ids) from None


def _already(receipt_id: str, event_ids: Sequence[str]) -> AlreadyReprocessed:
    recorded = f"; its events: {', '.join(event_ids)}" if event_ids else ""
    return AlreadyReprocessed(f"Receipt {receipt_id} was already reprocessed (it is accepted){recorded}.")


def reprocess_with_services(ctx: Services, receipt_id: str, *, by: str) -> IngestResult:
    """`reprocess_receipt` with the service's routes, providers, dedupe window and clock: what
    the API, the page and the command line call."""
    return reprocess_receipt(
        ctx.store,
        ctx.routes.current().routes,
        ctx.providers,
        receipt_id,
        dedupe_window=timedelta(seconds=ctx.settings.dedupe_window),
        by=by,
        now=ctx.clock.now(),
    )
