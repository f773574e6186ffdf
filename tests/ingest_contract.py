"""The security contract every provider endpoint must keep, as a base class each provider's tests reuse.

Wrong token, oversize body, bad JSON and duplicates: nothing stored where nothing was
authenticated, a clear JSON error, and no second dispatch for a duplicate.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from webhook_app.store.tables import deliveries, events, receipts


def count(server: Any, table: sa.Table) -> int:
    with server.store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def assert_error_body(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"]
    if code:
        assert error["code"] == code
    return error


class IngestSecurityContract:
    """Subclasses provide `valid_body()` and `post(server, body, token=None, **kwargs)`."""

    wrong_token = "not-a-token-anyone-was-given"

    def valid_body(self) -> Any:
        raise NotImplementedError

    def post(self, server: Any, body: Any, token: str | None = None, **kwargs: Any) -> Any:
        raise NotImplementedError

    def test_wrong_token_is_404_and_stores_nothing(self, server: Any) -> None:
        response = self.post(server, self.valid_body(), token=self.wrong_token)
        assert_error_body(response, 404, "not_found")
        assert count(server, receipts) == count(server, events) == 0

    def test_body_over_the_limit_is_413_and_stores_nothing(self, server: Any) -> None:
        oversized = b'{"id": "v", "status": "finished", "pad": "' + b"x" * (1024 * 1024) + b'"}'
        response = self.post(server, oversized, headers={"Content-Type": "application/json"})
        assert_error_body(response, 413, "payload_too_large")
        assert count(server, receipts) == 0

    def test_bad_json_is_400_and_kept_as_rejected(self, server: Any) -> None:
        response = self.post(server, b'{"id": "v", "status": ', headers={"Content-Type": "application/json"})
        assert_error_body(response, 400, "invalid_json")
        assert count(server, receipts) == 1 and count(server, events) == 0

    def test_non_json_content_type_is_415(self, server: Any) -> None:
        response = self.post(server, b"id=v&status=finished", headers={"Content-Type": "text/plain"})
        assert_error_body(response, 415, "unsupported_media_type")
        assert count(server, events) == 0

    def test_duplicate_answers_200_with_the_original_ids_and_no_second_dispatch(self, server: Any) -> None:
        first = self.post(server, self.valid_body())
        assert first.status_code == 202, first.text
        second = self.post(server, self.valid_body())
        assert second.status_code == 200
        assert second.json() == {**first.json(), "duplicate": True}
        assert count(server, events) == 1
        assert count(server, deliveries) == len(server.app.extensions["webhook_app"].settings.routes)
