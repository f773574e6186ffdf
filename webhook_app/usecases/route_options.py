"""A route's options at rest, in use and on show: secrets sealed in the database, opened by
each process that delivers, masked wherever a person sees them.

A secret option (one its handler marks, or named like a credential) written as a value is
sealed with `WEBHOOK_APP_SECRET_KEY`; written as `${VAR}` it is kept as that reference, which
each process resolves from its own environment. Other options are kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from webhook_app.config.interpolation import ENV_REFERENCE, MissingVariable, interpolate
from webhook_app.config.secret_key import Sealer, SecretUnreadable, is_sealed

MASK = "••••"
"""What a secret's value is shown as; given back in a change, it keeps the value."""


@dataclass(frozen=True)
class OpenedOptions:
    values: dict[str, Any]
    """The options as this process uses them (secrets opened, `${VAR}` resolved)."""
    unresolved: dict[str, str]
    """Options it cannot use, and why (a key that does not open the secret, a variable unset)."""


def seal(options: Mapping[str, Any], secrets: Collection[str], sealer: Sealer) -> dict[str, Any]:
    """The options as stored: each secret given as a value sealed, references kept."""
    return {
        name: sealer.seal(value)
        if name in secrets and isinstance(value, str) and not ENV_REFERENCE.search(value)
        else value
        for name, value in options.items()
    }


def open_options(stored: Mapping[str, Any], sealer: Sealer, environ: Mapping[str, str]) -> OpenedOptions:
    values: dict[str, Any] = {}
    unresolved: dict[str, str] = {}
    for name, value in stored.items():
        try:
            values[name] = interpolate(sealer.open(value) if is_sealed(value) else value, environ)
        except SecretUnreadable as exc:
            unresolved[name] = f"option '{name}': {exc}"
        except MissingVariable as missing:
            unresolved[name] = (
                f"option '{name}' refers to ${{{missing.name}}}, which is not set in this process"
            )
    return OpenedOptions(values, unresolved)


def masked(stored: Mapping[str, Any], secrets: Collection[str]) -> dict[str, Any]:
    """The options as shown: a sealed or secret value as `MASK`, a reference as written."""
    return {
        name: MASK if is_sealed(value) or (name in secrets and not _is_reference(value)) else value
        for name, value in stored.items()
    }


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and ENV_REFERENCE.fullmatch(value) is not None


def placeholders(route: str, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The options as exported: each sealed value replaced by `${ROUTE_<ROUTE>_<OPTION>}`."""
    return {
        name: f"${{{variable_for(route, name)}}}" if is_sealed(value) else value
        for name, value in stored.items()
    }


def variable_for(route: str, option: str) -> str:
    """`slack-alerts`, `webhook_url` → `ROUTE_SLACK_ALERTS_WEBHOOK_URL`."""
    return re.sub(r"[^A-Z0-9]+", "_", f"ROUTE_{route}_{option}".upper()).strip("_")


def unsealed(stored: Mapping[str, Any], sealer: Sealer) -> dict[str, Any] | None:
    """The options as written (secrets opened, references kept), or None if one cannot be opened."""
    try:
        return {name: sealer.open(value) if is_sealed(value) else value for name, value in stored.items()}
    except SecretUnreadable:
        return None
