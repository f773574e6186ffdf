"""Talking to Resemble's API v2: the only code that sends the Resemble API key, and only where allowed.

Create voice (`POST {api}/voices`) and Build voice (`POST {api}/voices/{uuid}/build`), with
`Authorization: Bearer <key>`. The key goes only over https to `app.resemble.ai` or a host
in `RESEMBLE_ALLOWED_HOSTS` (`*` globs), checked before any request. Every answer that is
not a success becomes one sentence (`ResembleRequestError`): what Resemble said, and what
to do about it.
"""

from __future__ import annotations

import base64
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

import httpx

from webhook_app.errors import ConfigError, WebhookAppError
from webhook_app.outbound import Answer, Outbound, OutboundError, OutboundTimeout

DEFAULT_API_URL = "https://app.resemble.ai/api/v2"
DEFAULT_HOSTS = ("app.resemble.ai",)
TIMEOUT_SECONDS = 60.0  # a consent file travels base64-encoded in the request
MAX_ANSWER_BYTES = 1024 * 1024


class ResembleRequestError(WebhookAppError):
    """Resemble refused or could not be reached; the message says what it said and what to do."""


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
    ) -> dict[str, Any]:
        """Create voice; returns Resemble's `item` (`uuid`, `name`, `status`, …)."""
        body: dict[str, Any] = {
            "name": name,
            "consent": base64.b64encode(consent).decode(),
            "callback_uri": callback_uri,
        }
        if voice_type:
            body["voice_type"] = voice_type
        if dataset_url:
            body["dataset_url"] = dataset_url
        answer = self._post("/voices", body, "create the voice")
        item = answer.get("item") if isinstance(answer, dict) else None
        if not isinstance(item, dict) or not isinstance(item.get("uuid"), str) or not item["uuid"]:
            raise ResembleRequestError("Resemble answered without the new voice's uuid")
        return item

    def build(self, uuid: str) -> str:
        """Build voice (start training); returns what Resemble said."""
        answer = self._post(f"/voices/{uuid}/build", None, "start training")
        message = answer.get("message") if isinstance(answer, dict) else None
        return str(message) if message else "training started"

    def _post(self, path: str, body: dict[str, Any] | None, what: str) -> Any:
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        host = urlsplit(self.api_url).hostname
        try:
            answer = self.http.post(self.api_url + path, json=body, headers=headers)
        except OutboundTimeout as exc:
            raise ResembleRequestError(f"Resemble did not answer in time ({exc}); try again") from exc
        except (httpx.HTTPError, OutboundError) as exc:
            raise ResembleRequestError(f"could not reach Resemble at {host}: {exc}") from exc
        if answer.is_success:
            try:
                return answer.json()
            except ValueError:
                raise ResembleRequestError(
                    f"Resemble answered {answer.status_code} with a body that is not JSON"
                ) from None
        raise ResembleRequestError(describe_refusal(answer, what))


def describe_refusal(answer: Answer, what: str) -> str:
    """One sentence for a refusal: Resemble's own message and what to do about it."""
    try:
        detail = answer.json()
    except ValueError:
        detail = None
    message = None
    if isinstance(detail, dict):
        message = detail.get("message") or detail.get("error")
        if isinstance(message, dict):
            message = message.get("message")
    said = f": {' '.join(str(message).split())[:300]}" if message else ""
    code = answer.status_code
    if code in (401, 403):
        return f"Resemble refused the API key ({code}{said}); check WEBHOOK_APP_RESEMBLE_API_KEY"
    if code == 429:
        wait = answer.headers.get("Retry-After")
        return f"Resemble is limiting requests (429{said}); try again" + (
            f" in {wait} s" if wait else " later"
        )
    if code >= 500:
        return f"Resemble could not {what} ({code}{said}); try again later"
    return f"Resemble would not {what} ({code}{said})"
