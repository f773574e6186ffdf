"""Configuration: precedence, interpolation, and errors that name the file, the route and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.config.together import started_together
from webhook_app.config.plugins import build_handlers, load_handler_class
from webhook_app.config.settings import TOKENS_FILE, Settings, ensure_tokens, load_settings, parse_duration
from webhook_app.errors import ConfigError


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "webhook-app.toml"
    path.write_text(text)
    return str(path)


def settings_from(tmp_path: Path, text: str, **env: str) -> object:
    return load_settings(
        {"WEBHOOK_APP_CONFIG": write(tmp_path, text), "WEBHOOK_APP_DATA_DIR": str(tmp_path), **env}
    )


def test_defaults_route_everything_to_log(tmp_path: Path) -> None:
    settings = load_settings({"WEBHOOK_APP_DATA_DIR": str(tmp_path)})
    assert [(r.name, r.handler, r.events) for r in settings.routes] == [("log", "log", ("*",))]
    assert settings.database_url == "sqlite:///webhook_app.db"
    assert settings.max_body_bytes == 1024 * 1024 and settings.dedupe_window == 86400
    assert settings.admin_tokens == ()


def test_environment_wins_over_the_file_which_wins_over_defaults(tmp_path: Path) -> None:
    text = f'dedupe_window = "2h"\nmax_body_bytes = 2048\nadmin_tokens = ["{"f" * 32}"]\n'
    a, b = "a" * 32, "b" * 40
    settings = settings_from(
        tmp_path, text, WEBHOOK_APP_MAX_BODY_BYTES="4096", WEBHOOK_APP_ADMIN_TOKENS=f"{a}, {b}"
    )
    assert settings.max_body_bytes == 4096  # type: ignore[attr-defined]
    assert settings.dedupe_window == 7200  # type: ignore[attr-defined]
    assert settings.admin_tokens == (a, b)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["ADMIN_TOKENS", "RESEMBLE_TOKENS"])
def test_tokens_shorter_than_32_characters_are_refused_without_showing_them(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from(tmp_path, "", **{f"WEBHOOK_APP_{name}": "x" * 32 + ",short-guessable"})
    message = str(info.value)
    assert f"WEBHOOK_APP_{name}" in message and "15 characters" in message and "at least 32" in message
    assert "short-guessable" not in message


def test_routes_with_env_interpolation_globs_and_retry(tmp_path: Path) -> None:
    text = """
