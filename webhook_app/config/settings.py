"""Settings, read once: environment (`WEBHOOK_APP_*`) first, the TOML file second, defaults last."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from webhook_app.config.interpolation import MissingVariable, interpolate
from webhook_app.config.private_file import create_private_file, replace_private_file
from webhook_app.errors import ConfigError
from webhook_app.model.recordings import LOW_SCORES
from webhook_app.model.routes import DEFAULT_ROUTES, Route
from webhook_app.plugins.provider import installed_provider_names

ENV_PREFIX = "WEBHOOK_APP_"
TOKENS_FILE = "webhook_app.tokens.json"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
SECRET_NAME = re.compile(r"secret|password|token|key|webhook_url", re.I)
"""Setting and option names taken for secrets (kept out of logs; route options sealed at rest)."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///webhook_app.db"
    db_pool_size: int = 5
    sqlite_synchronous: str = "NORMAL"
    config_path: str | None = None
    data_dir: str = "."
    admin_tokens: tuple[str, ...] = ()
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
    """The config file's routes (applied to the database at start), or those a first start
    seeds when there is no file; every process reads the routes in use from the database."""
    route_tables: tuple[Mapping[str, Any], ...] = field(default=(), hash=False, repr=False)
    """The file's `[[routes]]` tables as written (`${VAR}` kept): what is stored."""
    secret_key: tuple[str, ...] = field(default=(), repr=False)
    """`WEBHOOK_APP_SECRET_KEY`: Fernet keys sealing secret route options (the first seals)."""
    provider_tokens: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    """Callback tokens by provider: `WEBHOOK_APP_<NAME>_TOKENS`, or made and kept by `ensure_tokens`."""
    provider_values: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)
    """Providers' own settings, unconverted, by `<provider>_<name>`: the environment's over the file's."""

    def callback_tokens(self, provider: str) -> tuple[str, ...]:
        """The tokens valid in `/hooks/<provider>/<token>`."""
        return self.provider_tokens.get(_setting_prefix(provider), ())

    def provider_setting(self, provider: str, name: str, *, kind: str = "str", default: Any = None) -> Any:
        """A provider's own setting (as django-anymail's `get_anymail_setting(name, esp_name=…)`):
        `WEBHOOK_APP_<PROVIDER>_<NAME>`, else `<provider>_<name>` in the config file, else
        `default`; converted as `kind` (str, list, int, duration, url), `ConfigError` naming it."""
        key = f"{_setting_prefix(provider)}_{name}"
        if key not in self.provider_values:
            return default
        return _convert(self.provider_values[key], kind, ENV_PREFIX + key.upper())

    def secrets(self) -> tuple[str, ...]:
        """Every value that must stay out of logs: tokens, providers' keys, the database password,
        and route options named like a credential (a Slack webhook URL is one)."""
        values = [
            *self.admin_tokens,
            *self.secret_key,
            *(token for tokens in self.provider_tokens.values() for token in tokens),
            *(str(v) for k, v in self.provider_values.items() if SECRET_NAME.search(k)),
        ]
        values.append(urlsplit(self.database_url).password or "")
        for route in self.routes:
            values += [v for k, v in route.options.items() if isinstance(v, str) and SECRET_NAME.search(k)]
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
    "secret_key": "list",
}


