"""Routes as data: the database holds every route; people change them over the API, the
pages and the command line, the config file changes its own, and every process reads them.

A route is `file` (named in `WEBHOOK_APP_CONFIG`: applied at start and by `routes apply`,
refused elsewhere) or `api` (made over the API, a page or `routes add`). Every change takes
the routes' turn (`RouteStore.lock`) and bumps their generation, which each process checks
to see that it should read them again (`LiveRoutes`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from webhook_app.config.plugins import check_route_options, secret_options
from webhook_app.config.route_file import InvalidRoute, route_document, route_from_document
from webhook_app.config.secret_key import Sealer, secret_keys
from webhook_app.config.settings import Settings
from webhook_app.errors import WebhookAppError
from webhook_app.model import ops, signals
from webhook_app.model.routes import Route
from webhook_app.model.text import unstorable_at
from webhook_app.plugins.handler import Handler
from webhook_app.store import Store
from webhook_app.store.audit import Audit
from webhook_app.store.ingest import insert_events
from webhook_app.store.routes import StoredRoute
from webhook_app.usecases.ingest import plan_deliveries
from webhook_app.usecases.route_options import MASK, masked, open_options, seal

logger = logging.getLogger(__name__)

FILE, API = "file", "api"


class RouteExists(WebhookAppError):
    status, code = 409, "route_exists"


class StaleVersion(WebhookAppError):
    status, code = 409, "stale_version"


class FileRoute(WebhookAppError):
    """The route is the config file's: only the file (and `routes apply`) changes it."""

    status, code = 409, "file_route"


class DeliveriesWait(WebhookAppError):
    status, code = 409, "deliveries_wait"


class NoSuchRoute(WebhookAppError, LookupError):
    status, code = 404, "not_found"


@dataclass(frozen=True)
class RouteSet:
    """The routes as one process sees them at one generation."""

    generation: int
    stored: tuple[StoredRoute, ...]
    routes: tuple[Route, ...]
    """Every route, with the options this process could open and resolve: what events are
    matched against (a route's deliveries are planned even while it cannot deliver)."""
    broken: Mapping[str, str] = field(default_factory=dict)
    """Those it cannot deliver to (a secret no key opens, a `${VAR}` unset here), and why:
    their deliveries wait."""

    @property
    def usable(self) -> tuple[Route, ...]:
        """The routes it can deliver to."""
        return tuple(route for route in self.routes if route.name not in self.broken)

    def names(self) -> list[str]:
        return [stored.name for stored in self.stored]

    def find(self, name: str) -> StoredRoute | None:
        return next((stored for stored in self.stored if stored.name == name), None)


