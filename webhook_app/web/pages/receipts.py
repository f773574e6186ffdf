"""`/ui/receipts` and a receipt: what arrived, why it was refused, reprocess."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webhook_app.model.events import OPS_PROVIDER
from webhook_app.model.states import ReceiptStatus, Role, values
from webhook_app.services import services
from webhook_app.store.records import ReceiptFilters
from webhook_app.usecases.reprocess import reprocess_with_services
from webhook_app.web.auth import current_actor
from webhook_app.web.pages.core import (
    PAGE,
    SHOWN_BODY_BYTES,
    allowed,
    back_to,
    bp,
    signed_in,
)


@bp.get("/receipts")
@signed_in
def receipts() -> str:
    ctx = services()
    query = {k: v for k, v in request.args.items() if k in ("state", "provider") and v}
    errors: list[str] = []
    state, provider = query.get("state"), query.get("provider")
    if state not in (None, *values(ReceiptStatus)) or provider not in (None, *ctx.providers, OPS_PROVIDER):
        errors.append("That filter is not one of the choices.")
        state = provider = None
    filters = ReceiptFilters(state=state, provider=provider)
    try:
        items, next_cursor = ctx.store.reads.list_receipts(
            filters, limit=PAGE, cursor=request.args.get("cursor") or None
        )
    except ValueError:
        errors.append("That page link is not valid any more.")
        items, next_cursor = ctx.store.reads.list_receipts(filters, limit=PAGE)
    return render_template(
        "ui/receipts.html",
        items=items,
        next_cursor=next_cursor,
        query=query,
        errors=errors,
        providers=sorted(ctx.providers),
    )


@bp.get("/receipts/<receipt_id>")
@signed_in
def receipt(receipt_id: str) -> str:
    found = services().store.reads.get_receipt(receipt_id)
    if found is None:
        abort(404, f"No receipt with id {receipt_id}.")
    return render_template("ui/receipt.html", receipt=found, shown_body_bytes=SHOWN_BODY_BYTES)


@bp.post("/receipts/<receipt_id>/reprocess")
@allowed(Role.OPERATOR)
def reprocess(receipt_id: str) -> Response:
    result = reprocess_with_services(services(), receipt_id, by=current_actor())
    if result.duplicate:
        flash(f"A duplicate of {result.receipt_id}: nothing recorded.", "ok")
    else:
        flash(f"Accepted: {len(result.event_ids)} event(s) recorded.", "ok")
    return redirect(back_to(url_for("ui.receipts")))
