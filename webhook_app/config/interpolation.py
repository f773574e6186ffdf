"""`${NAME}` in a config file, replaced with that environment variable (a secret kept out of the file)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from webhook_app.errors import ConfigError

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""`${NAME}`: an environment variable's value, put in where it is written."""


def interpolate(
    value: Any,
    environ: Mapping[str, str],
    path: tuple[str | int, ...] = (),
    *,
    keep_missing_under: str | None = None,
) -> Any:
    """Replace `${NAME}` in every string with that environment variable.

    A missing variable raises `MissingVariable` carrying where it was used, unless it is
    under the top-level key `keep_missing_under`, where it stays as written.
    """
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            if match.group(1) in environ:
                return environ[match.group(1)]
            if keep_missing_under is not None and path[:1] == (keep_missing_under,):
                return match.group(0)
            raise MissingVariable(match.group(1), path)

        return ENV_REFERENCE.sub(substitute, value)
    if isinstance(value, dict):
        return {
            k: interpolate(v, environ, (*path, k), keep_missing_under=keep_missing_under)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            interpolate(v, environ, (*path, i), keep_missing_under=keep_missing_under)
            for i, v in enumerate(value)
        ]
    return value


class MissingVariable(ConfigError):
    def __init__(self, name: str, path: tuple[str | int, ...]) -> None:
        super().__init__(name)
        self.name = name
        self.path = path

    def describe(self, source: str, document: dict[str, Any]) -> str:
        """`file: route 'x' field 'options.url' refers to ${NAME}, which is not set`."""
        where = f"field '{'.'.join(map(str, self.path))}'"
        if len(self.path) >= 2 and self.path[0] == "routes" and isinstance(self.path[1], int):
            table = document["routes"][self.path[1]]
            label = table.get("name", f"#{self.path[1] + 1}") if isinstance(table, dict) else "?"
            where = f"route '{label}' field '{'.'.join(map(str, self.path[2:]))}'"
        return f"{source}: {where} refers to ${{{self.name}}}, which is not set in the environment"
