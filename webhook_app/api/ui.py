"""The web event log at `/ui/`: sign in with an admin token, browse, replay.

The session is Flask's signed, HttpOnly cookie; its key is derived from the admin tokens,
so every process of a deployment accepts it and rotating the tokens signs everyone out.
The cookie names a session kept in the database: signing out deletes it, so the old
cookie opens nothing, on any process or host. Wrong tokens are counted per client
(`SIGN_IN_ATTEMPTS` per `SIGN_IN_WINDOW`; past them each wrong one waits, then `429` with
`Retry-After`); a right one always signs in, whatever others got wrong. Every form
carries a per-session CSRF token; every answer forbids framing, sniffing and any script.
Nothing but the sign-in page is served without a session, and the token is only ever
POSTed, never put in a URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from webhook_app import charts, recordings
from webhook_app.api.clients import client_address, trusted_networks
from webhook_app.api.events import csv_download
from webhook_app.events import FAILURE_TYPES, OPS_PROVIDER, EventType
from webhook_app.filters import parse_event_filters
from webhook_app.replay import AlreadyReplayed, ReplayError, replay_event
from webhook_app.reprocess import AlreadyReprocessed, ReprocessError, reprocess_with_services
from webhook_app.route_admin import UnknownRoute, describe_state, route_items, set_paused
from webhook_app.routes import Route
from webhook_app.services import services
from webhook_app.states import ReceiptStatus, values
from webhook_app.stats import OUTCOMES, WINDOWS, series, stats
from webhook_app.store import EventFilters, OperationStore, decode_cursor
from webhook_app.store.cursors import encode_cursor
from webhook_app.store.records import ReceiptFilters
from webhook_app.store.ui_sessions import SignInLimit, UISessions
from webhook_app.tokens import token_matches

bp = Blueprint("ui", __name__, url_prefix="/ui")
F = TypeVar("F", bound=Callable[..., Any])
PAGE = 50
SESSION_LIFETIME = timedelta(hours=12)
SIGN_IN_ATTEMPTS = 10
SIGN_IN_WINDOW = timedelta(minutes=15)
SLOW_DOWN_SECONDS = 2.0
"""How long each wrong token waits for its answer once its address is past SIGN_IN_ATTEMPTS."""
SECURITY_HEADERS = {
    # The pages use inline CSS and no script at all.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class _UISessionInterface(SecureCookieSessionInterface):
    """The cookie session exists under /ui only: callbacks and the API never read or set it.

    Flask opens a session for every request; on the ingest path that was a signing
    serializer built per callback for nothing.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(bp.url_prefix or "/ui"):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        """`Secure` when the browser came over HTTPS, directly or through a TLS proxy that says so.

        The cookie signs a browser in as admin: it must not travel over plain HTTP once it was
        set over HTTPS. Plain HTTP (local use) still gets a cookie, or signing in would fail.
        """
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return request.is_secure or forwarded == "https"


def configure_sessions(app: Flask, admin_tokens: tuple[str, ...]) -> None:
    app.session_interface = _UISessionInterface()
    material = "\n".join(sorted(admin_tokens)).encode() or secrets.token_bytes(32)
    app.secret_key = hmac.new(material, b"webhook-app ui session", hashlib.sha256).hexdigest()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="webhook_app_session",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )


@bp.after_app_request
def security_headers(response: Response) -> Response:
    """On every answer (pages, API, errors): cheap, and no answer of this service is meant for a frame."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _live_session() -> bool:
    session_id = session.get("sid")
    return bool(
        session.get("admin")
        and isinstance(session_id, str)
        and UISessions(services().store).is_live(session_id, now=services().clock.now())
    )


def signed_in(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _live_session():
            session.clear()
            return redirect(url_for("ui.login", next=request.full_path if request.method == "GET" else None))
        if request.method == "POST" and not hmac.compare_digest(
            request.form.get("csrf", ""), session.get("csrf", "")
        ):
            abort(400, "The form expired or did not come from this site; reload the page and try again.")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@bp.errorhandler(HTTPException)
def error_page(exc: HTTPException) -> tuple[str, int]:
    return render_template("ui/error.html", code=exc.code, message=exc.description), exc.code or 500


@bp.app_template_filter("when")
def when(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


SHOWN_BODY_BYTES = 64 * 1024
"""A receipt's body is shown up to this size (the rest is in `GET /api/receipts/<id>`): a
large body of tiny items, indented, would make a page several times its size."""


@bp.app_template_filter("pretty")
def pretty(raw: bytes | str) -> str:
    """Indented JSON when the body is small enough to show whole; else its start, as sent."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if len(text) > SHOWN_BODY_BYTES:
        return text[:SHOWN_BODY_BYTES]
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


