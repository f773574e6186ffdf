"""The config file's routes in the database: applied with a printed difference, refused
elsewhere, never fighting the API's, exported back without their secrets."""

from __future__ import annotations

import tomllib
from typing import Any

from click.testing import CliRunner

from tests.conftest import load_fixture
from tests.sink import Sink
from webhook_app.cli import cli


def env_of(server: Any, **more: str) -> dict[str, str]:
    settings = server.settings
    return {
        "WEBHOOK_APP_DATABASE_URL": settings.database_url,
        "WEBHOOK_APP_DATA_DIR": settings.data_dir,
        **more,
    }


def write(path: Any, *tables: str) -> str:
    path.write_text("".join(tables))
    return str(path)


PARTNER = (
    '[[routes]]\nname = "partner"\nhandler = "forward"\n'
    '[routes.options]\nurl = "{url}"\nsecret = "{secret}"\nallow_private_targets = true\n'
)
SECRET_ONE = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET_TWO = "whsec_S2VlcE1lT3V0T2ZGaWxlczAxMjM0NTY3"
OPS = '[[routes]]\nname = "ops"\nhandler = "log"\nevents = ["ops.*"]\n'


def names(server: Any) -> dict[str, str]:
    return {item["name"]: item["source"] for item in server.admin.get("/api/routes").json()["items"]}


def test_apply_prints_the_difference_and_changes_nothing_without_yes(
    server: Any, sink: Sink, tmp_path: Any
) -> None:
    config = write(tmp_path / "routes.toml", PARTNER.format(url=sink.url, secret=SECRET_ONE), OPS)
    dry = CliRunner().invoke(cli, ["routes", "apply", config], env=env_of(server))
    assert dry.exit_code == 0 and dry.output.splitlines()[:2] == ["+ partner", "+ ops"], dry.output
    assert "nothing changed: run again with --yes" in dry.output
    assert names(server) == {"log": "api"}, "nothing changed"

    done = CliRunner().invoke(cli, ["routes", "apply", config, "--yes"], env=env_of(server))
    assert done.exit_code == 0 and names(server) == {"log": "api", "ops": "file", "partner": "file"}
    again = CliRunner().invoke(cli, ["routes", "apply", config, "--yes"], env=env_of(server))
    assert again.output.strip() == "no difference"

    write(tmp_path / "routes.toml", PARTNER.format(url=sink.url, secret=SECRET_TWO))
    changed = CliRunner().invoke(cli, ["routes", "apply", config, "--prune"], env=env_of(server))
    assert changed.output.splitlines()[:2] == ["~ partner: options", "- ops"], changed.output
    kept = CliRunner().invoke(cli, ["routes", "apply", config], env=env_of(server))
    assert kept.output.splitlines()[0] == "~ partner: options" and "- ops" not in kept.output, (
        "no prune asked"
    )


def test_a_file_route_is_the_files_alone(server: Any, sink: Sink, tmp_path: Any) -> None:
    config = write(tmp_path / "routes.toml", PARTNER.format(url=sink.url, secret=SECRET_ONE))
    assert CliRunner().invoke(cli, ["routes", "apply", config, "--yes"], env=env_of(server)).exit_code == 0
    (item,) = [i for i in server.admin.get("/api/routes").json()["items"] if i["name"] == "partner"]
    refused = server.admin.patch("/api/routes/partner", json={"version": item["version"], "events": ["*"]})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "file_route"
    assert config in refused.json()["error"]["message"], "the message names the file"
    assert server.admin.delete("/api/routes/partner").status_code == 409
    removed = CliRunner().invoke(cli, ["routes", "remove", "partner", "--yes"], env=env_of(server))
    assert removed.exit_code == 1 and config in removed.output

    server.admin.post("/api/routes", json={"name": "mine", "handler": "log"})
    clash = write(tmp_path / "clash.toml", '[[routes]]\nname = "mine"\nhandler = "log"\n')
    conflict = CliRunner().invoke(cli, ["routes", "apply", clash, "--yes"], env=env_of(server))
    assert conflict.exit_code == 1 and "mine" in conflict.output and "made over the API" in conflict.output
    assert names(server)["mine"] == "api"


