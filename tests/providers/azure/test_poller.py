"""Azure personal voice against a local fake Azure: tracking, polite polling, event mapping, key safety."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import deliver_due, with_routes
from tests.fake_azure import PREVIEW, FakeAzure, azure_error
from tests.sink import Reply, Sink
from webhook_app.cli import cli
from webhook_app.config.plugins import build_handlers
from webhook_app.model.routes import Route
from webhook_app.providers.azure.client import AzureClient
from webhook_app.providers.azure.operations import NewOperation, OperationStore
from webhook_app.providers.azure.poller import AzurePoller
from webhook_app.providers.azure.settings import AzureSettings
from webhook_app.runtime.dispatch import Dispatcher
from webhook_app.runtime.worker import Worker
from webhook_app.usecases.ingest import Ingest

KEY = "test-azure-key"
START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # in the past, so deliveries it plans are due


class FakeClock:
    def __init__(self) -> None:
        self.moment = START

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def azure(tls_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate[0]))  # our test CA, as a private CA would be
    fake = FakeAzure(tls_certificate, key=KEY)
    yield fake
    fake.close()


@pytest.fixture
def azure_settings(settings: Any) -> Any:
    return with_azure(
        settings,
        speech_key=KEY,
        allowed_hosts="localhost",
        poll_interval=0.5,
        poll_max_interval=4.0,
        max_age=3600.0,
    )


def with_azure(settings: Any, **values: Any) -> Any:
    """`settings` with Azure's own settings (`azure_<name>`) changed."""
    changed = {f"azure_{name}": value for name, value in values.items()}
    return replace(settings, provider_values={**settings.provider_values, **changed})


class Harness:
    """The web app (for tracking and queries) and a poller on a fake clock, sharing one database."""

    def __init__(self, settings: Any, make_server_for: Any, timeout: float = 2.0) -> None:
        self.server = make_server_for(settings)
        self.clock = FakeClock()
        azure = AzureSettings.read(settings)
        self.poller = AzurePoller(
            self.server.store,
            Ingest(
                self.server.store,
                lambda: settings.routes,
                dedupe_window=timedelta(seconds=settings.dedupe_window),
                clock=self.clock,
            ),
            settings,
            clock=self.clock,
            client=AzureClient(azure.speech_key, azure.allowed_hosts, timeout=timeout),
            jitter=lambda: 0.5,
        )
        self.operations = OperationStore(self.server.store)

    def track(
        self, url: str, kind: str = "personal_voice", resource_id: str = "Jessica-PersonalVoice"
    ) -> dict[str, Any]:
        response = self.server.admin.post(
            "/api/azure/operations", json={"operation_url": url, "kind": kind, "resource_id": resource_id}
        )
        assert response.status_code == 201, response.text
        # Tracking happened at the wall-clock time; move it to the fake clock's start.
        with self.server.store.engine.begin() as conn:
            from webhook_app.providers.azure.tables import azure_operations

            conn.execute(
                azure_operations.update()
                .where(azure_operations.c.id == response.json()["id"])
                .values(created_at=START, next_poll_at=START + timedelta(seconds=0.5))
            )
        return dict(response.json())

    def operation(self, operation_id: str) -> dict[str, Any]:
        return dict(self.server.admin.get(f"/api/azure/operations/{operation_id}").json())

    def poll_when_due(self, operation_id: str) -> int:
        due = datetime.fromisoformat(self.operation(operation_id)["next_poll_at"].replace("Z", "+00:00"))
        self.clock.moment = max(self.clock.moment, due)
        return self.poller.run_once()

    def events(self, voice_id: str = "Jessica-PersonalVoice") -> list[dict[str, Any]]:
        response = self.server.admin.get(f"/api/voices/azure/{voice_id}")
        return list(response.json()["events"]) if response.status_code == 200 else []


@pytest.fixture
def harness(azure_settings: Any, make_server_for: Any, azure: FakeAzure) -> Any:
    h = Harness(azure_settings, make_server_for)
    yield h
    h.poller.close()


