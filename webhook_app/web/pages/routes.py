"""The routes' pages: `/ui/routes`, a route (health, attempts, pause, replay of its dead), `/ui/dead`."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webhook_app.model.routes import Route
from webhook_app.model.states import Role
from webhook_app.services import services
from webhook_app.usecases.replay import plan_retry, queue_retry
from webhook_app.usecases.route_admin import describe_state, route_items, set_paused
from webhook_app.usecases.stats import series
from webhook_app.web import charts
from webhook_app.web.auth import current_actor
from webhook_app.web.pages.core import (
    allowed,
    bp,
    signed_in,
)


@bp.get("/routes")
@signed_in
def routes() -> str:
    ctx = services()
    now = ctx.clock.now()
    items = route_items(ctx.store, ctx.book, ctx.routes.refresh(), now=now)
    day = series(ctx.store, "24h", now=now)
    step = timedelta(seconds=day["bucket_seconds"])
    hours = [day["since"] + step * i for i in range(24)]
    tried: dict[str, list[float | None]] = {item["name"]: [None] * 24 for item in items}
    for row in day["deliveries"]:
        if row["route"] in tried and row["bucket_start"] in hours:
            i = hours.index(row["bucket_start"])
            tried[row["route"]][i] = float(row["succeeded"] + row["failed"] + row["dead"])
    sparks = {
        name: charts.sparkline(values, f"attempts per hour to {name}, last 24 h")
        for name, values in tried.items()
    }
    return render_template("ui/routes.html", routes=items, describe_state=describe_state, sparks=sparks)


ROUTE_ATTEMPTS = 50

REPLAY_SINCE = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "all": None}


@bp.get("/routes/<name>")
@signed_in
def route(name: str) -> str:
    """One route: its health, its latest attempts with the target's answers, replay of its dead."""
    ctx = services()
    routes = ctx.routes.refresh()
    found = route_items(ctx.store, ctx.book, routes, now=ctx.clock.now(), only=name)
    if not found:
        abort(404, f"No route named {name}.")
    usable = next((route for route in routes.routes if route.name == name), None)
    return render_template(
        "ui/route.html",
        route=found[0],
        target=target_of(usable) if usable else None,
        next_probe_at=ctx.store.route_health.paused_routes().get(name, {}).get("next_probe_at"),
        describe_state=describe_state,
        attempts=ctx.store.route_health.attempts_of_route(name, limit=ROUTE_ATTEMPTS),
        replay_since=list(REPLAY_SINCE),
    )


def target_of(route: Route) -> str | None:
    """Where a route sends, as a host (and port): never the whole URL, which may be a secret."""
    for key in ("url", "webhook_url"):
        value = route.options.get(key)
        if isinstance(value, str) and (host := urlsplit(value).hostname):
            return host
    host = route.options.get("host")
    return f"{host}:{route.options.get('port', 25)}" if isinstance(host, str) else None


@bp.post("/routes/<name>/replay-dead")
@allowed(Role.OPERATOR)
def route_replay_dead(name: str) -> Response:
    """Replay every dead delivery of the route (dead since the chosen time), each once."""
    ctx = services()
    known = ctx.routes.refresh().names()
    if name not in known:
        abort(404, f"No route named {name}.")
    now = ctx.clock.now()
    age = REPLAY_SINCE.get(request.form.get("since", ""))
    since = now - age if age else None
    planned = plan_retry(ctx.store, known, status="dead", route=name, since=since)
    asked = {"status": "dead", "route": name, "since": since}
    queued = queue_retry(ctx.store, planned, asked=asked, by=current_actor(), now=now)
    if queued:
        flash(f"{queued} dead deliveries of {name} queued again.", "ok")
    else:
        flash(f"No dead deliveries of {name} were left to replay.", "ok")
    return redirect(url_for("ui.route", name=name))


@bp.post("/routes/<name>/pause")
@allowed(Role.OPERATOR)
def route_pause(name: str) -> Response:
    return _set_route_paused(name, paused=True)


@bp.post("/routes/<name>/resume")
@allowed(Role.OPERATOR)
def route_resume(name: str) -> Response:
    return _set_route_paused(name, paused=False)


def _set_route_paused(name: str, *, paused: bool) -> Response:
    ctx = services()
    routes = ctx.routes.refresh()
    item, _ = set_paused(ctx.store, ctx.book, routes, name, paused, by=current_actor(), now=ctx.clock.now())
    flash(f"{name}: {describe_state(item)}.", "ok")
    return redirect(url_for("ui.routes"))


@bp.get("/dead")
@signed_in
def dead() -> str:
    resolved = request.args.get("resolved") == "1"
    found = services().store.reads.dead_deliveries(resolved=resolved, limit=200)
    paused = services().store.route_health.paused_routes()
    return render_template("ui/dead.html", deliveries=found, resolved=resolved, paused=paused)
