"""The config file's routes into the database: at every start, and by `routes apply FILE`.

Routes the file names are `file` routes: the file adds, changes and (with prune) removes
them, and nothing else may. A name the API already uses is a conflict, refused before
anything changes. With no config file, a first start seeds the routes it was given (the
default `log` route) as `api` routes, which people may then change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from webhook_app.config.route_file import InvalidRoute, route_table
from webhook_app.config.settings import Settings
from webhook_app.errors import ConfigError, WebhookAppError
from webhook_app.model.routes import Route
from webhook_app.store.routes import DOCUMENT_FIELDS, StoredRoute
from webhook_app.usecases.route_book import API, FILE, RouteBook
from webhook_app.usecases.route_options import unsealed

logger = logging.getLogger(__name__)


class RouteConflict(WebhookAppError):
    status, code = 409, "route_conflict"


@dataclass
class RouteDiff:
    added: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)
    """File routes gone from the file but kept: their deliveries still wait (by count)."""

    def lines(self) -> list[str]:
        return [
            *(f"+ {name}" for name in self.added),
            *(f"~ {name}: {', '.join(fields)}" for name, fields in self.changed.items()),
            *(f"- {name}" for name in self.removed),
            *(
                f"! {name}: no longer in the file, kept while {count} deliveries wait "
                "(apply again once they are delivered)"
                for name, count in self.kept.items()
            ),
        ]

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def apply_file(
    book: RouteBook,
    tables: Sequence[Any],
    *,
    label: str,
    prune: bool,
    write: bool,
    by: str,
    now: datetime,
) -> RouteDiff:
    """Make the file routes what `tables` say; only the difference when `write` is false."""
    documents = checked_tables(book, tables, label)
    store = book.store
    with store.writing() as conn:
        store.routes.lock(conn)
        current = {item.name: item for item in store.routes.all_in(conn)}
        taken = sorted(name for name in documents if name in current and current[name].source == API)
        if taken:
            raise RouteConflict(
                f"{label} names route(s) {', '.join(taken)}, made over the API: rename them in the file, "
                "or remove them (webhook-app routes remove NAME) first"
            )
        diff = _difference(book, documents, current, prune, conn)
        if write and diff:
            for name in diff.added:
                store.routes.insert(conn, documents[name], source=FILE, by=by, now=now)
                book.audit(conn, "route.create", name, before=None, after=documents[name], by=by, now=now)
            for name in diff.changed:
                store.routes.update(
                    conn, documents[name], version=current[name].version, source=FILE, by=by, now=now
                )
                book.audit(
                    conn, "route.update", name, before=current[name], after=documents[name], by=by, now=now
                )
            for name in diff.removed:
                store.routes.delete(conn, name)
                book.audit(conn, "route.delete", name, before=current[name], after=None, by=by, now=now)
            store.routes.bump(conn)
    return diff


def _difference(
    book: RouteBook,
    documents: Mapping[str, dict[str, Any]],
    current: Mapping[str, StoredRoute],
    prune: bool,
    conn: Any,
) -> RouteDiff:
    diff = RouteDiff()
    for name, document in documents.items():
        if name not in current:
            diff.added.append(name)
            continue
        before = {
            **current[name].document,
            "options": unsealed(current[name].document["options"], book.sealer),
        }
        after = {**document, "options": unsealed(document["options"], book.sealer)}
        fields = [f for f in DOCUMENT_FIELDS if before[f] != after[f]]
        if fields:
            diff.changed[name] = fields
    gone = (
        sorted(n for n, item in current.items() if item.source == FILE and n not in documents)
        if prune
        else []
    )
    for name in gone:
        waiting = book.store.routes.waiting(conn, name)
        if waiting:
            diff.kept[name] = waiting
        else:
            diff.removed.append(name)
    return diff


def seed(book: RouteBook, routes: Sequence[Route], *, by: str, now: datetime) -> list[str]:
    """On a database whose routes were never changed, the given routes as `api` routes; the
    names added (none on any later start)."""
    documents = [book.checked(route_table(route)) for route in routes]
    with book.store.writing() as conn:
        if book.store.routes.lock(conn) != 0:
            return []
        for document in documents:
            book.store.routes.insert(conn, document, source=API, by=by, now=now)
            book.audit(conn, "route.create", document["name"], before=None, after=document, by=by, now=now)
        book.store.routes.bump(conn)
    return [document["name"] for document in documents]


def checked_tables(book: RouteBook, tables: Sequence[Any], label: str) -> dict[str, dict[str, Any]]:
    """Each table as it would be stored, by name; `ConfigError` naming the file, the route and
    the field for the first one refused."""
    documents = {}
    for index, table in enumerate(tables):
        name = table.get("name", f"#{index + 1}") if isinstance(table, dict) else f"#{index + 1}"
        try:
            documents[name] = book.checked(table)
        except InvalidRoute as exc:
            raise ConfigError(f"{label}: route '{name}': {exc}") from None
    return documents


def check_configured_routes(book: RouteBook, settings: Settings) -> None:
    """The routes a start applies, checked as they would be (handlers, options): a wrong one
    stops start-up with the file, route and field named."""
    tables = settings.route_tables or [route_table(route) for route in settings.routes]
    checked_tables(book, tables, settings.config_path or "default routes")


def apply_configured_routes(book: RouteBook, settings: Settings, *, now: datetime) -> RouteDiff:
    """At start: the config file's routes applied (those gone from it removed), or on a first
    start without routes in a file, the given ones seeded."""
    if not settings.route_tables:
        seed(book, settings.routes, by="default", now=now)
    if settings.config_path is None:
        return RouteDiff()
    diff = apply_file(
        book, settings.route_tables, label=settings.config_path, prune=True, write=True,
        by=f"file:{settings.config_path}", now=now,
    )  # fmt: skip
    for line in diff.lines():
        logger.info("routes from %s: %s", settings.config_path, line)
    return diff
