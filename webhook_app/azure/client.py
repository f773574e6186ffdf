"""Talking to Azure AI Speech: the only code that sends the subscription key, and only to allowed hosts."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from webhook_app.azure.mapping import (
    API_VERSION,
    UnsafeOperationURL,
    check_resource_id,
    describe_error,
    host_allowed,
)
from webhook_app.outbound import Answer, Outbound, OutboundError

KEY_HEADER = "Ocp-Apim-Subscription-Key"
TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 1024 * 1024  # Azure's answers are a few KiB; a larger one is refused, not read


class AzureRequestError(Exception):
    """Azure refused a request; the message carries Azure's own error code and text."""


class AzureClient:
    def __init__(
        self, key: str | None, allowed_hosts: tuple[str, ...], timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self.key = key
        self.allowed_hosts = allowed_hosts
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
        audios: dict[str, Any] = {"containerUrl": container_url, "extensions": extensions}
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
        url = f"{endpoint.rstrip('/')}/customvoice/{collection}/{resource_id}?api-version={API_VERSION}"
        headers = {**self._headers(url), "Operation-Id": str(uuid.uuid4())}
        try:
            response = self.http.put(url, json=body, headers=headers)
        except (httpx.HTTPError, OutboundError) as exc:
            raise AzureRequestError(f"could not reach Azure at {urlsplit(url).hostname}: {exc}") from exc
        if response.status_code not in (200, 201):
            try:
                detail = response.json()
            except ValueError:
                detail = None
            raise AzureRequestError(describe_error(detail, response.status_code))
        location = response.headers.get("Operation-Location")
        if not location:
            raise AzureRequestError(
                f"Azure answered {response.status_code} without an Operation-Location header"
            )
        return location