@bp.get("/login")
def login() -> str:
    return render_template("ui/login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_post() -> Any:
    ctx = services()
    limit = SignInLimit(ctx.store, attempts=SIGN_IN_ATTEMPTS, window=SIGN_IN_WINDOW)
    trusted = trusted_networks(ctx.settings.trusted_proxies)
    client = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), trusted)
    now = ctx.clock.now()
    if not token_matches(request.form.get("token", ""), ctx.settings.admin_tokens):
        wait = limit.failed(client, now=now)
        if wait <= 0:
            return render_template("ui/login.html", error="That is not an admin token.", next=""), 401
        time.sleep(SLOW_DOWN_SECONDS)  # a greenlet's sleep in the web worker: it holds no one else up
        minutes = max(1, round(wait / 60))
        error = f"Too many wrong tokens from your address; each try now waits, for about {minutes} min more."
        answer = render_template("ui/login.html", error=error, next="")
        return answer, 429, {"Retry-After": str(int(wait) + 1)}
    limit.succeeded(client)
    session.clear()
    session.permanent = True
    session["admin"] = True
    session["sid"] = secrets.token_urlsafe(32)
    session["csrf"] = secrets.token_urlsafe(32)
    UISessions(ctx.store).start(session["sid"], now=now, lifetime=SESSION_LIFETIME)
    return redirect(_page_target(request.form.get("next", "")))


def _page_target(target: str) -> str:
    """Where to go after signing in: a page of this site, or the dashboard (a `next` that
    leaves the pages, or holds a character a Location header cannot, is not followed)."""
    if target.startswith("/ui/") and target.isprintable() and not any(c.isspace() for c in target):
        return target
    return url_for("ui.dashboard")


@bp.post("/logout")
@signed_in
def logout() -> Response:
    UISessions(services().store).end(session["sid"])
    session.clear()
    return redirect(url_for("ui.login"))


def _filters() -> tuple[EventFilters, str | None, list[str]]:
    errors: list[str] = []
    try:
        filters = parse_event_filters(request.args)
    except ValidationError as exc:
        fields = exc.messages if isinstance(exc.messages, dict) else {}
        errors += [f"{name}: {' '.join(map(str, problems))}" for name, problems in fields.items()]
        valid = {k: v for k, v in request.args.items() if k not in fields}
        filters = parse_event_filters(valid)
    cursor = request.args.get("cursor") or None
    if cursor is not None:
        try:
            decode_cursor(cursor, timed=filters.since is not None or filters.until is not None)
        except ValueError:
            errors.append("That page link is not valid any more.")
            cursor = None
    return filters, cursor, errors


@bp.get("/")
@signed_in
def dashboard() -> str:
    """Events and delivery outcomes over the window, and what needs attention now."""
    ctx = services()
    window = request.args.get("window", "24h")
    window = window if window in WINDOWS else "24h"
    data = stats(ctx.store, window, now=ctx.clock.now())
    step = timedelta(seconds=data["bucket_seconds"])
    buckets = [data["since"] + step * i for i in range(int(WINDOWS[window][0] / step))]
    index = {start: i for i, start in enumerate(buckets)}

    def per_bucket(rows: list[dict[str, Any]], name: str, field: str) -> list[int]:
        counts = [0] * len(buckets)
        for row in rows:
            if row.get("type", row.get("route")) == name and row["bucket_start"] in index:
                counts[index[row["bucket_start"]]] += row[field]
        return counts

    types = sorted({row["type"] for row in data["events"]})
    label = "%H:%M" if window == "24h" else "%b %d"
    events_chart = charts.stacked_bars(
        f"Events per type, last {window}",
        buckets,
        {kind: per_bucket(data["events"], kind, "count") for kind in types},
        charts.colours_for(types),
        label,
    )
    route_charts = {
        route: charts.stacked_bars(
            f"Deliveries to {route}, last {window}",
            buckets,
            {outcome: per_bucket(data["deliveries"], route, outcome) for outcome in OUTCOMES},
            charts.OUTCOME_COLOURS,
            label,
        )
        for route in sorted({row["route"] for row in data["deliveries"]})
    }
    return render_template(
        "ui/dashboard.html",
        window=window,
        windows=list(WINDOWS),
        stats=data,
        events_chart=events_chart,
        route_charts=route_charts,
        latency={row["route"]: row for row in data["routes"]},
    )