def load_settings(environ: Mapping[str, str] | None = None, *, route_secrets: bool = True) -> Settings:
    """Build settings from the environment and the config file it names (`WEBHOOK_APP_CONFIG`).

    `route_secrets=False` is for commands that only read the store: a `${NAME}` in a route
    that is not set stays as written instead of stopping them (only what sends needs it).
    """
    environ = os.environ if environ is None else environ
    config_path = environ.get(ENV_PREFIX + "CONFIG") or None
    file_values: dict[str, Any] = {}
    routes: tuple[Route, ...] = DEFAULT_ROUTES
    route_tables: tuple[Mapping[str, Any], ...] = ()
    if config_path:
        written = _read_toml(config_path)
        try:
            document = interpolate(written, environ, keep_missing_under=None if route_secrets else "routes")
        except MissingVariable as missing:
            raise ConfigError(missing.describe(config_path, written)) from None
        if "routes" in document:
            from webhook_app.config.route_file import parse_routes

            routes = parse_routes(document.pop("routes"), config_path)
            route_tables = tuple(written["routes"])
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
    provider_values = _provider_values(environ, file_values, config_path)
    provider_tokens = {
        key.removesuffix("_tokens"): tuple(_convert(value, "list", ENV_PREFIX + key.upper()))
        for key, value in provider_values.items()
        if key.endswith("_tokens")
    }
    settings = Settings(
        config_path=config_path,
        routes=routes,
        route_tables=route_tables,
        provider_tokens=provider_tokens,
        provider_values=provider_values,
        **values,
    )
    _refuse_short_tokens("admin_tokens", settings.admin_tokens)
    for provider, tokens in provider_tokens.items():
        _refuse_short_tokens(f"{provider}_tokens", tokens)
    return _with_stored_tokens(settings)


def _setting_prefix(provider: str) -> str:
    """A provider's name as it starts its settings: `my-provider` → `my_provider`."""
    return provider.replace("-", "_").lower()


def _provider_values(
    environ: Mapping[str, str], file_values: dict[str, Any], config_path: str | None
) -> dict[str, Any]:
    """Installed providers' settings (`<provider>_<name>`), the environment's over the file's;
    any other unknown name in the file is refused."""
    prefixes = tuple(f"{_setting_prefix(name)}_" for name in installed_provider_names())
    found = {
        key: value for key, value in file_values.items() if key not in _KINDS and key.startswith(prefixes)
    }
    unknown = sorted(set(file_values) - set(_KINDS) - set(found))
    if unknown:
        raise ConfigError(f"{config_path}: unknown setting(s) {', '.join(unknown)}")
    for env_name, value in environ.items():
        key = env_name.removeprefix(ENV_PREFIX).lower()
        if env_name.startswith(ENV_PREFIX) and key.startswith(prefixes) and value.strip() != "":
            found[key] = value
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


def ensure_tokens(settings: Settings, callback_providers: Sequence[str]) -> tuple[Settings, list[str]]:
    """Make and keep an admin token, and a callback token for each provider that sends
    callbacks, when none are configured.

    Returns the settings with tokens and the names of those made now (`admin_tokens`,
    `<provider>_tokens`), which may be shown whole once. The file is private (0600)
    and is read back by every later command started in the same data directory.
    """
    names = ["admin_tokens", *(f"{_setting_prefix(p)}_tokens" for p in callback_providers)]
    missing = [name for name in names if not _configured_tokens(settings, name)]
    if not missing:
        return settings, []
    path = tokens_path(settings)
    stored = _read_tokens_file(path)
    made = [name for name in missing if name not in stored]
    if made:
        kept_before = bool(stored)
        for name in made:
            stored[name] = [secrets.token_urlsafe(32)]
        path.parent.mkdir(parents=True, exist_ok=True)
        if kept_before:
            replace_private_file(path, json.dumps(stored, indent=2))
        elif not create_private_file(path, json.dumps(stored, indent=2)):
            return ensure_tokens(settings, callback_providers)  # a process started with this one made them
    return _with_stored_tokens(settings), made


def _configured_tokens(settings: Settings, name: str) -> tuple[str, ...]:
    if name == "admin_tokens":
        return settings.admin_tokens
    return settings.provider_tokens.get(name.removesuffix("_tokens"), ())


def _with_stored_tokens(settings: Settings) -> Settings:
    """Tokens kept by `ensure_tokens`, where none are configured."""
    stored = _read_tokens_file(tokens_path(settings))
    provider_tokens = dict(settings.provider_tokens)
    for name, tokens in stored.items():
        if name != "admin_tokens" and name.endswith("_tokens") and tokens:
            provider_tokens.setdefault(name.removesuffix("_tokens"), tuple(tokens))
    return replace(
        settings,
        admin_tokens=settings.admin_tokens or tuple(stored.get("admin_tokens", ())),
        provider_tokens=provider_tokens,
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


SCORE_NAMES = tuple(LOW_SCORES)


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
