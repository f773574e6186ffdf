"""`webhook-app resemble create-voice` and `build` against a local HTTPS Resemble API v2."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RESEMBLE_TOKENS
from tests.fake_resemble import FakeResemble, resemble_error
from tests.processes import environment, run_cli
from tests.sink import Reply
from webhook_app.resemble_client import ResembleClient, ResembleRequestError

KEY = "test-resemble-key"
CONSENT = bytes(range(256)) * 40 + b"RIFF\x00\x00WAVEfmt "  # every byte value, so the round trip proves it


@pytest.fixture
def fake(tls_certificate: tuple[Path, Path]) -> Iterator[FakeResemble]:
    server = FakeResemble(tls_certificate, key=KEY)
    yield server
    server.close()


@pytest.fixture
def consent(tmp_path: Path) -> Path:
    path = tmp_path / "consent.wav"
    path.write_bytes(CONSENT)
    return path


def env_for(
    server: Any, fake: FakeResemble, tls_certificate: tuple[Path, Path], tmp_path: Path, **more: str
) -> Any:
    settings = {
        "resemble_api_key": KEY,
        "resemble_api_url": fake.api_url,
        "resemble_allowed_hosts": "localhost",
        "resemble_tokens": ",".join(RESEMBLE_TOKENS),
        "public_url": server.url,
    }
    env = environment(
        server.store.engine.url.render_as_string(hide_password=False), tmp_path, **(settings | more)
    )
    env["SSL_CERT_FILE"] = str(tls_certificate[0])
    return env


def test_create_voice_wires_the_callback_and_starts_the_timeline(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    env = env_for(server, fake, tls_certificate, tmp_path)
    created = run_cli(
        ["resemble", "create-voice", "--name", "Chef", "--consent", str(consent), "--voice-type", "rapid",
         "--dataset-url", "https://datasets.example.com/chef.wav", "--build"],
        env, tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    voice_uuid = created.stdout.strip()
    request = next(r for r in fake.requests if r.path == "/api/v2/voices")
    sent = request.json()
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert sent["name"] == "Chef" and sent["voice_type"] == "rapid"
    assert sent["dataset_url"] == "https://datasets.example.com/chef.wav"
    assert base64.b64decode(sent["consent"]) == CONSENT, "the consent file round-trips byte for byte"
    assert sent["callback_uri"] == f"{server.url}/hooks/resemble/{RESEMBLE_TOKENS[0]}"
    assert [r.path for r in fake.requests][-1] == f"/api/v2/voices/{voice_uuid}/build"
    assert "plain http" in created.stderr and "private address" in created.stderr, "warned, not refused"

    assert fake.call_back(voice_uuid).status_code == 202  # Resemble calls the callback_uri it was given
    timeline = server.admin.get(f"/api/voices/resemble/{voice_uuid}").json()
    assert [(e["type"], e["data"]["status"]) for e in timeline["events"]] == [
        ("voice.status.changed", "initializing"),
        ("voice.training.succeeded", "finished"),
    ]
    assert KEY not in created.stdout + created.stderr


def test_build_starts_training(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    env = env_for(server, fake, tls_certificate, tmp_path)
    voice_uuid = run_cli(
        ["resemble", "create-voice", "--name", "A", "--consent", str(consent)], env, tmp_path
    )
    built = run_cli(["resemble", "build", voice_uuid.stdout.strip()], env, tmp_path)
    assert built.returncode == 0 and "queued for training" in built.stdout
    assert fake.voices[voice_uuid.stdout.strip()]["status"] == "training"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            resemble_error(422, "Consent audio could not be decoded"),
            "(422: Consent audio could not be decoded)",
        ),
        (
            resemble_error(429, "Slow down") | {"Retry-After": "30"},
            "limiting requests (429: Slow down); try again in 30 s",
        ),
        (
            resemble_error(503, "Maintenance"),
            "could not create the voice (503: Maintenance); try again later",
        ),
        (Reply(status=502, body=b"<html>bad gateway</html>"), "(502)"),
        (Reply(body=b"not json"), "not JSON"),
    ],
    ids=["422", "429", "5xx", "html 502", "not json"],
)
def test_resemble_errors_are_one_clear_line(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path,
    reply: Reply, expected: str,
) -> None:  # fmt: skip
    fake.scripted.append(reply)
    env = env_for(server, fake, tls_certificate, tmp_path)
    result = run_cli(["resemble", "create-voice", "--name", "A", "--consent", str(consent)], env, tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert expected in line, line


def test_a_wrong_key_is_one_line(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    env = env_for(server, fake, tls_certificate, tmp_path, resemble_api_key="wrong-key")
    result = run_cli(["resemble", "create-voice", "--name", "A", "--consent", str(consent)], env, tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        "Resemble refused the API key (401: Invalid API token); check WEBHOOK_APP_RESEMBLE_API_KEY"
        in result.stderr
    )


@pytest.mark.parametrize(
    ("api_url", "allowed", "expected"),
    [
        ("http://localhost:{port}/api/v2", "localhost", "must be https"),
        ("https://localhost:{port}/api/v2", "", "refusing to send the Resemble API key to localhost"),
        (
            "https://evil.example.com/api/v2",
            "localhost",
            "refusing to send the Resemble API key to evil.example.com",
        ),
    ],
)
def test_the_key_goes_only_over_https_to_allowed_hosts(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path,
    api_url: str, allowed: str, expected: str,
) -> None:  # fmt: skip
    env = env_for(server, fake, tls_certificate, tmp_path)
    env["WEBHOOK_APP_RESEMBLE_API_URL"] = api_url.format(port=fake.port)
    env["WEBHOOK_APP_RESEMBLE_ALLOWED_HOSTS"] = allowed
    result = run_cli(["resemble", "create-voice", "--name", "A", "--consent", str(consent)], env, tmp_path)
    assert result.returncode == 1 and expected in result.stderr and "Traceback" not in result.stderr
    assert fake.requests == [], "nothing was sent anywhere"


def test_without_public_url_it_refuses_with_one_line(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    env = env_for(server, fake, tls_certificate, tmp_path)
    del env["WEBHOOK_APP_PUBLIC_URL"]
    result = run_cli(["resemble", "create-voice", "--name", "A", "--consent", str(consent)], env, tmp_path)
    assert (
        result.returncode == 1
        and "WEBHOOK_APP_PUBLIC_URL" in result.stderr
        and "Traceback" not in result.stderr
    )
    assert fake.requests == []
    given = run_cli(
        ["resemble", "create-voice", "--name", "A", "--consent", str(consent), "--callback-url",
         f"{server.url}/hooks/resemble/{RESEMBLE_TOKENS[1]}"],
        env, tmp_path,
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert fake.requests[-1].json()["callback_uri"].endswith(RESEMBLE_TOKENS[1])


def test_a_resemble_that_does_not_answer_in_time_is_one_sentence(
    fake: FakeResemble, tls_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_certificate[0]))
    fake.scripted.append(Reply(delay=3.0))
    client = ResembleClient(KEY, fake.api_url, ("localhost",), timeout=1)
    try:
        with pytest.raises(ResembleRequestError, match="Resemble did not answer in time"):
            client.build("voice-1")
    finally:
        client.close()
