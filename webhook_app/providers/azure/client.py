"""Talking to Azure AI Speech: the only code that sends the subscription key, and only to allowed hosts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from webhook_app.errors import WebhookAppError
from webhook_app.model.retry import parse_retry_after
from webhook_app.outbound import Answer, AnswerTooLarge, Outbound, OutboundError, OutboundTimeout
from webhook_app.providers.azure.mapping import (
    API_VERSION,
    UnsafeOperationURL,
    check_resource_id,
    describe_error,
    host_allowed,
)

KEY_HEADER = "Ocp-Apim-Subscription-Key"
TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 1024 * 1024  # Azure's answers are a few KiB; a larger one is refused, not read
KEPT_RESPONSE_HEADERS = ("x-ms-request-id", "apim-request-id", "retry-after")


class AzureRequestError(WebhookAppError):
    """Azure refused a request; the message carries Azure's own error code and text."""


class PollFailed(WebhookAppError):
    """A read could not complete; try again after a backoff (at least `retry_after` seconds)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PollStopped(WebhookAppError):
    """Reading cannot go on without a person (wrong key, refused request)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class OperationGone(WebhookAppError):
    """Azure answered 404/410 for the operation itself."""


class AzureClient:
    def __init__(
        self,
        key: str | None,
        allowed_hosts: tuple[str, ...],
        timeout: float = TIMEOUT_SECONDS,
        api_version: str = API_VERSION,
    ) -> None:
        self.key = key
        self.allowed_hosts = allowed_hosts
        self.api_version = api_version
        self.http = Outbound(timeout, max_bytes=MAX_ANSWER_BYTES)

    def close(self) -> None:
        self.http.close()

    def _headers(self, url: str) -> dict[str, str]:
        """The key header, after checking that `url` may receive it."""
        parts = urlsplit(url)
        if parts.scheme != "https" or not host_allowed((parts.hostname or "").lower(), self.allowed_hosts):
            raise UnsafeOperationURL(f"refusing to send the Azure key to {parts.scheme}://{parts.hostname}")
        if not self.key:
            raise AzureRequestError("WEBHOOK_APP_AZURE_SPEECH_KEY is not set")
        return {KEY_HEADER: self.key}

    def get(self, url: str) -> Answer:
        """GET with the key, bounded as a whole by the timeout; `OutboundError` or httpx's
        `TransportError` for the caller to retry."""
        return self.http.get(url, headers=self._headers(url))

    def read(self, url: str, *, now: datetime, missing_ok: bool = False) -> tuple[Any, dict[str, str]]:
        """GET an operation or resource: its JSON and the headers worth keeping, or what the
        answer means: `PollFailed` (try later), `PollStopped` (a person must act),
        `OperationGone` (404/410; with `missing_ok`, `None` instead)."""
        try:
            response = self.get(url)
        except (UnsafeOperationURL, AzureRequestError) as exc:
            raise PollStopped(str(exc)) from exc
        except OutboundTimeout as exc:
            raise PollFailed(f"Azure did not answer in time: {exc}") from exc
        except AnswerTooLarge as exc:
            raise PollFailed(f"Azure's answer was refused: {exc}") from exc
        except httpx.TransportError as exc:
            raise PollFailed(f"cannot reach Azure: {exc}") from exc
        headers = {k.lower(): v for k, v in response.headers.items() if k.lower() in KEPT_RESPONSE_HEADERS}
        code = response.status_code
        if code == 200:
            try:
                return response.json(), headers
            except ValueError as exc:
                raise PollFailed("Azure answered 200 with a body that is not JSON") from exc
        detail = describe_error(_json_or_none(response), code)
        if code == 429 or code >= 500:
            raise PollFailed(detail, parse_retry_after(response.headers.get("Retry-After"), now))
        if code in (401, 403):
            raise PollStopped(
                f"{detail}. Azure rejected the subscription key: check WEBHOOK_APP_AZURE_SPEECH_KEY "
                "(and that it belongs to this region's Speech resource), then track the operation again.",
                status_code=code,
            )
        if code in (404, 410):
            if missing_ok:
                return None, headers
            raise OperationGone(f"Azure no longer knows this operation ({detail}).")
        raise PollStopped(detail, status_code=code)

    def create_personal_voice(
        self,
        endpoint: str,
        *,
        voice_id: str,
        project_id: str,
        consent_id: str,
        container_url: str,
        prefix: str | None,
        extensions: list[str],
    ) -> str:
        """PersonalVoices_Create; returns the Operation-Location to track."""
        audios: dict[str, Any] = {
            "containerUrl": container_url,
            "extensions": [audio_extension(extension, self.api_version) for extension in extensions],
        }
        if prefix:
            audios["prefix"] = prefix
        body = {"projectId": project_id, "consentId": consent_id, "audios": audios}
        return self._create(endpoint, "personalvoices", voice_id, body)

    def create_consent(
        self,
        endpoint: str,
        *,
        consent_id: str,
        project_id: str,
        voice_talent_name: str,
        company_name: str,
        audio_url: str,
        locale: str,
        description: str | None = None,
    ) -> str:
        """Consents_Create; returns the Operation-Location to track."""
        body = {
            "projectId": project_id,
            "voiceTalentName": voice_talent_name,
            "companyName": company_name,
            "audioUrl": audio_url,
            "locale": locale,
        }
        if description:
            body["description"] = description
        return self._create(endpoint, "consents", consent_id, body)

    def _create(self, endpoint: str, collection: str, resource_id: str, body: dict[str, Any]) -> str:
        # The API spec's PersonalVoices_Create / Consents_Create: PUT …/{id} with an Operation-Id.
        resource_id = check_resource_id(resource_id)
        url = f"{endpoint.rstrip('/')}/customvoice/{collection}/{resource_id}?api-version={self.api_version}"
        headers = {**self._headers(url), "Operation-Id": str(uuid.uuid4())}
        try:
            response = self.http.put(url, json=body, headers=headers)
        except (httpx.HTTPError, OutboundError) as exc:
            raise AzureRequestError(f"could not reach Azure at {urlsplit(url).hostname}: {exc}") from exc
        if response.status_code not in (200, 201):
            raise AzureRequestError(describe_error(_json_or_none(response), response.status_code))
        location = response.headers.get("Operation-Location")
        if not location:
            raise AzureRequestError(
                f"Azure answered {response.status_code} without an Operation-Location header"
            )
        return location


def audio_extension(extension: str, api_version: str) -> str:
    """An audio extension as `api_version` spells it: `.wav` in the GA examples, `*.wav` in the
    preview's; either form (or a bare `wav`) is accepted."""
    bare = extension.strip().lstrip("*").lstrip(".")
    return f"*.{bare}" if api_version.endswith("-preview") else f".{bare}"


def _json_or_none(response: Answer) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
