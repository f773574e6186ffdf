"""Finding plugins: handler classes by entry-point name (`webhook_app.handlers`) or dotted path,
and the installed providers (`webhook_app.providers`)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from marshmallow import ValidationError

from webhook_app.config.settings import SECRET_NAME, Settings
from webhook_app.errors import ConfigError
from webhook_app.model.routes import Route, describe_validation_error, field_errors
from webhook_app.plugins.handler import Handler
from webhook_app.plugins.provider import ENTRY_POINT_GROUP as PROVIDER_ENTRY_POINT_GROUP
from webhook_app.plugins.provider import PROVIDER_NAME, Provider

ENTRY_POINT_GROUP = "webhook_app.handlers"


def available_handlers() -> dict[str, str]:
    """Entry-point name → `module:Class`, for help texts and `routes check`."""
    return {ep.name: ep.value for ep in installed(ENTRY_POINT_GROUP, tuple(sys.path))}


@cache
def installed(group: str, path: tuple[str, ...]) -> tuple[EntryPoint, ...]:
    """The entry points of `group` on this `sys.path`: read once per path (each read scans
    every installed distribution; a route's check, the app and every page of forms ask)."""
    return tuple(entry_points(group=group))


def load_handler_class(reference: str) -> type[Handler]:
    """`slack` (an installed entry point) or `package.module:Class` (a dotted path)."""
    if ":" in reference:
        module_name, _, attribute = reference.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError, TypeError) as exc:  # also: empty, relative names
            raise ConfigError(f"cannot import handler '{reference}': {exc}") from None
    else:
        matches = [ep for ep in installed(ENTRY_POINT_GROUP, tuple(sys.path)) if ep.name == reference]
        if not matches:
            known = ", ".join(sorted(available_handlers())) or "none"
            raise ConfigError(
                f"no handler named '{reference}' (installed: {known}); "
                "use an installed name or a dotted path such as 'mypackage.handlers:MyHandler'"
            )
        target = next(iter(matches)).load()
    if not (isinstance(target, type) and issubclass(target, Handler)):
        raise ConfigError(f"'{reference}' is not a subclass of webhook_app.Handler")
    return target


def secret_options(handler: type[Handler], options: Mapping[str, Any]) -> frozenset[str]:
    """The options of a route that are secrets: those its handler marks (`metadata={"secret":
    True}` on the field) and those named like a credential."""
    marked = {
        field.data_key or name
        for name, field in (handler.Options().fields.items() if handler.Options else ())
        if field.metadata.get("secret")
    }
    return frozenset(marked | {name for name in options if SECRET_NAME.search(name)})


def check_route_options(
    handler_reference: str, options: Mapping[str, Any], unresolved: Iterable[str] = ()
) -> type[Handler]:
    """The route's handler class, once its options pass the handler's own checks (`unresolved`
    options, `${VAR}` this process cannot resolve, are left out); `InvalidRoute` otherwise."""
    from webhook_app.config.route_file import InvalidRoute

    try:
        cls = load_handler_class(handler_reference)
    except ConfigError as exc:
        raise InvalidRoute({"handler": [str(exc)]}) from None
    if cls.Options is not None:
        skipped = tuple(unresolved)
        try:
            cls.Options().load({k: v for k, v in options.items() if k not in skipped}, partial=skipped)
        except ValidationError as exc:
            raise InvalidRoute(field_errors({"options": exc.messages})) from None
    return cls


def build_handlers(
    routes: tuple[Route, ...], source: str, public_url: str | None = None
) -> dict[str, Handler]:
    """One handler instance per route; a bad handler name or option stops start-up."""
    handlers: dict[str, Handler] = {}
    for route in routes:
        try:
            cls = load_handler_class(route.handler)
            handlers[route.name] = cls.from_route_options(route.options)
            handlers[route.name].public_url = public_url
        except ConfigError as exc:
            raise ConfigError(f"{source}: route '{route.name}': field 'handler': {exc}") from None
        except ValidationError as exc:
            detail = describe_validation_error({"options": exc.messages})
            raise ConfigError(f"{source}: route '{route.name}': {detail}") from None
    return handlers


def provider_classes() -> dict[str, type[Provider]]:
    """Every installed provider's class, by name; one that cannot be loaded stops start-up."""
    classes: dict[str, type[Provider]] = {}
    for entry_point in installed(PROVIDER_ENTRY_POINT_GROUP, tuple(sys.path)):
        where = f"provider '{entry_point.name}' ({entry_point.value})"
        try:
            cls = entry_point.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot import {where}: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, Provider)):
            raise ConfigError(f"{where} is not a subclass of webhook_app.Provider")
        if cls.name != entry_point.name or not PROVIDER_NAME.match(cls.name):
            raise ConfigError(
                f"{where}: its name must be the entry point's name, lower-case letters, digits and '-'"
            )
        classes[cls.name] = cls
    return dict(sorted(classes.items()))


def callback_providers() -> list[type[Provider]]:
    """The installed providers that send callbacks (each has a callback URL and its tokens)."""
    return [cls for cls in provider_classes().values() if cls.sends_callbacks]


def load_providers(settings: Settings) -> dict[str, Provider]:
    """Every installed provider, by name, built from the settings (its own settings are read now,
    so a wrong one stops start-up)."""
    return {name: cls(settings) for name, cls in provider_classes().items()}