def test_not_started_running_succeeded_gives_one_event_per_change(harness: Harness, azure: FakeAzure) -> None:
    from tests.telemetry.test_metrics import scrape, value

    before = scrape(harness.server.url)
    url = azure.add_operation("personal_voice", "Jessica-PersonalVoice")
    op = harness.track(url)
    assert op["status"] == "NotStarted" and op["state"] == "active" and op["attempts"] == 0
    assert harness.poller.run_once() == 0, "the first poll waits for the poll interval"

    assert harness.poll_when_due(op["id"]) == 1  # still NotStarted: no event
    assert harness.events() == []
    azure.set_status(url, "Running")
    harness.poll_when_due(op["id"])
    harness.poll_when_due(op["id"])  # Running again: nothing new
    azure.set_status(url, "Succeeded")
    harness.poll_when_due(op["id"])

    events = harness.events()
    assert [(e["type"], e["data"]["status"]) for e in events] == [
        ("voice.status.changed", "Running"),
        ("voice.training.succeeded", "Succeeded"),
    ]
    succeeded = events[1]["data"]
    assert succeeded["speaker_profile_id"] == azure.resource_of(url)["speakerProfileId"]
    assert succeeded["operation_id"] == op["operation_id"] and succeeded["ok"] is True
    assert harness.operation(op["id"])["state"] == "finished"
    harness.clock.advance(86400)
    assert harness.poller.run_once() == 0, "a finished operation is not polled again"
    voice = harness.server.admin.get("/api/voices/azure/Jessica-PersonalVoice").json()
    assert voice["status"] == "Succeeded" and voice["provider"] == "azure"
    after = scrape(harness.server.url)
    polls = "webhook_app_azure_polls_total"
    assert value(after, polls, outcome="changed") - value(before, polls, outcome="changed") == 2
    assert value(after, polls, outcome="unchanged") - value(before, polls, outcome="unchanged") == 2
    assert value(after, "webhook_app_azure_operations", state="finished") == 1
    # Every call carried the key; the resource was read at the operation's origin and api-version.
    assert all(r.headers["Ocp-Apim-Subscription-Key"] == KEY for r in azure.requests)
    (resource_read,) = azure.gets("personalvoices")
    assert resource_read.path == "/customvoice/personalvoices/Jessica-PersonalVoice?api-version=2026-01-01"


def test_an_operation_created_at_the_preview_is_read_at_the_preview(
    harness: Harness, azure: FakeAzure
) -> None:
    """Polling keeps the version the Operation-Location carries, whatever creates use now."""
    url = azure.add_operation("personal_voice", "Old-Voice", api_version=PREVIEW)
    op = harness.track(url, resource_id="Old-Voice")
    azure.set_status(url, "Succeeded")
    harness.poll_when_due(op["id"])
    assert {r.path.split("api-version=")[1] for r in azure.requests} == {PREVIEW}
    assert harness.events("Old-Voice")[0]["type"] == "voice.training.succeeded"


@pytest.mark.parametrize(
    ("kind", "status", "reason", "event_type"),
    [
        ("personal_voice", "Failed", "SpeakerVerificationFailed", "voice.consent.failed"),
        ("personal_voice", "Failed", "InaccessibleCustomerStorage", "voice.dataset.issue"),
        ("personal_voice", "Failed", "DataNotReady", "voice.dataset.issue"),
        ("personal_voice", "Failed", "DataNotEnough", "voice.dataset.issue"),
        ("personal_voice", "Failed", "TerminateByUser", "voice.training.failed"),
        ("personal_voice", "Failed", "Internal", "voice.training.failed"),
        ("personal_voice", "Failed", None, "voice.training.failed"),
        ("personal_voice", "Failed", "SomeFutureReason", "voice.training.failed"),
        ("consent", "Failed", "AudioAndScriptNotMatch", "voice.consent.failed"),
        ("consent", "Failed", "Internal", "voice.consent.failed"),
        ("consent", "Succeeded", None, "voice.status.changed"),
        ("personal_voice", "Disabling", None, "voice.status.changed"),
    ],
)
def test_terminal_and_other_statuses_map_to_event_types(
    harness: Harness, azure: FakeAzure, kind: str, status: str, reason: str | None, event_type: str
) -> None:
    url = azure.add_operation(kind, "Jessica")
    op = harness.track(url, kind=kind, resource_id="Jessica")
    azure.set_status(url, status, reason)
    harness.poll_when_due(op["id"])
    (event,) = harness.events("Jessica")
    assert event["type"] == event_type and event["data"]["status"] == status
    if status == "Failed":
        assert event["data"]["error"]["code"] == (reason or "Unknown")
        assert event["data"]["issue"] and event["data"]["ok"] is False
        assert event["data"]["issue"] == ADVICE.get(reason or "", event["data"]["issue"])
    else:
        assert event["data"]["error"] is None