@bp.get("/events")
@signed_in
def events() -> str:
    filters, cursor, errors = _filters()
    items, next_cursor = services().store.list_events(filters, limit=PAGE, cursor=cursor)
    query = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template(
        "ui/events.html",
        counts=services().store.delivery_counts([item["id"] for item in items]),
        items=items,
        next_cursor=next_cursor,
        query=query,
        errors=errors,
        types=[t.value for t in EventType],
        providers=[*sorted(services().providers), OPS_PROVIDER],
    )


@bp.get("/events/<event_id>")
@signed_in
def event(event_id: str) -> str:
    store = services().store
    document = store.get_event(event_id)
    if document is None:
        abort(404, f"No event with id {event_id}.")
    receipt = store.get_receipt(document["receipt_id"]) if document.get("receipt_id") else None
    return render_template(
        "ui/event.html",
        event=document,
        recordings=_recordings_view(document),
        receipt=receipt,
        deliveries=store.deliveries_of(event_id),
        paused=store.paused_routes(),
        routes=[r.name for r in services().settings.routes],
        shown_body_bytes=SHOWN_BODY_BYTES,
    )


@bp.get("/events/<event_id>/recordings.csv")
@signed_in
def recordings_csv(event_id: str) -> Response:
    document = services().store.get_event(event_id)
    if document is None:
        abort(404, f"No event with id {event_id}.")
    return csv_download(event_id, document)


RECORDINGS_PAGE = 50


