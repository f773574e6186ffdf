"""A local HTTPS stand-in for Resemble's API v2: Create, Get and Build voice, List and Create
recording, as documented.

It answers `{"success": true, "item": {uuid, name, status, dataset_url, created_at,
updated_at}}`, refuses a wrong `Authorization: Bearer` key with 401, refuses a create
without name or consent with 422 and `validation_errors`, keeps each voice's recordings
(multipart `file`, `name`, `text`, `emotion`, `is_active`; a name it has is refused),
lists them a page at a time, can be scripted to answer anything else (`200` with
`"success": false` too) or to drop the connection after N uploads, and calls back the
`callback_uri` it was given, as Resemble does when training ends.
"""

from __future__ import annotations

import json
import re
import ssl
import uuid
from collections import deque
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

from tests.sink import LoopbackServer, Received, Reply

_BUILD = re.compile(r"^/api/v2/voices/([^/?]+)/build$")
_VOICE = re.compile(r"^/api/v2/voices/([^/?]+)$")
_RECORDINGS = re.compile(r"^/api/v2/voices/([^/?]+)/recordings(?:\?(.*))?$")


def resemble_error(status: int, message: str) -> Reply:
    return Reply(
        status=status,
        body=json.dumps({"success": False, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )


def resemble_refusal(status: int, body: dict[str, Any]) -> Reply:
    """Any answer Resemble documents, e.g. `200 {"success": false, "message": …, "item": {…}}`."""
    return Reply(status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


def multipart_fields(request: Received) -> dict[str, bytes]:
    """The parts of a multipart/form-data body, by name."""
    head = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    return {
        str(part.get_param("name", header="content-disposition")): part.get_payload(decode=True) or b""
        for part in message.iter_parts()
    }


class FakeResemble(LoopbackServer):
    def __init__(self, certificate: tuple[Path, Path], key: str = "test-resemble-key") -> None:
        self.key = key
        self.voices: dict[str, dict[str, Any]] = {}
        self.recordings: dict[str, list[dict[str, Any]]] = {}
        self.uploads: list[str] = []  # the name of every recording taken, in order
        self.uploads_before_outage: int | None = None  # take this many more, then refuse with 503
        self.scripted: deque[Reply] = deque()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        super().__init__(tls=context)
        self.api_url = f"https://localhost:{self.port}/api/v2"

    def answer(self, request: Received) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return resemble_error(401, "Invalid API token")
        if self.scripted:
            return self.scripted.popleft()
        if request.method == "POST" and request.path == "/api/v2/voices":
            return self._create(request.json())
        match = _BUILD.match(request.path)
        if request.method == "POST" and match and match.group(1) in self.voices:
            self.voices[match.group(1)]["status"] = "training"
            return self._json({"success": True, "message": "Voice queued for training"})
        match = _VOICE.match(request.path)
        if request.method == "GET" and match and match.group(1) in self.voices:
            voice = {k: v for k, v in self.voices[match.group(1)].items() if k != "callback_uri"}
            return self._json({"success": True, "item": voice})
        match = _RECORDINGS.match(request.path)
        if match and match.group(1) in self.voices:
            if request.method == "POST":
                return self._take_recording(match.group(1), request)
            query = parse_qs(match.group(2) or "")
            return self._page(self.recordings.get(match.group(1), []), query)
        return resemble_error(404, "Not found")

    def _create(self, body: dict[str, Any]) -> Reply:
        missing = [name for name in ("name", "consent") if not body.get(name)]
        if missing:
            return self._json(
                {"success": False, "error": "Validation failed",
                 "validation_errors": [{"field": name, "message": "can't be blank"} for name in missing]},
                status=422,
            )  # fmt: skip
        now = datetime.now(UTC).isoformat()
        item = {"uuid": str(uuid.uuid4()), "name": body["name"], "status": "initializing",
                "voice_type": body.get("voice_type", "professional"),
                "language": body.get("language", "en-US"), "description": body.get("description"),
                "dataset_url": body.get("dataset_url"), "created_at": now, "updated_at": now}  # fmt: skip
        self.voices[item["uuid"]] = {**item, "callback_uri": body.get("callback_uri")}
        return self._json({"success": True, "item": item})

    def _take_recording(self, voice_uuid: str, request: Received) -> Reply:
        if self.uploads_before_outage is not None:
            if self.uploads_before_outage <= 0:
                return resemble_error(503, "Service unavailable")
            self.uploads_before_outage -= 1
        fields = multipart_fields(request)
        taken = self.recordings.setdefault(voice_uuid, [])
        missing = [name for name in ("file", "name", "text") if not fields.get(name)]
        if missing:
            errors = [f"{name} is required" for name in missing]
            return self._json(
                {"success": False, "error": "Validation failed", "validation_errors": errors}, 422
            )
        if any(r["name"] == fields["name"] for r in taken):
            return self._json({"success": False, "message": "A recording with this name exists"}, 422)
        item = {"uuid": str(uuid.uuid4()), "name": fields["name"].decode(), "text": fields["text"].decode(),
                "emotion": fields.get("emotion", b"neutral").decode(),
                "is_active": fields.get("is_active", b"true").decode() == "true", "audio_src": None,
                "bytes": len(fields["file"])}  # fmt: skip
        taken.append(item)
        self.uploads.append(item["name"])
        return self._json({"success": True, "item": item})

    def _page(self, items: list[dict[str, Any]], query: dict[str, list[str]]) -> Reply:
        page, size = int(query.get("page", ["1"])[0]), int(query.get("page_size", ["10"])[0])
        pages = max(1, -(-len(items) // size))
        return self._json(
            {"success": True, "page": page, "num_pages": pages, "page_size": size,
             "items": items[(page - 1) * size : page * size]}
        )  # fmt: skip

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> Reply:
        return Reply(
            status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )

    def call_back(self, voice_uuid: str, status: str = "finished") -> httpx.Response:
        """What Resemble sends when training ends (the Training Completion Callback)."""
        body = {"ok": True, "id": voice_uuid, "status": status, "recordings": [], "issue": None}
        return httpx.post(self.voices[voice_uuid]["callback_uri"], json=body, timeout=10)