ADVICE = {
    "DataNotReady": "The training data is not ready: let the audio finish uploading into the container, "
    "then create the personal voice again.",
    "DataNotEnough": "The training data is not enough: add audio to the container (Azure's personal voice "
    "requirements say how much), then create the personal voice again.",
}


def test_inaccessible_customer_storage_points_at_the_speech_resources_own_storage(
    harness: Harness, azure: FakeAzure
) -> None:
    """Was: "check the audio container's URL and SAS token", which is not what Azure means."""
    url = azure.add_operation("personal_voice", "Jessica")
    op = harness.track(url, resource_id="Jessica")
    azure.set_status(url, "Failed", "InaccessibleCustomerStorage")
    harness.poll_when_due(op["id"])
    (event,) = harness.events("Jessica")
    issue = event["data"]["issue"]
    assert "storage account linked to the Speech resource" in issue and "bring your own storage" in issue
    assert "SAS" not in issue and "audio container" not in issue


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_429_retry_after_is_honoured(harness: Harness, azure: FakeAzure, form: str) -> None:
    url = azure.add_operation("personal_voice", "Jessica-PersonalVoice")
    op = harness.track(url)
    harness.clock.advance(0.5)
    # HTTP dates have whole seconds: 12:00:03 is 2.5 s after the poll at 12:00:00.5.
    header = "2" if form == "seconds" else format_datetime(START + timedelta(seconds=3), usegmt=True)
    due_after = 2.0 if form == "seconds" else 2.5
    azure.scripted.append(azure_error(429, "TooManyRequests", "Slow down.") | {"Retry-After": header})
    assert harness.poller.run_once() == 1
    polls = len(azure.gets())
    harness.clock.advance(due_after - 0.1)
    assert harness.poller.run_once() == 0 and len(azure.gets()) == polls, "no poll before Retry-After"
    harness.clock.advance(0.1)
    assert harness.poller.run_once() == 1
    assert "TooManyRequests" not in (harness.operation(op["id"])["last_error"] or "")


def test_server_errors_and_timeouts_back_off_and_recover(
    azure_settings: Any, make_server_for: Any, azure: FakeAzure
) -> None:
    harness = Harness(azure_settings, make_server_for, timeout=0.3)
    url = azure.add_operation("personal_voice", "Jessica-PersonalVoice")
    op = harness.track(url)
    delays = []
    for reply in (
        azure_error(503, "ServiceUnavailable", "Busy."),
        Reply(delay=1.0),
        azure_error(500, "InternalServerError", "Oops."),
    ):
        azure.scripted.append(reply)
        harness.poll_when_due(op["id"])  # the poll happens at the clock's new time
        state = harness.operation(op["id"])
        assert state["state"] == "active" and state["last_error"]
        next_poll = datetime.fromisoformat(state["next_poll_at"].replace("Z", "+00:00"))
        delays.append((next_poll - harness.clock.now()).total_seconds())
    assert delays == [1.0, 2.0, 4.0], "doubling from the 0.5 s interval, capped at the 4 s maximum"
    azure.set_status(url, "Running")
    harness.poll_when_due(op["id"])
    assert harness.operation(op["id"])["last_error"] is None
    assert [e["data"]["status"] for e in harness.events()] == ["Running"]
    harness.poller.close()