class RouteBook:
    def __init__(self, store: Store, sealer: Sealer, environ: Mapping[str, str]) -> None:
        self.store, self.sealer, self.environ = store, sealer, environ
        self.changes = 0
        """Changes committed through this book: its process's `LiveRoutes` reads again at once."""

    def load(self) -> RouteSet:
        generation, stored = self.store.routes.all()
        routes: list[Route] = []
        broken: dict[str, str] = {}
        held: list[str] = []
        for item in stored:
            opened = open_options(item.document["options"], self.sealer, self.environ)
            secrets = _secret_names(item.document["handler"], item.document["options"])
            held += [v for k, v in opened.values.items() if k in secrets and isinstance(v, str)]
            try:
                check_route_options(item.document["handler"], opened.values, opened.unresolved)
            except WebhookAppError as exc:
                broken[item.name] = str(exc)
            if opened.unresolved:
                broken[item.name] = "; ".join(opened.unresolved.values())
            routes.append(route_from_document(item.document, opened.values))
        signals.secrets_learned.send(self, values=tuple(held))  # never in a log line
        return RouteSet(generation, tuple(stored), tuple(routes), broken)

    def shown(self, item: StoredRoute) -> dict[str, Any]:
        """The whole configuration with its secrets masked, its source and version."""
        return {
            **self.masked(item.document),
            "source": item.source,
            "version": item.version,
            "updated_at": item.updated_at,
            "updated_by": item.updated_by,
        }

    @staticmethod
    def masked(document: Mapping[str, Any]) -> dict[str, Any]:
        """A route's fields as stored, its secret options masked: what a page or the audit log shows."""
        secrets = _secret_names(document["handler"], document["options"])
        return {**document, "options": masked(document["options"], secrets)}

    def audit(
        self,
        conn: sa.Connection,
        action: str,
        name: str,
        *,
        before: StoredRoute | None,
        after: Mapping[str, Any] | None,
        by: str,
        now: datetime,
        **facts: Any,
    ) -> None:
        """The audit entry of a change to route `name`, in the change's transaction: its fields
        before and after, secrets masked (and `facts`, such as how many deliveries it discarded)."""
        details = {
            "before": self.masked(before.document) if before else None,
            "after": self.masked(after) if after else None,
        }
        Audit(by, action, name, now, details).write(conn, **facts)

    def create(self, table: Any, *, by: str, now: datetime) -> StoredRoute:
        """A new `api` route: 409 if the name is taken, 422 naming the field for what the
        config file would refuse."""
        document = self.checked(table)
        with self.store.writing() as conn:
            self.store.routes.lock(conn)
            if self.store.routes.get(conn, document["name"]) is not None:
                raise RouteExists(f"a route named {document['name']!r} exists; change it with PATCH")
            self.store.routes.insert(conn, document, source=API, by=by, now=now)
            self.store.routes.bump(conn)
            made = _required(self.store.routes.get(conn, document["name"]))
            self.audit(conn, "route.create", made.name, before=None, after=made.document, by=by, now=now)
        self.changes += 1
        return made

    def update(
        self, name: str, changes: Mapping[str, Any], *, version: Any, by: str, now: datetime
    ) -> StoredRoute:
        """Change an `api` route at `version`: fields replaced, `options` merged key by key (a
        secret given as the mask, or left out, keeps its value; `null` removes an option)."""
        with self.store.writing() as conn:
            self.store.routes.lock(conn)
            current = self._changeable(conn, name)
            if version != current.version:
                raise StaleVersion(
                    f"route {name!r} is at version {current.version}, not {version}: "
                    "read it again, then change it"
                )
            merged = self._merged(current, changes)
            self.store.routes.update(conn, merged, version=current.version, source=API, by=by, now=now)
            self.store.routes.bump(conn)
            changed = _required(self.store.routes.get(conn, name))
            self.audit(conn, "route.update", name, before=current, after=changed.document, by=by, now=now)
        self.changes += 1
        return changed

    def delete(self, name: str, *, discard: bool, by: str, now: datetime, routes: Sequence[Route]) -> int:
        """Remove an `api` route; its waiting deliveries refuse it (409) unless `discard`, when
        they end dead, with one ops event for them all. How many were discarded."""
        with self.store.writing() as conn:
            self.store.routes.lock(conn)
            current = self._changeable(conn, name)
            waiting = self.store.routes.waiting(conn, name)
            if waiting and not discard:
                raise DeliveriesWait(
                    f"{waiting} deliveries to {name!r} are waiting; to end them as dead, delete with "
                    "discard (?discard=true, --discard, or the box on the page)"
                )
            if waiting:
                reason = f"discarded: route {name!r} was deleted by {by}"
                self.store.routes.discard(conn, name, reason, now=now)
                raised = [ops.deliveries_discarded(route=name, discarded=waiting, by=by, at=now)]
                others = [route for route in routes if route.name != name]
                insert_events(conn, raised, plan_deliveries(raised, others), now)
            self.store.routes.delete(conn, name)
            self.store.routes.bump(conn)
            self.audit(
                conn, "route.delete", name, before=current, after=None, by=by, now=now, discarded=waiting
            )
        self.changes += 1
        return waiting

    def _changeable(self, conn: sa.Connection, name: str) -> StoredRoute:
        current = self.store.routes.get(conn, name)
        if current is None:
            raise NoSuchRoute(f"no route named {name!r}")
        if current.source == FILE:
            path = current.updated_by.removeprefix("file:")
            raise FileRoute(
                f"route {name!r} comes from the config file {path}: change it there, then run "
                f"webhook-app routes apply {path} --yes"
            )
        return current

    def _merged(self, current: StoredRoute, changes: Mapping[str, Any]) -> dict[str, Any]:
        if "name" in changes and changes["name"] != current.name:
            raise InvalidRoute({"name": ["a route keeps its name; create a new one instead"]})
        options = dict(current.document["options"])  # sealed values and references as stored
        given = changes.get("options") or {}
        if not isinstance(given, dict):
            raise InvalidRoute({"options": ["Not a valid mapping type."]})
        for key, value in given.items():
            if value is None:
                options.pop(key, None)
            elif value != MASK:
                options[key] = value
        table = {
            **current.document,
            **{k: v for k, v in changes.items() if k != "options"},
            "options": options,
        }
        return self.checked(table)

    def checked(self, table: Any) -> dict[str, Any]:
        """The route's table as stored: checked as the config file's loader checks it and by its
        handler (an option this process cannot open or resolve is left out of that check), every
        field at fault named at once (`InvalidRoute`), then with its secrets sealed."""
        if (where := unstorable_at(table)) is not None:
            raise InvalidRoute({where: ["holds a NUL or an unpaired surrogate, which cannot be stored"]})
        errors: dict[str, list[str]] = {}
        try:
            document = route_document(table)
        except InvalidRoute as exc:
            document, errors = None, exc.details
        given = document or (table if isinstance(table, dict) else {})
        options = given["options"] if isinstance(given.get("options"), dict) else {}
        try:
            handler = self._handler_for(given.get("handler"), options)
        except InvalidRoute as exc:
            errors = {**errors, **exc.details}
        if errors or document is None:
            raise InvalidRoute(errors)
        return {**document, "options": seal(options, secret_options(handler, options), self.sealer)}

    def _handler_for(self, reference: Any, options: dict[str, Any]) -> type[Handler]:
        if not isinstance(reference, str) or not reference:
            raise InvalidRoute({"handler": ["Missing data for required field."]})
        opened = open_options(options, self.sealer, self.environ)
        return check_route_options(reference, opened.values, opened.unresolved)


