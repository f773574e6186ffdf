"""What every HTTP handler shares: one deadline per call, no redirects, retry signals."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import httpx

from webhook_app.errors import PermanentError, RetryableError
from webhook_app.model.retry import parse_retry_after
from webhook_app.outbound import Answer, BlockedAddress, Outbound, OutboundTimeout
from webhook_app.plugins.handler import Delivered


def new_client(timeout_seconds: float, address_allowed: Any = None) -> Outbound:
    """Redirects are not followed: a target that moves must be reconfigured, not guessed."""
    return Outbound(timeout_seconds, address_allowed=address_allowed)


def post(client: Outbound, url: str, **kwargs: Any) -> Answer:
    """POST; network errors, timeouts, 429 and 5xx raise `RetryableError` (honouring `Retry-After`),
    a refused address `PermanentError`."""
    try:
        response = client.post(url, **kwargs)
    except OutboundTimeout as exc:
        raise RetryableError(f"timed out: {exc}") from exc
    except BlockedAddress as exc:
        raise PermanentError(
            f"{exc}; set allow_private_targets = true on the route if that is intended"
        ) from exc
    except httpx.TransportError as exc:
        raise RetryableError(f"could not connect: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableError(
            f"answered {response.status_code} {short(response.text)}".strip(),
            retry_after=parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC)),
            status_code=response.status_code,
            response=response.text,
        )
    return response


def outcome(response: Answer, *, refused: Collection[int], refusal: str, failure: str) -> Delivered:
    """2xx is delivered; a code in `refused` is a `PermanentError` ("{refusal}: 404 no_service"),
    anything else a `RetryableError` ("{failure} 502 …"); both keep the code and the answer."""
    if response.is_success:
        return Delivered(response.status_code, response.text)
    said = f"{response.status_code} {short(response.text)}"
    error = (
        PermanentError(f"{refusal}: {said}")
        if response.status_code in refused
        else RetryableError(f"{failure} {said}")
    )
    error.status_code, error.response = response.status_code, response.text
    raise error


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