def test_401_stops_with_a_clear_error_until_tracked_again(
    azure_settings: Any, make_server_for: Any, azure: FakeAzure
) -> None:
    oncall = Route(name="oncall", handler="log", events=("ops.*",))
    settings = with_routes(with_azure(azure_settings, speech_key="wrong-key"), oncall)
    harness = Harness(settings, make_server_for)
    url = azure.add_operation("personal_voice", "Jessica-PersonalVoice")
    op = harness.track(url)
    harness.poll_when_due(op["id"])
    stopped = harness.operation(op["id"])
    assert stopped["state"] == "error" and stopped["next_poll_at"] is None
    assert (
        "401 Unauthorized" in stopped["last_error"]
        and "WEBHOOK_APP_AZURE_SPEECH_KEY" in stopped["last_error"]
    )
    listed = harness.server.admin.get("/api/events", params={"type": "ops.azure.unauthorized"})
    (told,) = listed.json()["items"]
    assert told["subject"] == stopped["operation_id"] and told["source"] == "/webhook-app"
    assert told["data"] == {
        "provider": "webhook-app",
        "operation_id": stopped["operation_id"],
        "resource_id": "Jessica-PersonalVoice",
        "status_code": 401,
    }
    assert told["delivery_counts"]["pending"] == 1, "routed to the ops route with the stop itself"
    harness.clock.advance(3600)
    assert harness.poller.run_once() == 0
    again = harness.server.admin.post(
        "/api/azure/operations",
        json={"operation_url": url, "kind": "personal_voice", "resource_id": "Jessica-PersonalVoice"},
    )
    assert again.status_code == 200 and again.json()["state"] == "active" and again.json()["id"] == op["id"]
    harness.poller.close()


def test_max_age_ends_tracking_with_a_stalled_event(
    azure_settings: Any, make_server_for: Any, azure: FakeAzure
) -> None:
    harness = Harness(with_azure(azure_settings, max_age=60.0), make_server_for)
    url = azure.add_operation("personal_voice", "Jessica-PersonalVoice")
    op = harness.track(url)
    harness.clock.advance(61)
    polls = len(azure.gets())
    assert harness.poller.run_once() == 1
    assert len(azure.gets()) == polls, "no request for an operation already too old"
    (event,) = harness.events()
    assert event["type"] == "voice.operation.stalled" and "did not finish within" in event["data"]["issue"]
    assert harness.operation(op["id"])["state"] == "stalled"
    harness.poller.close()


def test_an_operation_azure_no_longer_knows_is_stalled(harness: Harness, azure: FakeAzure) -> None:
    url = azure.add_operation("consent", "Jessica")
    op = harness.track(url, kind="consent", resource_id="Jessica")
    azure.operations.clear()
    harness.poll_when_due(op["id"])
    (event,) = harness.events("Jessica")
    assert event["type"] == "voice.operation.stalled" and "NotFound" in event["data"]["issue"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://evil.example.com/customvoice/operations/abc?api-version=2023-12-01-preview",
            "not an Azure Speech host",
        ),
        (
            "http://localhost:1/customvoice/operations/abc?api-version=2023-12-01-preview",
            "must be an https URL",
        ),
        (
            "https://eastus.api.cognitive.microsoft.com.evil.example/customvoice/operations/abc",
            "not an Azure Speech host",
        ),
        (
            "https://user:pw@eastus.api.cognitive.microsoft.com/customvoice/operations/abc",
            "must not carry credentials",
        ),
        ("https://eastus.api.cognitive.microsoft.com/somewhere/else", "must look like"),
    ],
)
def test_off_list_or_odd_urls_are_refused_with_422(harness: Harness, url: str, message: str) -> None:
    response = harness.server.admin.post(
        "/api/azure/operations",
        json={"operation_url": url, "kind": "personal_voice", "resource_id": "Jessica-PersonalVoice"},
    )
    assert response.status_code == 422 and message in response.json()["error"]["message"]


def test_the_key_never_reaches_a_host_off_the_list(harness: Harness, azure: FakeAzure) -> None:
    off_list = azure.operation_url("abc", host="127.0.0.1")  # the same server, under a name not allowed
    response = harness.server.admin.post(
        "/api/azure/operations",
        json={"operation_url": off_list, "kind": "personal_voice", "resource_id": "Jessica-PersonalVoice"},
    )
    assert response.status_code == 422
    # Even if such a row got in (say the allow-list shrank since), the poller refuses to send the key.
    new = NewOperation(
        operation_url=off_list,
        operation_id="abc",
        kind="personal_voice",
        resource_id="Jessica-PersonalVoice",
        interval_seconds=0,
    )
    tracked, _ = harness.operations.track(new, now=START, limit=10)
    harness.poller.run_once()
    assert azure.requests == []
    assert "refusing to send the Azure key" in harness.operations.get(tracked.id).last_error


