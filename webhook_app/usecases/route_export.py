"""The routes as a config file: `[[routes]]` tables that `routes apply` reads back, each
sealed secret replaced by a `${VAR}` placeholder (the file holds no secret)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from webhook_app.config.secret_key import is_sealed
from webhook_app.store.routes import StoredRoute
from webhook_app.usecases.route_options import placeholders, variable_for


def export_toml(routes: Sequence[StoredRoute]) -> str:
    lines = ["# webhook-app routes export: apply with `webhook-app routes apply FILE`."]
    needed = [
        variable_for(stored.name, option)
        for stored in routes
        for option, value in stored.document["options"].items()
        if is_sealed(value)
    ]
    if needed:
        lines.append(f"# Set before applying: {', '.join(needed)}")
    for stored in routes:
        document = {**stored.document, "options": placeholders(stored.name, stored.document["options"])}
        lines += ["", "[[routes]]"]
        for key, value in document.items():
            if value is not None and value != {}:
                lines.append(f"{_key(key)} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _value(value: Any) -> str:
    """TOML for the values a route holds: strings, numbers, booleans, lists, and tables inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
