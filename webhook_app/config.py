"""Settings, read once: environment (`WEBHOOK_APP_*`) first, the TOML file second, defaults last."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from webhook_app.errors import ConfigError
from webhook_app.routes import DEFAULT_ROUTES, Route

ENV_PREFIX = "WEBHOOK_APP_"
TOKENS_FILE = "webhook_app.tokens.json"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_SECRET_OPTION = re.compile(r"secret|password|token|key|webhook_url", re.I)
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///webhook_app.db"
    db_pool_size: int = 5
    sqlite_synchronous: str = "NORMAL"
    config_path: str | None = None
    data_dir: str = "."
    admin_tokens: tuple[str, ...] = ()
    resemble_tokens: tuple[str, ...] = ()
    azure_speech_key: str | None = field(default=None, repr=False)
    azure_endpoint: str | None = None
    azure_allowed_hosts: tuple[str, ...] = ()
    azure_api_version: str = "2026-01-01"
    resemble_api_key: str | None = field(default=None, repr=False)
    resemble_api_url: str = "https://app.resemble.ai/api/v2"
    resemble_allowed_hosts: tuple[str, ...] = ()
    azure_poll_interval: float = 10.0
    azure_poll_max_interval: float = 300.0
    azure_max_age: float = 48 * 3600.0
    max_body_bytes: int = 1024 * 1024
    low_scores: Mapping[str, float] = field(default_factory=dict, hash=False)
    """Floors below which a recording's score is called low, by score name (`recordings.LOW_SCORES`)."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of the reverse proxies whose `X-Forwarded-For` names the client."""
    body_budget_bytes: int = 32 * 1024 * 1024
    """Bytes of request bodies one web worker holds at once; a request past it is answered 503."""
    dedupe_window: float = 24 * 3600.0
    request_timeout: float = 10.0
    public_url: str | None = None
    max_rejected_receipts: int = 10_000
    max_tracked_operations: int = 10_000
    log_format: str = "auto"
    log_level: str = "INFO"
    lease_seconds: float = 60.0
    dispatch_concurrency: int = 8
    dispatch_poll_interval: float = 0.5
    routes: tuple[Route, ...] = DEFAULT_ROUTES
    provider_tokens: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """Callback tokens of installed providers other than Resemble: `WEBHOOK_APP_<NAME>_TOKENS`."""

    def callback_tokens(self, provider: str) -> tuple[str, ...]:
        """The tokens valid in `/hooks/<provider>/<token>`."""
        if provider == "resemble":
            return self.resemble_tokens
        return self.provider_tokens.get(provider.replace("-", "_").lower(), ())

    def secrets(self) -> tuple[str, ...]:
        """Every value that must stay out of logs: tokens, the Azure key, the database password,
        and route options named like a credential (a Slack webhook URL is one)."""
        values = [
            *self.admin_tokens,
            *self.resemble_tokens,
            *(token for tokens in self.provider_tokens.values() for token in tokens),
            self.azure_speech_key or "",
            self.resemble_api_key or "",
        ]
        values.append(urlsplit(self.database_url).password or "")
        for route in self.routes:
            values += [v for k, v in route.options.items() if isinstance(v, str) and _SECRET_OPTION.search(k)]
        return tuple(v for v in values if v)

    def __repr__(self) -> str:
        # Tokens and keys must never reach a log line through a repr.
        return f"Settings(database_url={redact_url(self.database_url)!r}, routes={len(self.routes)})"