def test_azure_events_flow_through_the_same_routes_and_handlers(
    azure_settings: Any, make_server_for: Any, azure: FakeAzure, sink: Sink
) -> None:
    routes = (
        Route(
            name="azure-sink",
            handler="tests.sink_handlers:SinkHandler",
            providers=("azure",),
            options={"url": sink.url},
        ),
    )
    settings = with_routes(azure_settings, *routes)
    harness = Harness(settings, make_server_for)
    url = azure.add_operation("personal_voice", "Jessica-PersonalVoice")
    op = harness.track(url)
    azure.set_status(url, "Succeeded")
    harness.poll_when_due(op["id"])
    resemble = harness.server.post_callback({"id": "Jessica-PersonalVoice", "status": "finished"})
    assert resemble.status_code == 202
    deliver_due(Dispatcher(harness.server.store, routes, build_handlers(routes, "test")))
    (delivered,) = sink.requests
    assert (
        delivered.json()["type"] == "voice.training.succeeded"
        and delivered.json()["data"]["provider"] == "azure"
    )
    azure_voice = harness.server.admin.get("/api/voices/azure/Jessica-PersonalVoice").json()
    resemble_voice = harness.server.admin.get("/api/voices/resemble/Jessica-PersonalVoice").json()
    assert set(azure_voice) == set(resemble_voice)
    assert set(azure_voice["events"][0]) == set(resemble_voice["events"][0])
    assert set(azure_voice["events"][0]["data"]) == set(resemble_voice["events"][0]["data"])
    harness.poller.close()


def test_create_personal_voice_then_track_from_the_cli(
    azure_settings: Any, azure: FakeAzure, store: Any
) -> None:
    env = {
        "WEBHOOK_APP_DATABASE_URL": azure_settings.database_url,
        "WEBHOOK_APP_DATA_DIR": azure_settings.data_dir,
        "WEBHOOK_APP_AZURE_SPEECH_KEY": KEY,
        "WEBHOOK_APP_AZURE_ALLOWED_HOSTS": "localhost",
        "WEBHOOK_APP_AZURE_ENDPOINT": azure.endpoint,
    }
    args = [
        "azure",
        "create-personal-voice",
        "--voice-id",
        "JessicaPersonalVoiceId",
        "--project-id",
        "JessicaProjectId",
        "--consent-id",
        "JessicaConsentId",
        "--container-url",
        "https://contoso.blob.core.windows.net/voicecontainer?mySasToken",
        "--prefix",
        "jessica/",
        "--extension",
        "*.wav",
    ]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert "tracking op_" in result.output
    (put,) = [r for r in azure.requests if r.method == "PUT"]
    assert put.path == "/customvoice/personalvoices/JessicaPersonalVoiceId?api-version=2026-01-01"
    assert put.json() == {
        "projectId": "JessicaProjectId",
        "consentId": "JessicaConsentId",
        "audios": {
            "containerUrl": "https://contoso.blob.core.windows.net/voicecontainer?mySasToken",
            "prefix": "jessica/",
            "extensions": [".wav"],  # given as *.wav (the preview's form), sent as the GA spells it
        },
    }
    assert put.headers["Operation-Id"]
    (tracked,) = OperationStore(store).recent(state="active", limit=5)
    assert tracked.resource_id == "JessicaPersonalVoiceId" and tracked.kind == "personal_voice"

    consent = CliRunner().invoke(
        cli,
        [
            "azure",
            "create-consent",
            "--consent-id",
            "Jessica",
            "--project-id",
            "P",
            "--voice-talent-name",
            "Jessica Smith",
            "--company-name",
            "Contoso",
            "--audio-url",
            "https://contoso.blob.core.windows.net/consent.wav",
            "--locale",
            "en-US",
        ],
        env=env,
    )
    assert consent.exit_code == 0, consent.output
    listing = CliRunner().invoke(cli, ["azure", "operations"], env=env)
    assert "JessicaPersonalVoiceId" in listing.output and "consent" in listing.output


