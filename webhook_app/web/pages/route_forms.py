"""Routes made, changed, tested and deleted from the pages: `/ui/routes/new`, a route's edit
form and its delete confirmation, and "send a test event". The same use cases as the API
(`RouteBook`); the form's fields are the route's and, for its handler, those its `Options`
schema declares, with the loader's messages shown by field."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from marshmallow import fields
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from webhook_app.config.plugins import available_handlers, build_handlers, load_handler_class, secret_options
from webhook_app.config.route_file import InvalidRoute
from webhook_app.errors import ConfigError
from webhook_app.model.states import Role
from webhook_app.services import services
from webhook_app.usecases.route_options import MASK
from webhook_app.usecases.route_test import send_test_event
from webhook_app.web.auth import current_actor
from webhook_app.web.pages.core import allowed, bp

LISTS = ("events", "providers")
NUMBERS = {"rate_limit": str, "pause_after_failures": int, "probe_seconds": float}


def option_fields(handler: str) -> list[dict[str, Any]]:
    """The handler's options as form fields: name, kind (text, number, checkbox, list,
    secret), whether required, and its default."""
    try:
        cls = load_handler_class(handler)
    except ConfigError:
        return []
    declared = {
        field.data_key or name: field for name, field in (cls.Options().fields.items() if cls.Options else ())
    }
    secrets = secret_options(cls, declared)
    found = []
    for key, field in declared.items():
        kind = (
            "secret" if key in secrets
            else "checkbox" if isinstance(field, fields.Boolean)
            else "number" if isinstance(field, fields.Number)
            else "list" if isinstance(field, fields.List)
            else "text"
        )  # fmt: skip
        default = field.load_default if isinstance(field.load_default, str | int | float | bool) else None
        found.append({"name": key, "kind": kind, "required": field.required, "default": default})
    return found


def table_from(form: MultiDict[str, str], handler: str, *, editing: bool) -> dict[str, Any]:
    """The route's table from the form: empty fields left out (the defaults apply), lists split
    on commas, numbers as numbers; a secret left as it was shown keeps its value."""
    table: dict[str, Any] = {"handler": handler}
    if not editing:
        table["name"] = form.get("name", "").strip()
    for key in LISTS:
        if items := _split(form.get(key, "")):
            table[key] = items
    for key, kind in NUMBERS.items():
        if text := form.get(key, "").strip():
            table[key] = _number(text, kind)
    if attempts := form.get("max_attempts", "").strip():
        table["retry"] = {"max_attempts": _number(attempts, int)}
    options: dict[str, Any] = {}
    for field in option_fields(handler):
        raw = form.get(f"option.{field['name']}", "")
        if field["kind"] == "checkbox":
            options[field["name"]] = raw == "on"
        elif field["kind"] == "secret" and (raw == MASK or (editing and not raw)):
            continue  # kept as it is
        elif raw.strip():
            value: Any = raw.strip()
            if field["kind"] == "list":
                value = _split(raw)
            elif field["kind"] == "number":
                value = _number(raw.strip(), float)
            options[field["name"]] = value
    table["options"] = options
    return table


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        return text  # the loader names the field and says what it wants


@bp.route("/routes/new", methods=["GET", "POST"])
@allowed(Role.ADMIN)
def route_new() -> Any:
    handler = request.values.get("handler") or "log"
    if request.method == "GET" or "choose" in request.form:
        return _form(None, handler, request.form if "choose" in request.form else MultiDict())
    ctx = services()
    try:
        table = table_from(request.form, handler, editing=False)
        stored = ctx.book.create(table, by=current_actor(), now=ctx.clock.now())
    except InvalidRoute as exc:
        return _form(None, handler, request.form, exc.details), 422
    flash(f"{stored.name}: made; every process uses it within seconds.", "ok")
    return redirect(url_for("ui.route", name=stored.name))


@bp.route("/routes/<name>/edit", methods=["GET", "POST"])
@allowed(Role.ADMIN)
def route_edit(name: str) -> Any:
    ctx = services()
    current = ctx.routes.refresh().find(name)
    if current is None:
        abort(404, f"No route named {name}.")
    shown = ctx.book.shown(current)
    if request.method == "GET":
        return _form(shown, shown["handler"], _filled(shown))
    version = int(request.form.get("version") or 0)
    changes = table_from(request.form, shown["handler"], editing=True)
    try:
        ctx.book.update(name, changes, version=version, by=current_actor(), now=ctx.clock.now())
    except InvalidRoute as exc:
        return _form(shown, shown["handler"], request.form, exc.details), 422
    flash(f"{name}: changed; every process uses it within seconds.", "ok")
    return redirect(url_for("ui.route", name=name))


def _filled(shown: dict[str, Any]) -> MultiDict[str, str]:
    """The form as the route is now (secrets as the mask)."""
    values = {
        "events": ", ".join(shown["events"]),
        "providers": ", ".join(shown["providers"] or []),
        "rate_limit": shown["rate_limit"] or "",
        "pause_after_failures": str(shown["pause_after_failures"]),
        "probe_seconds": f"{shown['probe_seconds']:g}",
        "max_attempts": str(shown["retry"]["max_attempts"]),
        "version": str(shown["version"]),
    }
    for key, value in shown["options"].items():
        if isinstance(value, bool):
            values[f"option.{key}"] = "on" if value else ""
        else:
            values[f"option.{key}"] = ", ".join(value) if isinstance(value, list) else str(value)
    return MultiDict(values)


def _form(
    shown: dict[str, Any] | None, handler: str, values: Any, errors: dict[str, list[str]] | None = None
) -> str:
    return render_template(
        "ui/route_form.html",
        route=shown,
        handler=handler,
        handlers=sorted(available_handlers()),
        options=option_fields(handler),
        values=values,
        errors=errors or {},
        mask=MASK,
    )


@bp.route("/routes/<name>/delete", methods=["GET", "POST"])
@allowed(Role.ADMIN)
def route_delete(name: str) -> Any:
    """A confirmation that says what becomes of the route's waiting deliveries, then the delete."""
    ctx = services()
    routes = ctx.routes.refresh()
    current = routes.find(name)
    if current is None:
        abort(404, f"No route named {name}.")
    if request.method == "GET":
        counts = ctx.store.route_health.route_counts().get(name, {})
        waiting = counts.get("pending", 0) + counts.get("failed", 0)
        return render_template("ui/route_delete.html", route=ctx.book.shown(current), waiting=waiting)
    discard = request.form.get("discard") == "on"
    discarded = ctx.book.delete(
        name, discard=discard, by=current_actor(), now=ctx.clock.now(), routes=routes.routes
    )
    flash(
        f"{name}: deleted" + (f"; {discarded} waiting deliveries ended as dead." if discarded else "."), "ok"
    )
    return redirect(url_for("ui.routes"))


@bp.post("/routes/<name>/test")
@allowed(Role.OPERATOR)
def route_test(name: str) -> Response:
    """Send a test event through the route's handler now, and say how it went."""
    ctx = services()
    routes = ctx.routes.refresh()
    route = next((r for r in routes.usable if r.name == name), None)
    if route is None:
        abort(404, f"No route named {name} that this process can deliver to.")
    handler = build_handlers((route,), "the database", ctx.settings.public_url)[name]
    try:
        sent = send_test_event(ctx.store, route, handler)
    finally:
        handler.close()
    flash(sent.describe(), "error" if sent.error else "ok")
    return redirect(url_for("ui.route", name=name))
