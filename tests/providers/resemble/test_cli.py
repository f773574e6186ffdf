"""`webhook-app resemble create-voice` and `build` against a local HTTPS Resemble API v2."""

from __future__ import annotations

import base64
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RESEMBLE_TOKENS
from tests.fake_resemble import FakeResemble, resemble_error, resemble_refusal
from tests.processes import environment, run_cli
from tests.sink import Reply
from webhook_app.providers.resemble.client import ResembleClient, ResembleRequestError

pytestmark = pytest.mark.slow  # real processes, a browser or a drill

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


def test_build_starts_training_once_the_voice_has_its_recordings(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    env = env_for(server, fake, tls_certificate, tmp_path)
    voice_uuid = run_cli(
        ["resemble", "create-voice", "--name", "A", "--consent", str(consent)], env, tmp_path
    ).stdout.strip()
    refused = run_cli(["resemble", "build", voice_uuid], env, tmp_path)
    assert refused.returncode == 1
    assert "a professional voice needs at least 20 recordings before it is built" in refused.stderr
    assert f"{voice_uuid} has 0: upload 20 more" in refused.stderr
    assert not any(r.path.endswith("/build") for r in fake.requests)
    built = run_cli(["resemble", "build", voice_uuid, "--force"], env, tmp_path)
    assert built.returncode == 0 and "queued for training" in built.stdout
    assert fake.voices[voice_uuid]["status"] == "training"


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
        (Reply(body=b"not json"), "not a JSON object"),
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


REFUSED_ITEM = {"uuid": "5f1d-refused-voice", "name": "A", "status": "consent_failed"}


def test_a_200_with_success_false_is_a_refusal_and_the_voice_it_made_is_recorded_as_such(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    """Was: the uuid printed, a creation recorded as a success, and exit 0."""
    fake.scripted.append(
        resemble_refusal(
            200, {"success": False, "message": "Consent could not be validated", "item": REFUSED_ITEM}
        )
    )
    env = env_for(server, fake, tls_certificate, tmp_path)
    result = run_cli(["resemble", "create-voice", "--name", "A", "--consent", str(consent)], env, tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert "Consent could not be validated" in line
    assert "the voice exists all the same: 5f1d-refused-voice, status consent_failed" in line
    (event,) = server.admin.get("/api/voices/resemble/5f1d-refused-voice").json()["events"]
    assert event["type"] == "voice.status.changed" and event["data"]["status"] == "consent_failed"
    assert event["data"]["ok"] is False and "Consent could not be validated" in event["data"]["issue"]


def test_a_build_answered_with_success_false_fails(
    server: Any, fake: FakeResemble, tls_certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    """Was: "training started" and exit 0."""
    fake.scripted.append(resemble_refusal(200, {"success": False, "message": "Voice has no recordings"}))
    env = env_for(server, fake, tls_certificate, tmp_path)
    result = run_cli(["resemble", "build", "voice-1", "--force"], env, tmp_path)
    assert result.returncode == 1 and "Voice has no recordings" in result.stderr
    assert "training started" not in result.stdout


@pytest.mark.parametrize(
    ("errors", "shown"),
    [
        (["Name is too long", "Consent is not a WAV file"], "Name is too long; Consent is not a WAV file"),
        ([{"field": "name", "message": "is taken"}], "name: is taken"),
        ({"dataset_url": ["is not reachable"]}, "dataset_url: is not reachable"),
    ],
    ids=["strings", "objects", "map"],
)
def test_every_validation_error_is_shown(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path,
    errors: Any, shown: str,
) -> None:  # fmt: skip
    """Was: only "Validation failed"."""
    body = {"success": False, "error": "Validation failed", "validation_errors": errors}
    fake.scripted.append(resemble_refusal(422, body))
    env = env_for(server, fake, tls_certificate, tmp_path)
    result = run_cli(["resemble", "create-voice", "--name", "A", "--consent", str(consent)], env, tmp_path)
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert result.returncode == 1 and "Validation failed" in line and shown in line, line


@pytest.mark.parametrize("command", ["build", "upload-recordings"])
@pytest.mark.parametrize("uuid", ["../../v1/projects", "a/b", "voice?x=1", "%2e%2e", ""])
def test_a_voice_uuid_that_is_not_one_is_refused_before_any_request(
    server: Any,
    fake: FakeResemble,
    tls_certificate: tuple[Path, Path],
    tmp_path: Path,
    command: str,
    uuid: str,
) -> None:
    """Was: `build '../../v1/projects'` posted to another Resemble path with the API key."""
    env = env_for(server, fake, tls_certificate, tmp_path)
    extra = (
        [str(tmp_path), "--transcripts", str(tmp_path / "t.csv")] if command == "upload-recordings" else []
    )
    (tmp_path / "t.csv").write_text("name,text\n")
    result = run_cli(["resemble", command, uuid, *extra], env, tmp_path)
    assert result.returncode == 2 and "is not a Resemble voice uuid" in result.stderr, result.stderr
    assert fake.requests == []


def test_language_and_description_are_sent(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    env = env_for(server, fake, tls_certificate, tmp_path)
    created = run_cli(
        ["resemble", "create-voice", "--name", "A", "--consent", str(consent), "--language", "fr-FR",
         "--description", "The narrator, warm"],
        env, tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    sent = fake.requests[-1].json()
    assert sent["language"] == "fr-FR" and sent["description"] == "The narrator, warm"
    plain = run_cli(["resemble", "create-voice", "--name", "B", "--consent", str(consent)], env, tmp_path)
    assert "language" not in fake.requests[-1].json(), "absent: Resemble's default (en-US) applies"
    assert "upload-recordings" in plain.stderr, "says what comes next for a voice without a dataset"


def test_resemble_text_is_escaped_and_the_key_never_printed(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    """Was: OSC title and hyperlink sequences reached the terminal, and a refusal quoting the
    Authorization header printed the key."""
    said = f"\x1b]0;pwned\x07bad header \x1b]8;;https://x.example\x1b\\link: Authorization: Bearer {KEY}"
    fake.scripted.append(resemble_refusal(400, {"success": False, "message": said}))
    env = env_for(server, fake, tls_certificate, tmp_path)
    result = run_cli(["resemble", "create-voice", "--name", "A", "--consent", str(consent)], env, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "\x1b" not in output and "\x07" not in output
    assert "\\x1b]0;pwned\\x07" in output and "Bearer [redacted]" in output
    assert KEY not in output


def _wav(path: Path, seconds: float = 0.05) -> None:
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x01" * int(8000 * seconds))


def test_upload_recordings_resumes_after_a_cut_then_build_and_the_callback_close_the_loop(
    server: Any, fake: FakeResemble, consent: Path, tls_certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    env = env_for(server, fake, tls_certificate, tmp_path)
    voice_uuid = run_cli(
        ["resemble", "create-voice", "--name", "Narrator", "--consent", str(consent)], env, tmp_path
    ).stdout.strip()
    takes = tmp_path / "takes"
    takes.mkdir()
    rows = ["name,text,emotion,is_active"]
    for n in range(25):
        name = f"take_{n:02d}.wav"
        if n == 7:
            name = "take_07.mp3"
            (takes / name).write_bytes(b"ID3 not a wav")
        elif n != 12:  # take_12.wav is listed but missing
            _wav(takes / name)
        rows.append(f'{name},"Line {n}, read slowly",neutral,true')
    transcripts = tmp_path / "transcripts.csv"
    transcripts.write_text("\n".join(rows) + "\n")
    command = ["resemble", "upload-recordings", voice_uuid, str(takes), "--transcripts", str(transcripts)]

    fake.uploads_before_outage = 10
    cut = run_cli(command, env, tmp_path)
    assert cut.returncode == 1 and "run the same command again" in cut.stderr
    assert len(fake.uploads) == 10

    fake.uploads_before_outage = None
    again = run_cli(command, env, tmp_path)
    assert again.returncode == 1, "a refused file makes the run fail, after the others went"
    assert "take_07.mp3: refused: not a WAV file" in again.stdout
    assert "take_12.wav: refused: no such file in the folder" in again.stdout
    assert again.stdout.count("skipped: uploaded already") == 10
    assert "13 uploaded, 10 skipped, 2 refused, 0 failed; the voice has 23 recordings" in again.stdout
    assert sorted(fake.uploads) == sorted(set(fake.uploads)) and len(fake.uploads) == 23, "none twice"
    taken = fake.recordings[voice_uuid][0]
    assert taken["text"] == "Line 0, read slowly" and taken["is_active"] and taken["bytes"] > 44

    built = run_cli(["resemble", "build", voice_uuid], env, tmp_path)
    assert built.returncode == 0 and "queued for training" in built.stdout, built.stderr
    assert fake.call_back(voice_uuid).status_code == 202
    timeline = server.admin.get(f"/api/voices/resemble/{voice_uuid}").json()["events"]
    assert [e["type"] for e in timeline] == ["voice.status.changed", "voice.training.succeeded"]
