"""Fuzzing the Resemble normalizer and endpoint with hypothesis: clear answers, never a 5xx.

Bodies are drawn near Resemble's shape (right keys, wrong or odd values, extra keys, deep
nesting) and far from it (any JSON, any bytes). The HTTP surface as a whole is fuzzed from
the OpenAPI document in tests/web/test_openapi.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from tests.conftest import RESEMBLE_TOKENS
from webhook_app import create_app
from webhook_app.config.settings import Settings
from webhook_app.providers.resemble import callbacks as resemble
from webhook_app.store import migrate

pytestmark = pytest.mark.slow  # real processes, a browser or a drill

FIXTURES = Path(__file__).parents[2] / "fixtures"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
odd_values = scalars | st.sampled_from(["true", "false", "0.93", "NaN", "1e400", "", " finished "]) | any_json
recording = st.dictionaries(
    st.sampled_from(["uuid", "name", "transcript", "stoi_score", "pesq_score", "si_dr_score", "si_sdr_score",
                     "resemble_sample_score", "is_active", "is_outlier", "is_silent", "extra"]),
    odd_values,
)  # fmt: skip
near_resemble = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=250) | odd_values,
        "status": st.sampled_from(["finished", "dataset_issue", "consent_validation_failed", "FAILED", ""])
        | odd_values,
        "ok": odd_values,
        "issue": odd_values,
        "recordings": st.lists(recording | odd_values, max_size=4) | odd_values,
        "voice": any_json,
    },
)
bodies = near_resemble | any_json


@given(bodies)
@settings(max_examples=400, deadline=None)
def test_the_normalizer_accepts_or_explains_any_json(body: Any) -> None:
    key = resemble.dedupe_key(body)
    assert len(key) == 64
    try:
        callback = resemble.validate_callback(body)
    except ValidationError as error:
        assert error.messages  # the field-by-field reason the 422 carries
        return
    (event,) = resemble.to_events(callback, receipt_id="rcpt_x", received_at=NOW)
    document = json.loads(json.dumps(event.to_cloudevent()))  # serializable as it will be stored
    assert document["subject"] == body["id"] and document["data"]["status"] == body["status"]


flags = st.none() | st.booleans() | st.sampled_from(["true", "false", "True", "FALSE", "yes", "0", "maybe"])
scores = (
    st.none() | st.floats() | st.integers() | st.sampled_from(["0.41", "-2.1", " 3 ", "1e400", "nan", "x"])
)
documented_recording = st.fixed_dictionaries(
    {},
    optional={
        "uuid": st.text(max_size=40) | st.none(),
        "name": st.text(max_size=20) | st.none(),
        "transcript": st.text(max_size=40) | st.none(),
        "stoi_score": scores,
        "pesq_score": scores,
        "si_dr_score": scores,
        "si_sdr_score": scores,
        "resemble_sample_score": scores,
        "is_active": flags,
        "is_outlier": flags,
        "is_silent": flags,
        "extra": any_json,
    },
)
documented_forms = st.fixed_dictionaries(
    {"id": st.text(max_size=210), "status": st.text(max_size=110)},
    optional={
        "ok": flags,
        "issue": st.text(max_size=40) | st.none(),
        "recordings": st.lists(documented_recording, max_size=4) | st.none(),
        "voice": any_json,
    },
)


@given(documented_forms | bodies)
@settings(max_examples=400, deadline=None)
def test_the_plain_path_loads_what_the_schema_loads(body: Any) -> None:
    try:
        plain = resemble._load_plain(body)
    except resemble._NotPlain:
        return  # the schema alone decides
    assert plain == resemble._schema.load(body)  # and it must not reject what the plain path took


@pytest.mark.parametrize("name", ["finished", "dataset_issue", "consent_validation_failed"])
def test_the_documented_payloads_take_the_plain_path(name: str) -> None:
    body = json.loads((FIXTURES / f"resemble_{name}.json").read_text())
    assert resemble._load_plain(body) == resemble._schema.load(body)


@pytest.fixture
def client(tmp_path: Any) -> Iterator[FlaskClient]:
    app_settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'events.db'}",
        data_dir=str(tmp_path),
        provider_tokens={"resemble": RESEMBLE_TOKENS},
    )
    app = create_app(app_settings)
    migrate.upgrade(app.extensions["webhook_app"].store.engine)
    yield app.test_client()
    app.extensions["webhook_app"].store.dispose()


content_types = st.sampled_from(["application/json", "text/plain", "application/merge-patch+json"])


@given(body=bodies | st.binary(max_size=200), content_type=content_types)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_endpoint_never_answers_5xx(client: FlaskClient, body: Any, content_type: str) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body)
    response = client.post(f"/hooks/resemble/{RESEMBLE_TOKENS[0]}", data=data, content_type=content_type)
    assert response.status_code in (200, 202, 400, 415, 422), response.get_data(as_text=True)
    answer = response.get_json()
    if response.status_code >= 400:
        assert set(answer["error"]) == {"code", "message", "details"}
    else:
        assert answer["event_ids"] and answer["receipt_id"].startswith("rcpt_")


@pytest.fixture
def raw_client(database_url: str, tmp_path: Any) -> Iterator[FlaskClient]:
    """The app on either database, with a small body limit so that 413 is in reach."""
    app_settings = Settings(
        database_url=database_url,
        data_dir=str(tmp_path),
        provider_tokens={"resemble": RESEMBLE_TOKENS},
        max_body_bytes=4096,
    )
    app = create_app(app_settings)
    migrate.upgrade(app.extensions["webhook_app"].store.engine)
    yield app.test_client()
    app.extensions["webhook_app"].store.dispose()


json_pieces = st.sampled_from(
    [b'{"id":', b'"status":"finished"', b'"dataset_issue"', b'"recordings":', b'"v', b'"', b",", b":",
     b"[", b"]", b"{", b"}", b"{}", b"\\u0000", b"\\ud800", b"\\udfff", b"\\ud83d\\ude00", b"\\", b"1e999",
     b"NaN", b"-0", b"true", b"null", b"\xff", b"\x00", b"\xed\xa0\x80", b" ", b"\n"]
)  # fmt: skip
nested = st.integers(0, 5000).map(
    lambda d: b'{"id":"v","status":"finished","x":' + b"[" * d + b"]" * d + b"}"
)
raw_bodies = (
    st.binary(max_size=300)
    | st.lists(json_pieces, max_size=40).map(b"".join)
    | nested
    | st.binary(min_size=4000, max_size=4200)
)
any_content_type = (
    st.none() | content_types | st.sampled_from(["application/json; charset=latin-1", "", "*/*"])
)


@given(body=raw_bodies, content_type=any_content_type, chunked=st.booleans())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_bytes_in_any_encoding_get_a_clear_answer_and_a_receipt(
    raw_client: FlaskClient, body: bytes, content_type: str | None, chunked: bool
) -> None:
    """Never a 5xx; every authenticated request is kept, accepted or rejected, unless refused as too large."""
    import io

    headers = {"Content-Type": content_type} if content_type is not None else {}
    if chunked:  # no length: the server says the stream ends by itself, as for Transfer-Encoding: chunked
        response = raw_client.post(
            f"/hooks/resemble/{RESEMBLE_TOKENS[0]}",
            input_stream=io.BytesIO(body),
            headers=headers,
            environ_overrides={"wsgi.input_terminated": True},
        )
    else:
        response = raw_client.post(f"/hooks/resemble/{RESEMBLE_TOKENS[0]}", data=body, headers=headers)
    assert response.status_code in (200, 202, 400, 413, 415, 422), response.get_data(as_text=True)
    answer = response.get_json()
    store = raw_client.application.extensions["webhook_app"].store
    if response.status_code == 413:
        assert len(body) > 4096
        return
    receipt_id = answer["receipt_id"] if response.status_code < 300 else response.headers["X-Receipt-Id"]
    receipt = store.reads.get_receipt(receipt_id)
    assert receipt is not None and receipt["body"] == body, "kept as sent"
    if response.status_code >= 400:
        assert set(answer["error"]) == {"code", "message", "details"}
