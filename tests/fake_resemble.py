"""A local HTTPS stand-in for Resemble's API v2: Create voice and Build voice, as documented.

It answers `{"success": true, "item": {uuid, name, status, dataset_url, created_at,
updated_at}}`, refuses a wrong `Authorization: Bearer` key with 401, can be scripted to
answer anything else, and calls back the `callback_uri` it was given, as Resemble does when
training ends.
"""

from __future__ import annotations

import json
import re
import ssl
import uuid
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.sink import LoopbackServer, Received, Reply

_BUILD = re.compile(r"^/api/v2/voices/([^/]+)/build$")


def resemble_error(status: int, message: str) -> Reply:
    return Reply(
        status=status,
        body=json.dumps({"success": False, "message": message}).encode(),
        headers={"Content-Type": "application/json"},
    )


class FakeResemble(LoopbackServer):
    def __init__(self, certificate: tuple[Path, Path], key: str = "test-resemble-key") -> None:
        self.key = key
        self.voices: dict[str, dict[str, Any]] = {}
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
        return resemble_error(404, "Not found")

    def _create(self, body: dict[str, Any]) -> Reply:
        if not body.get("name") or not body.get("consent"):
            return resemble_error(422, "name and consent are required")
        now = datetime.now(UTC).isoformat()
        item = {"uuid": str(uuid.uuid4()), "name": body["name"], "status": "initializing",
                "dataset_url": body.get("dataset_url"), "created_at": now, "updated_at": now}  # fmt: skip
        self.voices[item["uuid"]] = {**item, "callback_uri": body.get("callback_uri")}
        return self._json({"success": True, "item": item})

    @staticmethod
    def _json(body: dict[str, Any]) -> Reply:
        return Reply(body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    def call_back(self, voice_uuid: str, status: str = "finished") -> httpx.Response:
        """What Resemble sends when training ends (the Training Completion Callback)."""
        body = {"ok": True, "id": voice_uuid, "status": status, "recordings": [], "issue": None}
        return httpx.post(self.voices[voice_uuid]["callback_uri"], json=body, timeout=10)