_KINDS: dict[str, str] = {
    "database_url": "str",
    "db_pool_size": "int",
    "sqlite_synchronous": "choice:NORMAL,FULL",
    "data_dir": "str",
    "admin_tokens": "list",
    "resemble_tokens": "list",
    "azure_speech_key": "str",
    "azure_endpoint": "str",
    "azure_allowed_hosts": "list",
    "azure_api_version": "api_version",
    "resemble_api_key": "str",
    "resemble_api_url": "str",
    "resemble_allowed_hosts": "list",
    "azure_poll_interval": "duration",
    "azure_poll_max_interval": "duration",
    "azure_max_age": "duration",
    "max_body_bytes": "int",
    "body_budget_bytes": "int",
    "trusted_proxies": "networks",
    "low_scores": "floors",
    "dedupe_window": "duration",
    "request_timeout": "duration",
    "public_url": "url",
    "max_rejected_receipts": "int",
    "max_tracked_operations": "int",
    "log_format": "choice:auto,json,text",
    "log_level": "choice:DEBUG,INFO,WARNING,ERROR",
    "lease_seconds": "duration",
    "dispatch_concurrency": "int",
    "dispatch_poll_interval": "duration",
}


def load_settings(environ: Mapping[str, str] | None = None, *, route_secrets: bool = True) -> Settings:
    """Build settings from the environment and the config file it names (`WEBHOOK_APP_CONFIG`).

    `route_secrets=False` is for commands that only read the store: a `${NAME}` in a route
    that is not set stays as written instead of stopping them (only what sends needs it).
    """
    environ = os.environ if environ is None else environ
    config_path = environ.get(ENV_PREFIX + "CONFIG") or None
    file_values: dict[str, Any] = {}
    routes = DEFAULT_ROUTES
    if config_path:
        document = _read_toml(config_path)
        try:
            document = interpolate(document, environ, keep_missing_under=None if route_secrets else "routes")
        except MissingVariable as missing:
            raise ConfigError(missing.describe(config_path, document)) from None
        if "routes" in document:
            from webhook_app.route_config import parse_routes

            routes = parse_routes(document.pop("routes"), config_path)
        unknown = sorted(set(document) - set(_KINDS))
        if unknown:
            raise ConfigError(f"{config_path}: unknown setting(s) {', '.join(unknown)}")
        file_values = document
    values: dict[str, Any] = {}
    for name, kind in _KINDS.items():
        env_name = ENV_PREFIX + name.upper()
        if environ.get(env_name, "") != "":
            values[name] = _convert(environ[env_name], kind, env_name)
        elif name in file_values:
            values[name] = _convert(file_values[name], kind, f"{config_path}: field '{name}'")
    if "database_url" in values:
        values["database_url"] = normalize_database_url(values["database_url"])
    provider_tokens = _provider_tokens(environ)
    settings = Settings(config_path=config_path, routes=routes, provider_tokens=provider_tokens, **values)
    for name in ("admin_tokens", "resemble_tokens"):
        _refuse_short_tokens(name, getattr(settings, name))
    for provider, tokens in provider_tokens.items():
        _refuse_short_tokens(f"{provider}_tokens", tokens)
    return _with_stored_tokens(settings)


_PROVIDER_TOKENS = re.compile(rf"^{ENV_PREFIX}([A-Z0-9_]+)_TOKENS$")


def _provider_tokens(environ: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """`WEBHOOK_APP_<NAME>_TOKENS` for providers other than Resemble; `<NAME>` is the provider's
    name in capitals, `-` written `_`."""
    found: dict[str, tuple[str, ...]] = {}
    for env_name, value in environ.items():
        match = _PROVIDER_TOKENS.match(env_name)
        if match and match.group(1) not in ("ADMIN", "RESEMBLE") and value.strip():
            found[match.group(1).lower()] = tuple(_convert(value, "list", env_name))
    return found


MIN_TOKEN_CHARS = 32


def _refuse_short_tokens(name: str, tokens: tuple[str, ...]) -> None:
    """A short token can be guessed (the callback URL and the admin API face the internet)."""
    for token in tokens:
        if len(token) < MIN_TOKEN_CHARS:
            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()}: a token of {len(token)} characters is too short to resist "
                f"guessing; use at least {MIN_TOKEN_CHARS}, e.g. the output of "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )


def tokens_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / TOKENS_FILE


