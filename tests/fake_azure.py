"""A local HTTPS server that speaks Azure's documented custom voice API: the GA api-version
2026-01-01 and the 2023-12-01-preview before it.

Operations_Get, PersonalVoices_Get/Create, Consents_Get/Create, with Azure's error body
and 401 for a wrong `Ocp-Apim-Subscription-Key`; an api-version it does not know is 400,
and so is an audio extension not in the form of the request's version (`.wav` in GA,
`*.wav` in the preview). An operation's `Operation-Location` carries the version it was
created with. Tests script statuses, failure reasons (the GA's `DataNotReady` and
`DataNotEnough` too), and one-off replies (429 with Retry-After, 5xx, delays), and read
every request it got.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from tests.sink import LoopbackServer, Received, Reply

API_VERSION = "2026-01-01"
PREVIEW = "2023-12-01-preview"
VERSIONS = (API_VERSION, PREVIEW)
FAILURE_REASONS = ("InaccessibleCustomerStorage", "SpeakerVerificationFailed", "TerminateByUser", "Internal",
                   "DataNotReady", "DataNotEnough")  # fmt: skip
"""PersonalVoice `properties.failureReason` values of the GA spec (ModelFailureReason)."""
_PATH = re.compile(r"^/customvoice/(operations|personalvoices|consents)/([^/?]+)\?api-version=([\w.-]+)$")


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for `localhost`; clients trust it through SSL_CERT_FILE, as a private CA."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def azure_error(status: int, code: str, message: str) -> Reply:
    body = {
        "error": {
            "code": code,
            "message": message,
            "details": [],
            "innererror": {"code": code, "message": message},
        }
    }
    return Reply(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "x-ms-error-code": code},
    )


class FakeAzure(LoopbackServer):
    def __init__(self, certificate: tuple[Path, Path], key: str = "test-azure-key") -> None:
        self.key = key
        self.operations: dict[str, dict[str, Any]] = {}
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.scripted: deque[Reply] = deque()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*certificate)
        super().__init__(tls=context)
        self.endpoint = f"https://localhost:{self.port}"

    # -- scripting --------------------------------------------------------------

    def add_operation(
        self, kind: str, resource_id: str, status: str = "NotStarted", api_version: str = API_VERSION
    ) -> str:
        """A created personal voice or consent with its operation; returns the Operation-Location."""
        operation_id = str(uuid.uuid4())
        collection = "personalvoices" if kind == "personal_voice" else "consents"
        resource: dict[str, Any] = {"id": resource_id, "projectId": "PersonalVoice", "status": status}
        if kind == "personal_voice":
            resource |= {"speakerProfileId": str(uuid.uuid4()), "consentId": "Jessica"}
        self.resources[(collection, resource_id)] = resource
        self.operations[operation_id] = {
            "id": operation_id,
            "status": status,
            "resource": (collection, resource_id),
        }
        return self.operation_url(operation_id, api_version=api_version)

    def operation_url(
        self, operation_id: str, host: str = "localhost", api_version: str = API_VERSION
    ) -> str:
        return f"https://{host}:{self.port}/customvoice/operations/{operation_id}?api-version={api_version}"

    def set_status(self, operation_url: str, status: str, failure_reason: str | None = None) -> None:
        operation = self.operations[operation_url.split("/operations/")[1].split("?")[0]]
        operation["status"] = status
        resource = self.resources[operation["resource"]]
        resource["status"] = status
        if failure_reason:
            resource["properties"] = {"failureReason": failure_reason}

    def resource_of(self, operation_url: str) -> dict[str, Any]:
        return self.resources[
            self.operations[operation_url.split("/operations/")[1].split("?")[0]]["resource"]
        ]

    def gets(self, kind: str = "operations") -> list[Received]:
        return [r for r in self.requests if r.method == "GET" and f"/customvoice/{kind}/" in r.path]

    # -- the API ------------------------------------------------------------------

    def answer(self, request: Received) -> Reply:
        if request.headers.get("Ocp-Apim-Subscription-Key") != self.key:
            return azure_error(401, "Unauthorized", "Access denied due to invalid subscription key.")
        if self.scripted:
            return self.scripted.popleft()
        match = _PATH.match(request.path)
        if not match:
            return azure_error(404, "NotFound", "No such resource.")
        collection, identifier, version = match.groups()
        if version not in VERSIONS:
            return azure_error(400, "BadRequest", f"The api-version {version} is not supported.")
        if request.method == "PUT":
            return self._create(collection, identifier, version, request)
        if collection == "operations":
            operation = self.operations.get(identifier)
            if operation is None:
                return azure_error(404, "NotFound", f"Operation {identifier} not found.")
            body = {"id": operation["id"], "status": operation["status"]}
            return Reply(body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        resource = self.resources.get((collection, identifier))
        if resource is None:
            return azure_error(404, "NotFound", f"{identifier} not found.")
        return Reply(body=json.dumps(resource).encode(), headers={"Content-Type": "application/json"})

    def _create(self, collection: str, identifier: str, version: str, request: Received) -> Reply:
        body = request.json()
        if collection == "personalvoices" and not body.get("audios", {}).get("containerUrl"):
            return azure_error(400, "BadArgument", "audios.containerUrl is required.")
        form = "*." if version == PREVIEW else "."
        extensions = body.get("audios", {}).get("extensions", []) if collection == "personalvoices" else []
        if any(not (e.startswith(form) and e[len(form) :].isalnum()) for e in extensions):
            return azure_error(
                400, "BadArgument", f"audios.extensions must look like {form}wav in {version}."
            )
        kind = "personal_voice" if collection == "personalvoices" else "consent"
        location = self.add_operation(kind, identifier, api_version=version)
        operation_id = location.split("/operations/")[1].split("?")[0]
        resource = {**self.resources[(collection, identifier)], **body}
        return Reply(
            status=201,
            body=json.dumps(resource).encode(),
            headers={
                "Content-Type": "application/json",
                "Operation-Location": location,
                "Operation-Id": operation_id,
            },
        )