[[routes]]
name = "voice-ops"
handler = "log"
events = ["voice.dataset.issue", "voice.consent.*"]
providers = ["resemble"]
retry = { max_attempts = 3, base_seconds = 1 }
[routes.options]
"""
    (route,) = settings_from(tmp_path, text).routes  # type: ignore[attr-defined]
    assert (
        route.retry.max_attempts == 3 and route.retry.base_seconds == 1 and route.retry.max_seconds == 36000
    )
    assert route.matches("voice.consent.failed", "resemble")
    assert route.matches("voice.dataset.issue", "resemble")
    assert not route.matches("voice.training.succeeded", "resemble")
    assert not route.matches("voice.consent.failed", "azure")


def test_interpolated_values_reach_the_route_options(tmp_path: Path) -> None:
    text = '[[routes]]\nname = "s"\nhandler = "log"\n[routes.options]\nurl = "https://${HOST}/x"\n'
    (route,) = settings_from(tmp_path, text, HOST="example.test").routes  # type: ignore[attr-defined]
    assert route.options == {"url": "https://example.test/x"}
    assert "example.test" not in repr(route), "options may hold secrets and stay out of reprs"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[routes]]\nname = "slack"\nhandler = "log"\n'
            '[routes.options]\nwebhook_url = "${NOT_SET_ANYWHERE}"\n',
            "route 'slack' field 'options.webhook_url' refers to ${NOT_SET_ANYWHERE}",
        ),
        (
            '[[routes]]\nname = "r"\nhandler = "log"\nretry = { max_attempts = 0 }\n',
            "route 'r': field 'retry.max_attempts'",
        ),
        ('[[routes]]\nname = "r"\nhandlr = "log"\n', "route 'r': field 'handler': Missing data"),
        (
            '[[routes]]\nname = "r"\nhandler = "log"\nproviders = ["elevenlabs"]\n',
            "route 'r': field 'providers.0'",
        ),
        (
            '[[routes]]\nname = "r"\nhandler = "log"\n[[routes]]\nname = "r"\nhandler = "log"\n',
            "route 'r': field 'name': used twice",
        ),
        (
            '[[routes]]\nname = "r"\nhandler = "log"\nwhere = { "data.voiceid" = "narrator-*" }\n',
            "route 'r': field 'where.data.voiceid.key': unknown path 'data.voiceid'",
        ),
        (
            '[[routes]]\nname = "r"\nhandler = "log"\nwhere = { "data.ok" = [true] }\n',
            "route 'r': field 'where.data.ok.value': use a glob, a list of globs, or a boolean or number",
        ),
        ('[[routes]]\nname = "r"\nhandler = "log"\nrate_limit = "fast"\n', "'fast' is not a rate: write N/s"),
        ('[[routes]]\nname = "r"\nhandler = "log"\nprobe_seconds = 0\n', "route 'r': field 'probe_seconds'"),
        ("routes = 5\n", "'routes' must be an array of tables"),
        ("[[routes]\n", "not valid TOML"),
        ('dedupe_window = "soon"\n', "field 'dedupe_window': 'soon' is not a duration"),
        ('log_format = "xml"\n', "field 'log_format'"),
        ('databse_url = "x"\n', "unknown setting(s) databse_url"),
    ],
)
def test_bad_config_names_file_route_and_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from(tmp_path, text)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "webhook-app.toml"))
    assert expected in message


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings({"WEBHOOK_APP_CONFIG": str(tmp_path / "absent.toml")})


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_APP_MAX_BODY_BYTES"):
        load_settings({"WEBHOOK_APP_MAX_BODY_BYTES": "lots"})


def test_unknown_handler_and_bad_options_stop_start_up_with_names(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, '[[routes]]\nname = "r"\nhandler = "carrier-pigeon"\n')
    with pytest.raises(ConfigError, match=r"route 'r': field 'handler': no handler named 'carrier-pigeon'"):
        build_handlers(settings.routes, "f.toml")  # type: ignore[attr-defined]
    settings = settings_from(
        tmp_path, '[[routes]]\nname = "r"\nhandler = "tests.sink_handlers:SinkHandler"\n'
    )
    with pytest.raises(ConfigError, match=r"f.toml: route 'r': field 'options.url': Missing data"):
        build_handlers(settings.routes, "f.toml")  # type: ignore[attr-defined]
    settings = settings_from(tmp_path, '[[routes]]\nname = "r"\nhandler = "log"\n[routes.options]\nx = 1\n')
    with pytest.raises(ConfigError, match=r"field 'options.x': unknown option"):
        build_handlers(settings.routes, "f.toml")  # type: ignore[attr-defined]


def test_handlers_load_by_entry_point_and_by_dotted_path() -> None:
    from handlers.log import LogHandler
    from tests.sink_handlers import SinkHandler

    assert load_handler_class("log") is LogHandler
    assert load_handler_class("tests.sink_handlers:SinkHandler") is SinkHandler
    with pytest.raises(ConfigError, match="cannot import"):
        load_handler_class("tests.sink_handlers:Nope")
    with pytest.raises(ConfigError, match="not a subclass"):
        load_handler_class("json:dumps")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90d", 7776000), ("24h", 86400), ("30m", 1800), ("10s", 10), ("500ms", 0.5), ("15", 15), (2.5, 2.5)],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_sqlite_synchronous_is_normal_unless_full_is_asked_for(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from webhook_app.store import Store

    for setting, expected in (({}, 1), ({"WEBHOOK_APP_SQLITE_SYNCHRONOUS": "full"}, 2)):
        settings = load_settings({"WEBHOOK_APP_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **setting})
        store = Store.from_settings(settings)
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == expected  # 1 NORMAL, 2 FULL
        store.dispose()
    with pytest.raises(ConfigError, match="WEBHOOK_APP_SQLITE_SYNCHRONOUS"):
        load_settings({"WEBHOOK_APP_SQLITE_SYNCHRONOUS": "OFF"})


def test_a_provider_reads_its_own_settings_environment_first_then_file(tmp_path: Path) -> None:
    """`provider_setting` (as anymail's `get_anymail_setting`): `WEBHOOK_APP_<PROVIDER>_<NAME>`,
    else `<provider>_<name>` in the file, else the default; a name no provider owns is refused."""
    config = tmp_path / "config.toml"
    config.write_text('azure_endpoint = "https://file.example"\nazure_poll_interval = "30s"\n')
    environ = {"WEBHOOK_APP_CONFIG": str(config), "WEBHOOK_APP_AZURE_ENDPOINT": "https://env.example"}
    settings = load_settings(environ)
    assert settings.provider_setting("azure", "endpoint") == "https://env.example"
    assert settings.provider_setting("azure", "poll_interval", kind="duration") == 30.0
    assert settings.provider_setting("azure", "max_age", kind="duration", default=7.0) == 7.0
    config.write_text('nobody_endpoint = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({"WEBHOOK_APP_CONFIG": str(config)})


def test_a_provider_key_is_among_the_secrets_kept_out_of_logs() -> None:
    settings = load_settings({"WEBHOOK_APP_RESEMBLE_API_KEY": "rk-secret-value-123"})
    assert "rk-secret-value-123" in settings.secrets()


def test_processes_started_together_share_one_set_of_tokens(tmp_path: Path) -> None:
    """Was: each first start wrote the tokens file in place (truncated, then written), so a
    process started at the same moment could read it empty, or keep tokens another process
    then overwrote."""

    def first_start(folder: Path) -> tuple[str, ...]:
        return ensure_tokens(Settings(data_dir=str(folder)), ["resemble"])[0].admin_tokens

    for folder, tokens in started_together(tmp_path, first_start):
        assert len(set(tokens)) == 1, tokens
        kept = json.loads((folder / TOKENS_FILE).read_text())
        assert tuple(kept["admin_tokens"]) == tokens[0] and kept["resemble_tokens"]
        assert [p.name for p in folder.iterdir()] == [TOKENS_FILE], "no temporary file left behind"