def _secret_names(handler: str, options: Mapping[str, Any]) -> frozenset[str]:
    from webhook_app.config.plugins import load_handler_class

    try:
        return secret_options(load_handler_class(handler), options)
    except WebhookAppError:
        return frozenset(options)  # a handler this process cannot load: show no value


def _required(item: StoredRoute | None) -> StoredRoute:
    assert item is not None, "written in this transaction"
    return item


def open_route_book(store: Store, settings: Settings, environ: Mapping[str, str] | None = None) -> RouteBook:
    """The book of `store`'s routes, sealing with the settings' key (made on first use)."""
    keys = secret_keys(settings.secret_key, settings.data_dir)
    return RouteBook(store, Sealer(keys), os.environ if environ is None else environ)


CHECK_SECONDS = 0.25
"""How often a process looks at the routes' generation while it uses them; what the callback
path takes is never more than two looks old (`LiveRoutes.at_hand`)."""


class LiveRoutes:
    """The routes this process uses: read again once their generation moved, which it checks
    (one indexed read) at most every `check_seconds`; a change made here is seen at once."""

    def __init__(self, book: RouteBook, *, check_seconds: float = CHECK_SECONDS) -> None:
        self.book, self.check_seconds = book, check_seconds
        self._set: RouteSet | None = None
        self._checked = 0.0
        self._changes_seen = 0
        self._lock = threading.Lock()

    def current(self) -> RouteSet:
        """The routes, after a look at the generation when one is due."""
        found = self._set
        if found is None or self._changes_seen != self.book.changes or self._due():
            return self.refresh()
        return found

    def at_hand(self) -> RouteSet:
        """The routes held now, for the callback path: a look that is due runs beside the
        caller, so a busy process's callbacks do not wait for a database connection that
        admins' long reads may hold. Routes read more than two looks ago (a process no callback
        reached for a while), the first read and a change made here are waited for."""
        found = self._set
        age = time.monotonic() - self._checked
        if found is None or self._changes_seen != self.book.changes or age >= 2 * self.check_seconds:
            return self.refresh()
        if age >= self.check_seconds and self._lock.acquire(blocking=False):
            threading.Thread(target=self._look_and_release, name="routes-look", daemon=True).start()
        return found

    def refresh(self) -> RouteSet:
        """Check the generation now (and read the routes again if it moved)."""
        with self._lock:
            return self._look()

    def _due(self) -> bool:
        return time.monotonic() - self._checked >= self.check_seconds

    def _look_and_release(self) -> None:
        try:
            self._look()
        except Exception:  # the next look tries again; the routes held stay in use
            logger.exception("routes: could not look at the database")
        finally:
            self._lock.release()

    def _look(self) -> RouteSet:
        self._changes_seen = self.book.changes
        try:
            generation = self.book.store.routes.generation()
            if self._set is None or generation != self._set.generation:
                self._set = self.book.load()
        except SQLAlchemyError as exc:
            if self._set is None:
                raise
            logger.warning("routes: the database cannot be read, keeping those in use: %s", exc)
        self._checked = time.monotonic()
        return self._set
