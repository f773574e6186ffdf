"""Which events to list, parsed once for the admin API, the web page and the command line.

Each gives text: the API's query string, the page's form, the command's options (whose
`--since 24h` the command turns into a time first).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load

from webhook_app.config.route_file import installed_provider
from webhook_app.store import EventFilters


class UTCMoment(fields.AwareDateTime):
    """An ISO 8601 time (UTC when it names no offset), in UTC: one whose UTC form leaves the
    years 1 to 9999 (`0001-01-01T00:00:00+14:00`) is refused as invalid, not stored as a 500."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("Its time in UTC falls outside the years 1 to 9999.") from None


class EventFilterSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # the API's own schema raises on unknown names; the page ignores them

    type = fields.String()
    provider = fields.String(validate=installed_provider)
    voice_id = fields.String()
    status = fields.String()
    since = UTCMoment()
    until = UTCMoment()


class _FilterForm(EventFilterSchema):
    """The page's form and the command's options: a blank value means no filter. (The API
    keeps the base schema: a blank time there is a malformed one.)"""

    @pre_load
    def blank_means_no_filter(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return {
            name: value.strip() for name, value in data.items() if isinstance(value, str) and value.strip()
        }


FILTER_NAMES = ("type", "provider", "voice_id", "status", "since", "until")


def event_filters(loaded: Mapping[str, Any]) -> EventFilters:
    """The store's filters from what a schema derived from `EventFilterSchema` loaded."""
    return EventFilters(**{name: loaded.get(name) for name in FILTER_NAMES})


def parse_event_filters(text: Mapping[str, str | None]) -> EventFilters:
    """`marshmallow.ValidationError` with a message per field that is not valid."""
    return event_filters(_FilterForm().load(dict(text)))
