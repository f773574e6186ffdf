"""The pages' shared parts: the blueprint, sessions and sign-in, the security headers, the
filters of the templates, and what several pages need (a page size, the event filters)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Flask, abort, flash, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request
from markupsafe import Markup
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from webhook_app.errors import WebhookAppError
from webhook_app.model.states import Role
from webhook_app.services import services
from webhook_app.store import EventFilters, decode_cursor
from webhook_app.store.ui_sessions import SignInLimit, UISessions
from webhook_app.usecases.filters import parse_event_filters
from webhook_app.usecases.keys import Principal
from webhook_app.web.clients import client_address, trusted_networks

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


def configure_sessions(app: Flask, secret_keys: Sequence[str], admin_tokens: Sequence[str]) -> None:
    """Cookies signed with a key every process of the deployment derives alike: from the secret
    key(s) and the admin tokens, so changing either signs everyone out."""
    app.session_interface = _UISessionInterface()
    material = "\n".join([*sorted(secret_keys), *sorted(admin_tokens)]).encode()
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


def _session_principal() -> Principal | None:
    """Who this browser is signed in as: None without a live session, or once its key was revoked."""
    session_id, key_id = session.get("sid"), session.get("key_id")
    if not isinstance(session_id, str) or not isinstance(key_id, str):
        return None
    ctx = services()
    principal = ctx.keyring.session_principal(key_id)
    if principal is None:
        UISessions(ctx.store).end(session_id)  # the key was revoked: its sessions end with it
        return None
    return principal if UISessions(ctx.store).is_live(session_id, now=ctx.clock.now()) else None


def allowed(role: Role) -> Callable[[F], F]:
    """A page or form action for a signed-in key of at least `role`: without a session, to the
    sign-in page; a form not from this site, 400; a key of a lower role, 403."""

    def guard(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = _session_principal()
            if principal is None:
                session.clear()
                target = request.full_path if request.method == "GET" else None
                return redirect(url_for("ui.login", next=target))
            g.principal = principal
            if request.method == "POST" and not hmac.compare_digest(
                request.form.get("csrf", ""), session.get("csrf", "")
            ):
                abort(400, "The form expired or did not come from this site; reload the page and try again.")
            if not principal.role.allows(role):
                abort(403, f"needs the {role} role")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return guard


signed_in = allowed(Role.VIEWER)
"""A page anyone signed in may see."""


@bp.app_context_processor
def who_is_signed_in() -> dict[str, Any]:
    """The templates' `principal` (who, with which role) and `can("operator")`: a page shows
    only the buttons the role may press."""
    principal: Principal | None = g.get("principal")
    return {
        "principal": principal,
        "can": lambda role: principal is not None and principal.role.allows(Role(role)),
    }


@bp.errorhandler(HTTPException)
def error_page(exc: HTTPException) -> tuple[str, int]:
    return render_template("ui/error.html", code=exc.code, message=exc.description), exc.code or 500


@bp.errorhandler(WebhookAppError)
def refused(exc: WebhookAppError) -> Response | tuple[str, int]:
    """What a use case refused, mapped once for every page. A form's action says why on the page
    it came from (a 409, done already by another press, is news rather than an error); what is
    not there (404), or a refusal while showing a page, gets the error page."""
    if request.method != "POST" or exc.status == 404:
        return render_template("ui/error.html", code=exc.status, message=str(exc)), exc.status
    flash(str(exc), "ok" if exc.status == 409 else "error")
    return redirect(back_to(request.path.rsplit("/", 1)[0]))


def back_to(default: str) -> str:
    """Where a form's action returns: its `back` field when that is a page of this site."""
    back = request.form.get("back", "")
    return back if back.startswith("/ui/") else default


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
    principal = ctx.keyring.identify(request.form.get("token", ""), now=now)
    if principal is None:
        wait = limit.failed(client, now=now)
        if wait <= 0:
            return render_template("ui/login.html", error="That is not a live key.", next=""), 401
        time.sleep(SLOW_DOWN_SECONDS)  # a greenlet's sleep in the web worker: it holds no one else up
        minutes = max(1, round(wait / 60))
        error = f"Too many wrong keys from your address; each try now waits, for about {minutes} min more."
        answer = render_template("ui/login.html", error=error, next="")
        return answer, 429, {"Retry-After": str(int(wait) + 1)}
    limit.succeeded(client)
    session.clear()
    session.permanent = True
    session["key_id"] = principal.key_id
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


def page_filters() -> tuple[EventFilters, str | None, list[str]]:
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


def provider_panels(place: str, **context: Any) -> list[Markup]:
    """What each provider draws at `place` on a page (`Provider.panel`), rendered."""
    ctx = services()
    panels = (type(provider).panel(place, ctx.store, context) for provider in ctx.providers.values())
    # render_template escaped what it put in; the result is HTML to place as it is
    return [Markup(render_template(panel.template, **panel.context)) for panel in panels if panel]  # noqa: S704