def test_azure_refusal_is_shown_as_its_own_message(azure_settings: Any, azure: FakeAzure, store: Any) -> None:
    env = {
        "WEBHOOK_APP_DATABASE_URL": azure_settings.database_url,
        "WEBHOOK_APP_AZURE_SPEECH_KEY": KEY,
        "WEBHOOK_APP_AZURE_ALLOWED_HOSTS": "localhost",
    }
    azure.scripted.append(azure_error(400, "BadRequest", "The consent Jessica does not exist."))
    result = CliRunner().invoke(
        cli,
        [
            "azure",
            "create-personal-voice",
            "--endpoint",
            azure.endpoint,
            "--voice-id",
            "Jessica-Voice",
            "--project-id",
            "p",
            "--consent-id",
            "Jessica",
            "--container-url",
            "https://contoso.blob.core.windows.net/c?sas",
        ],
        env=env,
    )
    assert result.exit_code == 1
    assert "Azure answered 400 BadRequest: The consent Jessica does not exist." in result.output
    wrong_host = CliRunner().invoke(
        cli,
        [
            "azure",
            "create-consent",
            "--endpoint",
            "https://example.com",
            "--consent-id",
            "Jessica",
            "--project-id",
            "p",
            "--voice-talent-name",
            "J",
            "--company-name",
            "C",
            "--audio-url",
            "https://x/a.wav",
            "--locale",
            "en-US",
        ],
        env=env,
    )
    assert (
        wrong_host.exit_code == 1
        and "refusing to send the Azure key to https://example.com" in wrong_host.output
    )


@pytest.mark.slow
def test_idle_poller_sleeps_until_the_next_operation_is_due(harness: Harness, azure: FakeAzure) -> None:
    import threading

    for n in range(1000):
        new = NewOperation(
            operation_url=azure.operation_url(f"op-{n:04d}"),
            operation_id=f"op-{n:04d}",
            kind="consent",
            resource_id=f"c{n}",
            interval_seconds=3600,
        )
        harness.operations.track(new, now=datetime.now(UTC), limit=1000)
    harness.poller.clock = type("Wall", (), {"now": staticmethod(lambda: datetime.now(UTC))})()
    claims = []
    original = harness.operations.claim_due

    def counting(**kwargs: Any) -> Any:
        claims.append(kwargs["now"])
        return original(**kwargs)

    harness.poller.operations.claim_due = counting  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=Worker([harness.poller]).run, args=(stop,))
    thread.start()
    stop.wait(2.5)
    stop.set()
    thread.join(10)
    assert 1 <= len(claims) <= 2, f"{len(claims)} claims in 2.5 s with nothing due"
    assert azure.requests == []


@pytest.mark.slow
def test_worker_killed_mid_poll_and_restarted_neither_doubles_nor_misses_a_transition(
    database_url: str, tmp_path: Path, azure: FakeAzure, tls_certificate: tuple[Path, Path]
) -> None:
    from tests.conftest import wait_until
    from tests.processes import Process, environment
    from webhook_app.store import Store, migrate

    store = Store.from_url(database_url)
    migrate.upgrade(store.engine)
    url = azure.add_operation("personal_voice", "Jessica-PersonalVoice")
    new = NewOperation(
        operation_url=url,
        operation_id=url.split("/")[-1].split("?")[0],
        kind="personal_voice",
        resource_id="Jessica-PersonalVoice",
        interval_seconds=0.2,
    )
    OperationStore(store).track(new, now=datetime.now(UTC), limit=10)
    env = environment(
        database_url,
        tmp_path,
        azure_speech_key=KEY,
        azure_allowed_hosts="localhost",
        azure_poll_interval="0.2",
        azure_poll_max_interval="1",
        lease_seconds="1",
    )
    env["SSL_CERT_FILE"] = str(tls_certificate[0])

    def events() -> list[tuple[str, str]]:
        from webhook_app.store import EventFilters

        items, _ = store.reads.list_events(EventFilters(provider="azure"), limit=50)
        return [(e["type"], e["data"]["status"]) for e in reversed(items)]

    azure.set_status(url, "Running")
    azure.release.clear()  # the next poll hangs inside Azure
    first = Process(["worker"], env, tmp_path)
    try:
        assert azure.arrived.wait(20), first.output
        first.kill()  # mid-poll: Azure said nothing yet, nothing was committed
    finally:
        first.close()
    azure.release.set()
    assert events() == []

    second = Process(["worker"], env, tmp_path)
    try:
        wait_until(lambda: events() == [("voice.status.changed", "Running")], timeout=20)
        azure.set_status(url, "Succeeded")
        wait_until(lambda: len(events()) == 2, timeout=20)
        assert second.terminate() == 0
    finally:
        second.close()
        store.dispose()
    assert events() == [("voice.status.changed", "Running"), ("voice.training.succeeded", "Succeeded")]


