"""One parser for event filters: the web page and the command line use what the API uses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from marshmallow import ValidationError

from webhook_app.usecases.filters import parse_event_filters


def test_blank_values_mean_no_filter_and_times_without_a_zone_are_utc() -> None:
    filters = parse_event_filters(
        {"type": "", "voice_id": " v1 ", "since": "2026-11-30T06:45", "until": None}
    )
    assert filters.type is None and filters.voice_id == "v1" and filters.until is None
    assert filters.since == datetime(2026, 11, 30, 6, 45, tzinfo=UTC)


@pytest.mark.parametrize(("name", "value"), [("provider", "elevenlabs"), ("since", "yesterday-ish")])
def test_a_value_that_is_not_valid_names_its_field(name: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_event_filters({name: value})
    assert set(info.value.messages) == {name}
