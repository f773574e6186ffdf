"""Talking to Resemble's API v2: the only code that sends the Resemble API key, and only where allowed.

Create voice (`POST {api}/voices`), Get voice, Build voice (`POST {api}/voices/{uuid}/build`),
List recordings and Create recording (`POST {api}/voices/{uuid}/recordings`, multipart), with
`Authorization: Bearer <key>`. The key goes only over https to `app.resemble.ai` or a host
in `RESEMBLE_ALLOWED_HOSTS` (`*` globs), checked before any request, and a voice uuid in a
path is checked too. Resemble's docs say to check `success` on every answer: one with
`"success": false` is a refusal whatever its HTTP status. Every refusal becomes one
sentence (`ResembleRequestError`): what Resemble said, its validation errors, and what to do.
"""

from __future__ import annotations

import base64
import re
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

import httpx

from webhook_app.errors import ConfigError, WebhookAppError
from webhook_app.model.text import printable
from webhook_app.outbound import Outbound, OutboundError, OutboundTimeout

DEFAULT_API_URL = "https://app.resemble.ai/api/v2"
DEFAULT_HOSTS = ("app.resemble.ai",)
TIMEOUT_SECONDS = 60.0  # a consent file travels base64-encoded in the request
MAX_ANSWER_BYTES = 1024 * 1024


class ResembleRequestError(WebhookAppError):
    """Resemble refused or could not be reached; the message says what it said and what to do.

    `item` is what Resemble answered about the voice even so (a voice made, whose consent
    could not be validated), or None; `passing` is true when the same request may succeed
    later (Resemble out of reach, too slow, limiting requests, or failing on its side)."""

    def __init__(self, message: str, item: dict[str, Any] | None = None, *, passing: bool = False) -> None:
        super().__init__(message)
        self.item = item
        self.passing = passing


VOICE_UUID = re.compile(r"^[A-Za-z0-9-]{1,100}$")
"""A Resemble voice uuid: letters, digits and dashes. It is part of the path the key is sent
to, so anything else (`../../v1/projects`) is refused before a request is made."""


def check_voice_uuid(uuid: str) -> str:
    if not VOICE_UUID.match(uuid):
        raise ValueError(f"{printable(uuid)!r} is not a Resemble voice uuid (letters, digits and dashes)")
    return uuid


def check_api_url(api_url: str, allowed_hosts: tuple[str, ...]) -> str:
    """`api_url` without a trailing slash, or ConfigError when the key may not go there."""
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https":
        raise ConfigError(
            f"WEBHOOK_APP_RESEMBLE_API_URL must be https, not {parts.scheme or 'empty'}: the key goes there"
        )
    if not any(fnmatchcase(host, pattern.lower()) for pattern in (*DEFAULT_HOSTS, *allowed_hosts)):
        raise ConfigError(
            f"refusing to send the Resemble API key to {host}: add it to WEBHOOK_APP_RESEMBLE_ALLOWED_HOSTS "
            "if it is yours (a proxy, a test server)"
        )
    return api_url.rstrip("/")