def _json(body: Any, **headers: str) -> Reply:
    return Reply(body=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers})


ODD_ANSWERS = {
    "Retry-After as an RFC 850 date": azure_error(429, "TooManyRequests", "Slow down.")
    | {"Retry-After": "Sunday, 06-Nov-94 08:49:37 GMT"},
    "Retry-After as an asctime date (no zone)": azure_error(503, "Busy", "Busy.")
    | {"Retry-After": "Sun Nov  6 08:49:37 2094"},
    "an absurd Retry-After": azure_error(429, "TooManyRequests", "Slow down.")
    | {"Retry-After": "99999999999999999999"},
    "an absurd Retry-After on a change": _json({"status": "Running"}, **{"Retry-After": "9" * 30}),
    "a status longer than its column": _json({"status": "Running" * 40}),
    "a status with NUL": _json({"status": "Run\u0000ning"}),
    "a status that is not a string": _json({"status": {"nested": ["Running"]}}),
    "a JSON list": _json(["Running"]),
    "HTML": Reply(body=b"<html>gateway</html>", headers={"Content-Type": "text/html"}),
    "a JSON string with the wrong type": Reply(body=b'"Running"', headers={"Content-Type": "text/plain"}),
}


@pytest.mark.parametrize("answer", ODD_ANSWERS.values(), ids=ODD_ANSWERS.keys())
def test_odd_answers_give_a_sane_next_poll_and_never_stop_the_others(
    harness: Harness, azure: FakeAzure, answer: Reply
) -> None:
    """Was: a date form other than RFC 1123, a huge Retry-After, or a status longer than the
    column (PostgreSQL) crashed every poll of the operation until its max age."""
    odd_url = azure.add_operation("personal_voice", "Jessica-PersonalVoice")
    odd = harness.track(odd_url)
    harness.clock.advance(0.5)
    azure.scripted.append(answer)
    assert harness.poller.run_once() == 1
    state = harness.operation(odd["id"])
    assert state["state"] == "active"
    next_poll = datetime.fromisoformat(state["next_poll_at"].replace("Z", "+00:00"))
    wait = (next_poll - harness.clock.now()).total_seconds()
    assert 0 < wait <= harness.poller.azure.poll_max_interval, wait
    assert state["status"] in ("NotStarted", "Running")
    if state["status"] == "NotStarted":
        assert state["last_error"], "a refused answer says why"
    other_url = azure.add_operation("consent", "Other-Consent")
    other = harness.track(other_url, kind="consent", resource_id="Other-Consent")
    azure.set_status(other_url, "Running")
    harness.poll_when_due(other["id"])
    assert [e["data"]["status"] for e in harness.events("Other-Consent")] == ["Running"]
    azure.set_status(odd_url, "Succeeded")
    harness.poll_when_due(odd["id"])
    assert harness.events()[-1]["type"] == "voice.training.succeeded", "the operation recovers"


def test_an_odd_resource_still_gives_its_event(harness: Harness, azure: FakeAzure) -> None:
    url = azure.add_operation("personal_voice", "Jessica-PersonalVoice")
    op = harness.track(url)
    resource = azure.resource_of(url)
    resource["speakerProfileId"] = "x\u0000" * 300
    resource["properties"] = {"failureReason": {"not": "a word"}}
    azure.set_status(url, "Succeeded")
    resource["status"] = "Succeeded"
    harness.poll_when_due(op["id"])
    (event,) = harness.events()
    assert event["type"] == "voice.training.succeeded"
    assert event["data"]["speaker_profile_id"] is None


