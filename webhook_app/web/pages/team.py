"""`/ui/audit` (who changed what) and `/ui/keys` (admins make and revoke keys)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webhook_app.model.states import Role, values
from webhook_app.services import services
from webhook_app.store.audit import AuditFilters
from webhook_app.web.auth import current_actor
from webhook_app.web.pages.core import PAGE, allowed, bp, signed_in

AUDIT_FILTERS = ("actor", "action", "target")


@bp.get("/audit")
@signed_in
def audit() -> str:
    query = {k: v for k, v in request.args.items() if k in AUDIT_FILTERS and v}
    filters = AuditFilters(actor=query.get("actor"), action=query.get("action"), target=query.get("target"))
    store = services().store
    errors: list[str] = []
    try:
        items, next_cursor = store.audit.entries(
            filters, limit=PAGE, cursor=request.args.get("cursor") or None
        )
    except ValueError:
        errors.append("That page link is not valid any more.")
        items, next_cursor = store.audit.entries(filters, limit=PAGE)
    return render_template("ui/audit.html", items=items, next_cursor=next_cursor, query=query, errors=errors)


@bp.get("/keys")
@allowed(Role.ADMIN)
def keys() -> str:
    return render_template("ui/keys.html", keys=services().keyring.listed(), roles=values(Role), made=None)


@bp.post("/keys")
@allowed(Role.ADMIN)
def key_create() -> str:
    """The new key is shown on this answer alone (never stored, never redirected through a URL)."""
    ctx = services()
    stored, key = ctx.keyring.create(
        request.form.get("name", ""), request.form.get("role", ""), by=current_actor(), now=ctx.clock.now()
    )
    made = {"name": stored.name, "role": stored.role, "key": key}
    return render_template("ui/keys.html", keys=ctx.keyring.listed(), roles=values(Role), made=made)


@bp.post("/keys/<name>/revoke")
@allowed(Role.ADMIN)
def key_revoke(name: str) -> Response:
    ctx = services()
    ctx.keyring.revoke(name, by=current_actor(), now=ctx.clock.now())
    flash(f"Key {name} revoked: it opens nothing from now on, and its sessions have ended.", "ok")
    return redirect(url_for("ui.keys"))