class ResembleClient:
    def __init__(
        self,
        key: str | None,
        api_url: str = DEFAULT_API_URL,
        allowed_hosts: tuple[str, ...] = (),
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        if not key:
            raise ConfigError(
                "WEBHOOK_APP_RESEMBLE_API_KEY is not set (the API token from your Resemble account)"
            )
        self.key = key
        self.api_url = check_api_url(api_url, allowed_hosts)
        self.http = Outbound(timeout, max_bytes=MAX_ANSWER_BYTES)

    def close(self) -> None:
        self.http.close()

    def create_voice(
        self,
        *,
        name: str,
        consent: bytes,
        callback_uri: str,
        voice_type: str | None = None,
        dataset_url: str | None = None,
        language: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Create voice; returns Resemble's `item` (`uuid`, `name`, `status`, …). A refusal that
        still names a voice (`"success": false` with an `item`) carries it in the error."""
        body: dict[str, Any] = {
            "name": name,
            "consent": base64.b64encode(consent).decode(),
            "callback_uri": callback_uri,
        }
        optional = {"voice_type": voice_type, "dataset_url": dataset_url, "language": language,
                    "description": description}  # fmt: skip
        body |= {key: value for key, value in optional.items() if value}
        answer = self._send("POST", "/voices", "create the voice", json=body)
        item = answer.get("item")
        if not isinstance(item, dict) or not isinstance(item.get("uuid"), str) or not item["uuid"]:
            raise ResembleRequestError("Resemble answered without the new voice's uuid")
        return item

    def get_voice(self, uuid: str) -> dict[str, Any]:
        """Get voice: its `item` (`uuid`, `name`, `status`, `voice_type`, `dataset_url`, …)."""
        answer = self._send("GET", f"/voices/{check_voice_uuid(uuid)}", "find the voice")
        item = answer.get("item")
        return item if isinstance(item, dict) else {}

    def build(self, uuid: str) -> str:
        """Build voice (start training); returns what Resemble said."""
        answer = self._send("POST", f"/voices/{check_voice_uuid(uuid)}/build", "start training")
        message = answer.get("message")
        return self._clean(str(message)) if message else "training started"

    def recordings(self, uuid: str, *, page_size: int = 100, max_pages: int = 1000) -> list[dict[str, Any]]:
        """Every recording of the voice (List recordings, page by page)."""
        path, found = f"/voices/{check_voice_uuid(uuid)}/recordings", []
        for page in range(1, max_pages + 1):
            answer = self._send(
                "GET", path, "list the voice's recordings", params={"page": page, "page_size": page_size}
            )
            items = answer.get("items")
            found += [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
            pages = answer.get("num_pages")
            if not isinstance(pages, int) or page >= pages or not items:
                break
        return found

    def upload_recording(
        self, uuid: str, *, audio: bytes, file_name: str, name: str, text: str, emotion: str, is_active: bool
    ) -> dict[str, Any]:
        """Create recording: one WAV file and its transcript, as a multipart request."""
        answer = self._send(
            "POST",
            f"/voices/{check_voice_uuid(uuid)}/recordings",
            f"take the recording {name}",
            files={"file": (file_name, audio, "audio/wav")},
            data={
                "name": name,
                "text": text,
                "emotion": emotion,
                "is_active": "true" if is_active else "false",
            },
        )
        item = answer.get("item")
        return item if isinstance(item, dict) else {}

    def _send(self, method: str, path: str, what: str, **kwargs: Any) -> dict[str, Any]:
        """Resemble's answer as a JSON object, or `ResembleRequestError`: for a refusal (any status
        outside 2xx, or `"success": false` whatever the status), an unreachable host, or an
        answer that is not JSON. Every message is safe to print: control characters escaped, the
        key never in it, even where Resemble quotes it."""
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        host = urlsplit(self.api_url).hostname
        try:
            answer = self.http.request(method, self.api_url + path, headers=headers, **kwargs)
        except OutboundTimeout as exc:
            raise ResembleRequestError(
                self._clean(f"Resemble did not answer in time ({exc}); try again")
            ) from exc
        except (httpx.HTTPError, OutboundError) as exc:
            raise ResembleRequestError(self._clean(f"could not reach Resemble at {host}: {exc}")) from exc
        try:
            detail = answer.json()
        except ValueError:
            detail = None
        refused_anyway = isinstance(detail, dict) and detail.get("success") is False
        if answer.is_success and isinstance(detail, dict) and not refused_anyway:
            return detail
        if answer.is_success and not refused_anyway:
            raise ResembleRequestError(
                f"Resemble answered {answer.status_code} with a body that is not a JSON object"
            )
        item = detail.get("item") if isinstance(detail, dict) else None
        raise ResembleRequestError(
            self._clean(describe_refusal(answer.status_code, answer.headers, detail, what)),
            item=item if isinstance(item, dict) else None,
            passing=answer.status_code == 429 or answer.status_code >= 500,
        )

    def _clean(self, text: str) -> str:
        """`text` with the key redacted and control characters escaped."""
        return printable(text.replace(self.key, "[redacted]"))


def resemble_said(detail: Any) -> str:
    """What Resemble said in a refusal: its `message` (or `error`) and every entry of
    `validation_errors` (strings, `{field, message}` objects, or a field → messages map)."""
    if not isinstance(detail, dict):
        return ""
    message = detail.get("message") or detail.get("error")
    if isinstance(message, dict):
        message = message.get("message")
    parts = [str(message)] if message else []
    errors = detail.get("validation_errors")
    entries: list[str] = []
    if isinstance(errors, dict):
        for field, messages in errors.items():
            for text in messages if isinstance(messages, list) else [messages]:
                entries.append(f"{field}: {text}")
    elif isinstance(errors, list):
        for entry in errors:
            if isinstance(entry, dict):
                field, text = entry.get("field"), entry.get("message") or entry.get("error")
                entries.append(f"{field}: {text}" if field else str(text))
            else:
                entries.append(str(entry))
    if entries:
        parts.append("; ".join(entries))
    return " ".join(" — ".join(parts).split())[:1000]


def describe_refusal(code: int, headers: Any, detail: Any, what: str) -> str:
    """One sentence for a refusal: Resemble's own words and what to do about it."""
    said = resemble_said(detail)
    said = f": {said}" if said else ""
    if code in (401, 403):
        return f"Resemble refused the API key ({code}{said}); check WEBHOOK_APP_RESEMBLE_API_KEY"
    if code == 429:
        wait = headers.get("Retry-After")
        return f"Resemble is limiting requests (429{said}); try again" + (
            f" in {wait} s" if wait else " later"
        )
    if code >= 500:
        return f"Resemble could not {what} ({code}{said}); try again later"
    return f"Resemble would not {what} ({code}{said})"