def test_an_azure_error_holding_nul_is_kept_with_the_operation(harness: Harness, azure: FakeAzure) -> None:
    """Was: on PostgreSQL the NUL made the write fail, and `last_error` said only "see the log"."""
    op = harness.track(azure.add_operation("personal_voice", "Jessica-PersonalVoice"))
    harness.clock.advance(0.5)
    body = json.dumps({"error": {"code": "Busy", "message": "Busy\u0000 now."}}).encode()
    azure.scripted.append(Reply(status=503, body=body))
    assert harness.poller.run_once() == 1
    state = harness.operation(op["id"])
    assert state["last_error"] == "Azure answered 503 Busy: Busy\ufffd now." and state["state"] == "active"
    harness.poller.close()


@pytest.mark.parametrize(
    ("api_version", "given", "sent"),
    [
        ("2026-01-01", ".wav", ".wav"),
        ("2023-12-01-preview", ".wav", "*.wav"),
        ("2023-12-01-preview", "*.wav", "*.wav"),
    ],
)
def test_creates_use_the_configured_api_version_and_its_extension_form(
    azure_settings: Any, azure: FakeAzure, store: Any, api_version: str, given: str, sent: str
) -> None:
    env = {
        "WEBHOOK_APP_DATABASE_URL": azure_settings.database_url,
        "WEBHOOK_APP_DATA_DIR": azure_settings.data_dir,
        "WEBHOOK_APP_AZURE_SPEECH_KEY": KEY,
        "WEBHOOK_APP_AZURE_ALLOWED_HOSTS": "localhost",
        "WEBHOOK_APP_AZURE_ENDPOINT": azure.endpoint,
        "WEBHOOK_APP_AZURE_API_VERSION": api_version,
    }
    args = ["azure", "create-personal-voice", "--voice-id", "Voice-1", "--project-id", "P",
            "--consent-id", "C", "--container-url", "https://contoso.blob.core.windows.net/c?sas",
            "--extension", given]  # fmt: skip
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    (put,) = [r for r in azure.requests if r.method == "PUT"]
    assert put.path.endswith(f"?api-version={api_version}") and put.json()["audios"]["extensions"] == [sent]
    (tracked,) = OperationStore(store).recent(state="active", limit=5)
    assert tracked.operation_url.endswith(f"?api-version={api_version}")


def test_a_malformed_api_version_setting_is_refused(tmp_path: Any) -> None:
    result = CliRunner().invoke(
        cli,
        ["azure", "operations"],
        env={"WEBHOOK_APP_AZURE_API_VERSION": "latest", "WEBHOOK_APP_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code != 0 and "WEBHOOK_APP_AZURE_API_VERSION" in result.output
    assert "not an Azure api-version such as 2026-01-01" in result.output


def test_tracking_without_a_speech_key_is_refused_at_once(settings: Any, make_server_for: Any) -> None:
    """Was: accepted, then failed at the first poll."""
    server = make_server_for(replace(settings, provider_values={}))
    url = "https://eastus.api.cognitive.microsoft.com/customvoice/operations/op-1?api-version=2026-01-01"
    answer = server.admin.post(
        "/api/azure/operations", json={"operation_url": url, "kind": "consent", "resource_id": "Jessica"}
    )
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "azure_key_missing"
    assert "WEBHOOK_APP_AZURE_SPEECH_KEY is not set" in answer.json()["error"]["message"]
    env = {"WEBHOOK_APP_DATABASE_URL": settings.database_url, "WEBHOOK_APP_DATA_DIR": settings.data_dir}
    result = CliRunner().invoke(
        cli, ["azure", "track", url, "--kind", "consent", "--resource-id", "Jessica"], env=env
    )
    assert result.exit_code == 1 and "WEBHOOK_APP_AZURE_SPEECH_KEY is not set" in result.output
    assert OperationStore(server.store).recent(state=None, limit=5) == []
