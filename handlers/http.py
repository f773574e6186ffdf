"""The part of an HTTP handler that is the same for every target: timeouts, no redirects, retry signals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from webhook_app.errors import RetryableError
from webhook_app.retry import parse_retry_after


def new_client(timeout_seconds: float) -> httpx.Client:
    """Redirects are not followed: a target that moves must be reconfigured, not guessed."""
    return httpx.Client(timeout=timeout_seconds, follow_redirects=False, trust_env=True)


def post(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    """POST; network errors, timeouts, 429 and 5xx raise `RetryableError` (honouring `Retry-After`)."""
    try:
        response = client.post(url, **kwargs)
    except httpx.TimeoutException as exc:
        raise RetryableError(f"timed out after {client.timeout.read}s: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise RetryableError(f"could not connect: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(
            f"answered {response.status_code} {short(response.text)}".strip(),
            retry_after=parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC)),
        )
    return response


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
