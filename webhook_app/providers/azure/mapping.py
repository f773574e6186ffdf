"""Azure AI Speech personal voice and consent operations as normalized events.

Azure does not call back: `PersonalVoices_Create` and `Consents_Create` answer with an
`Operation-Location` that reports `NotStarted | Running | Succeeded | Failed`. The reason
for a failure is on the resource (`properties.failureReason`), so a terminal status is
mapped together with the resource it belongs to. Sources: Azure/azure-rest-api-specs,
specification/cognitiveservices/data-plane/Speech/TextToSpeech/stable/2026-01-01 (the GA
api-version; texttospeech.json: Operations_Get, PersonalVoices_Create|Get, Consents_Get;
examples/), and preview/2023-12-01-preview before it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qs, urlsplit

from webhook_app.errors import WebhookAppError
from webhook_app.model.events import Event, EventData, EventType, ProviderError
from webhook_app.model.states import OperationKind, values
from webhook_app.model.text import storable

PROVIDER = "azure"
SOURCE = "/providers/azure"
KINDS = values(OperationKind)
TERMINAL = frozenset({"Succeeded", "Failed"})
DEFAULT_HOSTS = ("*.api.cognitive.microsoft.com", "*.cognitiveservices.azure.com")
API_VERSION = "2026-01-01"
"""The GA api-version creates use unless `WEBHOOK_APP_AZURE_API_VERSION` says otherwise; a
tracked operation is read at the version its `Operation-Location` carries."""

RESOURCE_PATH = {"personal_voice": "personalvoices", "consent": "consents"}

PERSONAL_VOICE_FAILURES: dict[str, EventType] = {
    "SpeakerVerificationFailed": EventType.CONSENT_FAILED,
    "InaccessibleCustomerStorage": EventType.DATASET_ISSUE,
    "DataNotReady": EventType.DATASET_ISSUE,
    "DataNotEnough": EventType.DATASET_ISSUE,
    "TerminateByUser": EventType.TRAINING_FAILED,
    "Internal": EventType.TRAINING_FAILED,
}
"""Personal voice `Failed` by `properties.failureReason`; any other reason is a training failure."""

REASON_TEXT = {
    "SpeakerVerificationFailed": "The speaker in the audio is not the voice talent who gave consent.",
    "InaccessibleCustomerStorage": (
        "Azure cannot reach the storage account linked to the Speech resource (bring your own storage): "
        "check that the account still exists and that the Speech resource's managed identity may use it "
        "(its role on the account, and the account's firewall)."
    ),
    "DataNotReady": (
        "The training data is not ready: let the audio finish uploading into the container, "
        "then create the personal voice again."
    ),
    "DataNotEnough": (
        "The training data is not enough: add audio to the container (Azure's personal voice "
        "requirements say how much), then create the personal voice again."
    ),
    "TerminateByUser": "Training was stopped by a user.",
    "Internal": "Azure reported an internal error.",
    "AudioAndScriptNotMatch": "The consent audio does not match the consent statement.",
}

_OPERATION_PATH = re.compile(r"/customvoice/operations/([A-Za-z0-9._-]{3,64})/?$")


RESOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,62}[A-Za-z0-9]")
"""A personal voice or consent id as Azure's API takes it: 3-64 letters, digits, `.`, `_`, `-`,
starting and ending with a letter or digit. It goes into a URL path that receives the key,
so nothing else may (`../other` would walk to another path on the Azure host)."""


def check_resource_id(resource_id: str) -> str:
    """`resource_id`, or ValueError saying what Azure allows."""
    if not RESOURCE_ID.fullmatch(resource_id):
        raise ValueError(
            "resource_id must be 3-64 letters, digits, '.', '_' or '-',"
            " starting and ending with a letter or digit"
        )
    return resource_id


class UnsafeOperationURL(WebhookAppError, ValueError):
    """The URL may not receive the subscription key (not https, or not an allowed Azure host)."""

    status, code = 422, "invalid_operation"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.details = {"operation_url": [message]}


def event_type_for(kind: str, status: str, failure_reason: str | None) -> EventType:
    if status == "Succeeded":
        return EventType.TRAINING_SUCCEEDED if kind == "personal_voice" else EventType.STATUS_CHANGED
    if status == "Failed":
        if kind == "consent":
            return EventType.CONSENT_FAILED
        return PERSONAL_VOICE_FAILURES.get(failure_reason or "", EventType.TRAINING_FAILED)
    return EventType.STATUS_CHANGED


def check_operation_url(url: str, allowed_hosts: tuple[str, ...]) -> str:
    """The Azure operation id in `url`, if the key may be sent there; else `UnsafeOperationURL`."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise UnsafeOperationURL("operation_url must be an https URL (the subscription key is sent to it)")
    host = (parts.hostname or "").lower()
    if not host_allowed(host, allowed_hosts):
        raise UnsafeOperationURL(
            f"{host or 'the URL'} is not an Azure Speech host ({', '.join(DEFAULT_HOSTS)}) "
            "nor in WEBHOOK_APP_AZURE_ALLOWED_HOSTS; the subscription key is sent only there"
        )
    if parts.username or parts.password:
        raise UnsafeOperationURL("operation_url must not carry credentials")
    match = _OPERATION_PATH.search(parts.path)
    if not match:
        raise UnsafeOperationURL(
            "operation_url must look like https://<host>/customvoice/operations/<id>?api-version=…"
        )
    return match.group(1)


