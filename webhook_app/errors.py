"""The project's exception tree: every error this package raises on purpose is a `WebhookAppError`.

The classes a handler or a provider plugin uses live here (and in `provider.py`); the
others live beside the code that raises them (`outbound.OutboundError`,
`store.operations.TooManyOperations`, `reprocess.ReprocessError`, …).
"""

from __future__ import annotations


class WebhookAppError(Exception):
    """Base of every error this package raises on purpose.

    An error a person's request can cause carries how the API answers it: `status`, `code`
    and `details` (the web layer maps every one in a single handler, `web/errors.py`); the
    rest keep the defaults and are answered as unexpected.
    """

    status: int = 500
    code: str = "internal_error"
    details: object = None


class InvalidInput(WebhookAppError):
    """A request's query or body is not valid; `details` names each field at fault."""

    def __init__(
        self, message: str, details: object = None, *, status: int = 400, code: str = "invalid_query"
    ) -> None:
        super().__init__(message)
        self.details, self.status, self.code = details, status, code


class ConfigError(WebhookAppError):
    """The configuration cannot be used; the message says where and what to change."""


class HandlerError(WebhookAppError):
    """Raised by a handler to say how its failure should be treated; `status_code` (the
    target's HTTP or SMTP code) and `response` (the start of its answer) go on the record."""

    def __init__(self, message: str, *, status_code: int | None = None, response: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = response


class RetryableError(HandlerError):
    """The delivery may succeed later: retry with backoff, or after `retry_after` seconds."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        response: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, response=response)
        self.retry_after = retry_after


class PermanentError(HandlerError):
    """Retrying cannot help (e.g. the target URL is gone): the delivery is dead at once."""