def normalize_database_url(url: str) -> str:
    """`postgres://` (what Heroku and many hosts hand out) and a bare `postgresql://` mean
    PostgreSQL through psycopg 3, the driver installed with this package."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def ensure_tokens(settings: Settings) -> tuple[Settings, bool]:
    """Make and keep a Resemble token and an admin token when none are configured.

    Returns the settings with tokens and whether new ones were made. The file is private (0600)
    and is read back by every later command started in the same data directory.
    """
    if settings.admin_tokens and settings.resemble_tokens:
        return settings, False
    path = tokens_path(settings)
    stored = _read_tokens_file(path)
    stored.setdefault("admin_tokens", [secrets.token_urlsafe(32)])
    stored.setdefault("resemble_tokens", [secrets.token_urlsafe(32)])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(stored, handle, indent=2)
    return _with_stored_tokens(settings), True


def _with_stored_tokens(settings: Settings) -> Settings:
    stored = _read_tokens_file(tokens_path(settings))
    return replace(
        settings,
        admin_tokens=settings.admin_tokens or tuple(stored.get("admin_tokens", ())),
        resemble_tokens=settings.resemble_tokens or tuple(stored.get("resemble_tokens", ())),
    )


def _read_tokens_file(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path}: cannot read the stored tokens ({exc}); delete the file to make new ones"
        ) from None
    return {k: [str(t) for t in v] for k, v in data.items() if isinstance(v, list)}


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (WEBHOOK_APP_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


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

        return _ENV_REFERENCE.sub(substitute, value)
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


def parse_duration(text: str | float | int) -> float:
    """Seconds from `90d`, `24h`, `30m`, `10s`, `500ms` or a plain number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 30s, 10m, 24h or 90d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _convert(raw: Any, kind: str, where: str) -> Any:
    try:
        if kind == "str":
            return str(raw)
        if kind == "list":
            items = raw if isinstance(raw, list) else str(raw).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        if kind == "int":
            if isinstance(raw, bool) or int(raw) < 1:
                raise ValueError(f"{raw!r} is not a whole number of at least 1")
            return int(raw)
        if kind == "duration":
            return parse_duration(raw)
        if kind == "url":
            return _base_url(str(raw))
        if kind == "api_version":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", str(raw).strip()):
                raise ValueError(f"{raw!r} is not an Azure api-version such as 2026-01-01")
            return str(raw).strip()
        if kind == "floors":
            return _floors(raw)
        if kind == "networks":
            networks = _convert(raw, "list", where)
            for network in networks:
                ipaddress.ip_network(network, strict=False)  # ValueError names what is not one
            return networks
        choices = kind.removeprefix("choice:").split(",")
        value = str(raw)
        if kind.endswith(("ERROR", "FULL")):
            value = value.upper()
        if value not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
        return value
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


SCORE_NAMES = ("stoi_score", "pesq_score", "si_sdr_score", "resemble_sample_score")


def _floors(raw: Any) -> dict[str, float]:
    """`stoi_score=0.6,pesq_score=1.8` (or a TOML table) as floors by score name."""
    pairs = (
        raw.items() if isinstance(raw, dict) else (item.split("=", 1) for item in _convert(raw, "list", ""))
    )
    floors = {}
    for pair in pairs:
        name, value = (str(part).strip() for part in pair) if len(pair) == 2 else (str(pair[0]), "")
        if name not in SCORE_NAMES:
            raise ValueError(f"{name!r} is not a score; use {', '.join(SCORE_NAMES)}, e.g. stoi_score=0.6")
        floors[name] = float(value)
    return floors


def _base_url(raw: str) -> str:
    """An external base URL (`https://hooks.example.com` or with a path prefix), without a trailing slash."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{raw!r} is not a base URL such as https://hooks.example.com")
    return raw.strip().rstrip("/")


def redact_url(url: str) -> str:
    """A database URL without its password, for logs and messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)
