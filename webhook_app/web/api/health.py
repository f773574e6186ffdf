"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database is usable)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response
from sqlalchemy.exc import SQLAlchemyError

from webhook_app.services import services
from webhook_app.store import migrate
from webhook_app.web import schemas
from webhook_app.web.apidoc import answers, operation
from webhook_app.web.errors import api_error
from webhook_app.web.schemas import respond

bp = Blueprint("health", __name__)
logger = logging.getLogger(__name__)


@bp.get("/healthz")
@operation(summary="The process answers", responses=answers(r200="Health"))
def healthz() -> Response:
    return respond(schemas.Health, {"status": "ok"})


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format; not behind the admin token, like most scrape targets (no secrets here)."""
    from webhook_app.telemetry.metrics import exposition

    ctx = services()
    return Response(
        exposition(ctx.store, ctx.provider_classes), mimetype="text/plain; version=0.0.4; charset=utf-8"
    )


@bp.get("/readyz")
@operation(
    summary="The database is reachable and migrated", responses=answers(r200="Ready", r503="Not ready")
)
def readyz() -> Response:
    store = services().store
    try:
        store.ping()
        current = migrate.current_revision(store.engine)
    except SQLAlchemyError as exc:
        logger.warning("not ready: %s", exc)
        response = api_error(503, "database_unavailable", "The database cannot be reached.")
        response.headers["Retry-After"] = "5"
        return response
    head = migrate.head_revision()
    if current != head:
        return api_error(
            503,
            "migrations_pending",
            "The database schema is not current; run 'webhook-app db upgrade'.",
            {"current": current, "head": head},
        )
    return respond(schemas.Ready, {"status": "ready", "schema": current})