def _recordings_view(document: dict[str, Any]) -> dict[str, Any] | None:
    """A dataset issue's recordings as the page shows them: what to re-record first, each with
    why, the failing values marked, sortable (`?sort=`), `RECORDINGS_PAGE` a page (`?page=`)."""
    listed = document["data"].get("recordings") or []
    if not listed:
        return None
    sort = request.args.get("sort", "flagged")
    sort = sort if sort in recordings.SORTS else "flagged"
    pages = max(1, -(-len(listed) // RECORDINGS_PAGE))
    page = min(pages, max(1, request.args.get("page", 1, type=int) or 1))
    shown = recordings.ordered(listed, sort)[(page - 1) * RECORDINGS_PAGE : page * RECORDINGS_PAGE]
    return {
        "summary": recordings.summary_line(listed, document["data"].get("recordings_omitted", 0)),
        "counts": recordings.problem_counts(listed),
        "rows": [
            {**r, "problems": recordings.problems(r), "failing": recordings.failing_fields(r)} for r in shown
        ],
        "sort": sort,
        "page": page,
        "pages": pages,
        "total": len(listed),
        "labels": recordings.SCORE_LABELS,
        "floors": recordings.low_scores(),
    }


@bp.post("/events/<event_id>/replay")
@signed_in
def replay(event_id: str) -> Response:
    ctx = services()
    try:
        created = replay_event(
            ctx.store,
            ctx.settings.routes,
            event_id,
            route=request.form.get("route") or None,
            now=ctx.clock.now(),
        )
    except (ReplayError, AlreadyReplayed) as exc:
        flash(str(exc), "error")
    else:
        flash(f"Replay queued: {', '.join(d['route'] or '' for d in created)}.", "ok")
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/ui/") else url_for("ui.event", event_id=event_id))


@bp.get("/voices")
@signed_in
def voices() -> str:
    ctx = services()
    query = {k: v for k, v in request.args.items() if k in ("q", "provider", "tests") and v}
    errors: list[str] = []
    provider = query.get("provider")
    if provider is not None and provider not in ctx.providers:
        errors.append("That provider is not installed.")
        provider = None
    try:
        position = decode_cursor(request.args["cursor"]).seq if request.args.get("cursor") else None
    except ValueError:
        errors.append("That page link is not valid any more.")
        position = None
    items, last = ctx.store.voice_list(
        provider=provider,
        q=query.get("q"),
        last_type=None,
        limit=PAGE,
        cursor=position,
        tests="tests" in query,
    )
    return render_template(
        "ui/voices.html",
        failure_types=[str(kind) for kind in FAILURE_TYPES],
        items=items,
        next_cursor=encode_cursor(last) if last else None,
        query=query,
        errors=errors,
        providers=sorted(ctx.providers),
    )


TIMELINE_EVENTS = 200
"""A voice page shows its latest events up to this many, each with its deliveries."""


@bp.get("/voices/<provider>/<path:voice_id>")
@signed_in
def voice(provider: str, voice_id: str) -> str:
    store = services().store
    newest, _ = store.voice_timeline(provider, voice_id, limit=TIMELINE_EVENTS, newest_first=True)
    timeline = newest[::-1]
    if not timeline:
        abort(404, f"No events for {provider} voice {voice_id}.")
    deliveries = {event["id"]: store.deliveries_of(event["id"]) for event in timeline}
    issues = [event for event in timeline if event["type"] == EventType.DATASET_ISSUE]
    latest_issue = store.get_event(issues[-1]["id"]) if issues else None
    dataset_summary = (
        recordings.summary_line(
            latest_issue["data"].get("recordings") or [], latest_issue["data"].get("recordings_omitted", 0)
        )
        if latest_issue
        else None
    )
    operations = OperationStore(store).of_resource(voice_id) if provider == "azure" else []
    return render_template(
        "ui/voice.html",
        provider=provider,
        voice_id=voice_id,
        timeline=timeline,
        deliveries=deliveries,
        paused=store.paused_routes(),
        operations=operations,
        latest_issue=latest_issue,
        dataset_summary=dataset_summary,
        name=next((e["data"]["voice_name"] for e in timeline if e["data"].get("voice_name")), None),
        kind=next((e["data"]["resource_kind"] for e in timeline if e["data"].get("resource_kind")), "voice"),
    )


@bp.get("/routes")
@signed_in
def routes() -> str:
    ctx = services()
    now = ctx.clock.now()
    items = route_items(ctx.store, ctx.settings.routes, now=now)
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
    configured = next((r for r in ctx.settings.routes if r.name == name), None)
    if configured is None:
        abort(404, f"No route named {name}.")
    (item,) = route_items(ctx.store, [configured], now=ctx.clock.now())
    return render_template(
        "ui/route.html",
        route=item,
        configured=configured,
        target=target_of(configured),
        next_probe_at=ctx.store.paused_routes().get(name, {}).get("next_probe_at"),
        describe_state=describe_state,
        attempts=ctx.store.attempts_of_route(name, limit=ROUTE_ATTEMPTS),
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
@signed_in
def route_replay_dead(name: str) -> Response:
    """Replay every dead delivery of the route (dead since the chosen time), each once."""
    ctx = services()
    if name not in {r.name for r in ctx.settings.routes}:
        abort(404, f"No route named {name}.")
    now = ctx.clock.now()
    age = REPLAY_SINCE.get(request.form.get("since", ""))
    planned = ctx.store.deliveries_to_retry(status="dead", route=name, since=now - age if age else None)
    queued = sum(1 for delivery_id in ctx.store.add_deliveries(planned, now=now) if delivery_id)
    if queued:
        flash(f"{queued} dead deliveries of {name} queued again.", "ok")
    else:
        flash(f"No dead deliveries of {name} were left to replay.", "ok")
    return redirect(url_for("ui.route", name=name))


@bp.post("/routes/<name>/pause")
@signed_in
def route_pause(name: str) -> Response:
    return _set_route_paused(name, paused=True)


@bp.post("/routes/<name>/resume")
@signed_in
def route_resume(name: str) -> Response:
    return _set_route_paused(name, paused=False)


def _set_route_paused(name: str, *, paused: bool) -> Response:
    ctx = services()
    try:
        item, _ = set_paused(ctx.store, ctx.settings.routes, name, paused, now=ctx.clock.now())
    except UnknownRoute:
        abort(404, f"No route named {name}.")
    flash(f"{name}: {describe_state(item)}.", "ok")
    return redirect(url_for("ui.routes"))


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
        items, next_cursor = ctx.store.list_receipts(
            filters, limit=PAGE, cursor=request.args.get("cursor") or None
        )
    except ValueError:
        errors.append("That page link is not valid any more.")
        items, next_cursor = ctx.store.list_receipts(filters, limit=PAGE)
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
    found = services().store.get_receipt(receipt_id)
    if found is None:
        abort(404, f"No receipt with id {receipt_id}.")
    return render_template("ui/receipt.html", receipt=found, shown_body_bytes=SHOWN_BODY_BYTES)


@bp.post("/receipts/<receipt_id>/reprocess")
@signed_in
def reprocess(receipt_id: str) -> Response:
    ctx = services()
    try:
        result = reprocess_with_services(ctx, receipt_id)
    except AlreadyReprocessed as exc:
        flash(str(exc), "ok")
    except ReprocessError as exc:
        flash(str(exc), "error")
    else:
        if result.duplicate:
            flash(f"A duplicate of {result.receipt_id}: nothing recorded.", "ok")
        else:
            flash(f"Accepted: {len(result.event_ids)} event(s) recorded.", "ok")
    back = request.form.get("back", "")
    return redirect(back if back.startswith("/ui/") else url_for("ui.receipts"))


@bp.get("/dead")
@signed_in
def dead() -> str:
    resolved = request.args.get("resolved") == "1"
    found = services().store.dead_deliveries(resolved=resolved, limit=200)
    paused = services().store.paused_routes()
    return render_template("ui/dead.html", deliveries=found, resolved=resolved, paused=paused)