def test_prune_keeps_a_file_route_whose_deliveries_wait(server: Any, sink: Sink, tmp_path: Any) -> None:
    config = write(tmp_path / "routes.toml", OPS, '[[routes]]\nname = "held"\nhandler = "log"\n')
    CliRunner().invoke(cli, ["routes", "apply", config, "--yes"], env=env_of(server))
    server.app.extensions["webhook_app"].routes.refresh()
    server.post_callback(load_fixture("resemble_finished.json"))  # a delivery waits for `held`
    write(tmp_path / "routes.toml", OPS)
    pruned = CliRunner().invoke(cli, ["routes", "apply", config, "--prune", "--yes"], env=env_of(server))
    assert "! held: no longer in the file, kept while 1 deliveries wait" in pruned.output, pruned.output
    assert "held" in names(server)


def test_export_writes_a_file_apply_reads_back_with_no_secret_in_it(
    server: Any, sink: Sink, tmp_path: Any
) -> None:
    server.admin.post(
        "/api/routes",
        json={
            "name": "partner-eu",
            "handler": "forward",
            "where": {"data.status": ["fail*"], "test": False},
            "rate_limit": "5/s",
            "options": {
                "url": sink.url,
                "secret": SECRET_TWO,
                "allow_private_targets": True,
            },
        },
    )
    exported = CliRunner().invoke(cli, ["routes", "export"], env=env_of(server))
    assert exported.exit_code == 0 and SECRET_TWO not in exported.output
    document = tomllib.loads(exported.output)
    partner = next(table for table in document["routes"] if table["name"] == "partner-eu")
    assert partner["options"]["secret"] == "${ROUTE_PARTNER_EU_SECRET}"
    assert partner["where"] == {"data.status": ["fail*"], "test": False} and partner["rate_limit"] == "5/s"
    assert "ROUTE_PARTNER_EU_SECRET" in exported.output.splitlines()[1], "the variables to set are named"


def test_an_install_from_before_routes_were_data_upgrades_with_no_step(
    database_url: str, tmp_path: Any
) -> None:
    """A database at 0011 with a delivery waiting for a file route: after `db upgrade` and a
    start, the file's routes are in the database and the waiting delivery goes out."""
    from datetime import UTC, datetime, timedelta

    from tests.conftest import deliver_due
    from webhook_app.config.settings import load_settings
    from webhook_app.model.routes import Route
    from webhook_app.providers.resemble import callbacks as resemble
    from webhook_app.runtime.dispatch import Dispatcher
    from webhook_app.store import NewReceipt, Store, migrate
    from webhook_app.usecases.ingest import record_events
    from webhook_app.usecases.route_apply import apply_configured_routes
    from webhook_app.usecases.route_book import LiveRoutes, open_route_book

    store = Store.from_url(database_url)
    migrate.upgrade(store.engine, "0011")
    now = datetime.now(UTC)
    receipt = NewReceipt(provider="resemble", received_at=now, body=b"{}", headers={})
    events = resemble.to_events(
        resemble.validate_callback({"id": "v1", "status": "finished"}), receipt_id=receipt.id, received_at=now
    )
    record_events(store, (Route(name="partner", handler="log"),), receipt, events, dedupe_key=None,
                  dedupe_window=timedelta(0))  # fmt: skip
    config = write(tmp_path / "routes.toml", '[[routes]]\nname = "partner"\nhandler = "log"\n')

    migrate.upgrade(store.engine)  # the release step; then a process starts
    settings = load_settings(
        {
            "WEBHOOK_APP_DATABASE_URL": database_url,
            "WEBHOOK_APP_DATA_DIR": str(tmp_path),
            "WEBHOOK_APP_CONFIG": config,
        }
    )
    book = open_route_book(store, settings)
    assert apply_configured_routes(book, settings, now=now).lines() == ["+ partner"]
    assert [(s.name, s.source) for s in book.load().stored] == [("partner", "file")]
    dispatcher = Dispatcher(store, (), {}, follow=LiveRoutes(book), poll_interval=0.05)
    try:
        assert deliver_due(dispatcher) == 1
    finally:
        dispatcher.close()
    assert store.reads.delivery_status_counts() == {"succeeded": 1}
    store.dispose()
