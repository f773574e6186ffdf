"""The web application: `create_app()` builds it (the Procfile's `webhook_app:create_app()`)."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from webhook_app.config.secret_key import secret_keys
from webhook_app.config.settings import Settings, load_settings
from webhook_app.model.clock import Clock, isoformat
from webhook_app.model.recordings import set_low_scores
from webhook_app.plugins.provider import Provider
from webhook_app.services import EXTENSION_KEY, Services
from webhook_app.telemetry.logs import configure_logging
from webhook_app.telemetry.memory import freeze_startup_objects
from webhook_app.usecases.route_apply import check_configured_routes

logger = logging.getLogger(__name__)

ADMIN_MAX_BODY_BYTES = 64 * 1024
"""The largest body of a request to the API or the pages (a route, a sign-in form)."""


class _JSONProvider(DefaultJSONProvider):
    """ISO 8601 times (Flask's default is an HTTP date) and keys in the order written."""

    sort_keys = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, datetime):
            return isoformat(o)
        return DefaultJSONProvider.default(o)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Flask:
    """Build the web application. Settings come from the environment unless given."""
    settings = settings or load_settings()
    configure_logging(settings.log_format, settings.log_level, settings.secrets())
    set_low_scores(settings.low_scores)

    from webhook_app.telemetry import metrics
    from webhook_app.web import errors, hooks, openapi
    from webhook_app.web import pages as ui
    from webhook_app.web.api import events, health, routes, stats, team

    metrics.install()

    app = Flask(__name__)
    app.json = _JSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = ADMIN_MAX_BODY_BYTES  # callbacks have their own, MAX_BODY_BYTES
    # Read by the web worker (web_worker.py): it holds no more request bodies than this at once.
    app.config["BODY_BUDGET_BYTES"] = max(settings.body_budget_bytes, settings.max_body_bytes + 1)
    app.config["REQUEST_TIMEOUT"] = settings.request_timeout  # read by the web worker (web_worker.py)
    services = app.extensions[EXTENSION_KEY] = Services.from_settings(settings, clock)
    check_configured_routes(services.book, settings)  # a wrong route stops start-up
    # The database closes with the app, at the latest when the process ends (a gunicorn
    # worker's clean exit): SQLite then folds its WAL into the database file, so after a
    # clean stop that file alone holds every event.
    weakref.finalize(app, services.store.dispose)
    errors.register_error_handlers(app)
    app.register_blueprint(events.bp)
    app.register_blueprint(routes.bp)
    app.register_blueprint(stats.bp)
    app.register_blueprint(team.bp)
    for provider in services.providers.values():
        for blueprint in provider.blueprints():
            app.register_blueprint(blueprint)
    app.register_blueprint(health.bp)
    app.register_blueprint(ui.bp)
    app.register_blueprint(openapi.bp)
    ui.configure_sessions(app, secret_keys(settings.secret_key, settings.data_dir), settings.admin_tokens)
    app.wsgi_app = hooks.CallbackEndpoint(app, app.wsgi_app)  # type: ignore[method-assign]
    warn_of_closed_doors(settings, services.providers)
    freeze_startup_objects()
    return app


def warn_of_closed_doors(settings: Settings, providers: Mapping[str, Provider]) -> None:
    """Say at start what no request can open: without admin tokens only named keys open the API
    and the pages (none exist on a new install); without callback tokens every callback is a 404."""
    if not settings.admin_tokens:
        logger.warning(
            "no admin tokens (WEBHOOK_APP_ADMIN_TOKENS): only named keys open the admin API and the pages "
            "(make one with: webhook-app keys create --name NAME --role admin)"
        )
    callers = [name for name, provider in providers.items() if provider.sends_callbacks]
    if callers and not any(settings.callback_tokens(name) for name in callers):
        names = ", ".join(f"WEBHOOK_APP_{name.upper().replace('-', '_')}_TOKENS" for name in callers)
        logger.warning("no callback tokens (%s): every callback will be answered 404", names)