def host_allowed(host: str, allowed_hosts: tuple[str, ...]) -> bool:
    return any(fnmatchcase(host, pattern.lower()) for pattern in (*DEFAULT_HOSTS, *allowed_hosts))


def resource_url(operation_url: str, kind: str, resource_id: str) -> str:
    """The personal voice or consent, at the operation's origin and api-version."""
    parts = urlsplit(operation_url)
    version = parse_qs(parts.query).get("api-version", [API_VERSION])[0]
    path = f"/customvoice/{RESOURCE_PATH[kind]}/{check_resource_id(resource_id)}"
    return f"{parts.scheme}://{parts.netloc}{path}?api-version={version}"


MAX_WORD_CHARS = 100


def word(value: Any, max_chars: int = MAX_WORD_CHARS) -> str | None:
    """`value` if it is a short storable string (a status, a reason, an id), else None.

    What Azure (or a proxy in front of it) answers is input: a value of another type, too
    long for its column, or holding NUL would otherwise fail every write of the poll.
    """
    if not isinstance(value, str) or not value or len(value) > max_chars or not storable(value):
        return None
    return value


def failure_reason(resource: dict[str, Any] | None) -> str | None:
    properties = (resource or {}).get("properties") or {}
    return word(properties.get("failureReason")) if isinstance(properties, dict) else None


def to_event(
    *,
    kind: str,
    resource_id: str,
    operation_id: str,
    status: str,
    resource: dict[str, Any] | None,
    receipt_id: str | None,
    at: datetime,
) -> Event:
    """One status change of one operation as an event."""
    reason = failure_reason(resource) if status == "Failed" else None
    event_type = event_type_for(kind, status, reason)
    error = None
    if status == "Failed":
        code = reason or "Unknown"
        error = ProviderError(
            code=code, message=REASON_TEXT.get(code, f"Azure reported the {kind} as Failed.")
        )
    speaker_profile_id = word((resource or {}).get("speakerProfileId")) if kind == "personal_voice" else None
    data = EventData(
        provider=PROVIDER,
        voice_id=resource_id,
        status=status,
        ok=status == "Succeeded",
        issue=error.message if error else None,
        speaker_profile_id=speaker_profile_id,
        operation_id=operation_id,
        error=error,
        resource_kind="consent" if kind == "consent" else None,
    )
    return Event(type=event_type, source=SOURCE, time=at, data=data, receipt_id=receipt_id)


def stalled_event(
    *, resource_id: str, operation_id: str, status: str, reason: str, receipt_id: str | None, at: datetime
) -> Event:
    """The operation will not be watched any longer: too old, or Azure no longer knows it."""
    data = EventData(
        provider=PROVIDER,
        voice_id=resource_id,
        status=status,
        ok=False,
        issue=reason,
        operation_id=operation_id,
        error=ProviderError(code="Stalled", message=reason),
    )
    return Event(type=EventType.OPERATION_STALLED, source=SOURCE, time=at, data=data, receipt_id=receipt_id)


def dedupe_key(operation_id: str, status: str) -> str:
    """Azure events are keyed by operation id and status: one event per transition."""
    return hashlib.sha256(f"{PROVIDER}\x00{operation_id}\x00{status}".encode()).hexdigest()


def describe_error(response_json: Any, status_code: int) -> str:
    """Azure's error body (`{"error": {code, message, details, innererror}}`) as one sentence."""
    error = response_json.get("error") if isinstance(response_json, dict) else None
    if not isinstance(error, dict):
        return f"Azure answered {status_code}"
    text = f"Azure answered {status_code} {error.get('code', '')}: {error.get('message', '')}".strip()
    for detail in error.get("details") or []:
        if isinstance(detail, dict):
            text += f"; {detail.get('code', '')}: {detail.get('message', '')}"
    inner = error.get("innererror")
    if isinstance(inner, dict) and inner.get("message"):
        text += f" ({inner.get('code', '')}: {inner['message']})"
    return text
