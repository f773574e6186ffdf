"""When a dead delivery stops needing attention: a later delivery of the same event to the same
route succeeded (its replay, or a replay of that replay). Such a dead delivery is *resolved*:
it leaves the dead counts and the dead list, and names the delivery that fixed it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from webhook_app.model.states import DeliveryStatus
from webhook_app.store.tables import deliveries

_later = deliveries.alias("later")


def _fixes() -> Any:
    """Deliveries that fix the one of the enclosing query: same event and route, later, succeeded."""
    return sa.and_(
        _later.c.event_id == deliveries.c.event_id,
        _later.c.route == deliveries.c.route,
        _later.c.status == DeliveryStatus.SUCCEEDED.value,
        _later.c.created_at >= deliveries.c.created_at,
        _later.c.id != deliveries.c.id,
    )


def resolved() -> sa.ColumnElement[bool]:
    """True for a dead delivery (of the enclosing query) that a later success resolved."""
    return sa.exists().where(_fixes())


def unresolved_dead() -> sa.ColumnElement[bool]:
    return sa.and_(deliveries.c.status == DeliveryStatus.DEAD.value, ~resolved())


def resolved_by() -> sa.ScalarSelect[Any]:
    """The id of the first delivery that resolved the enclosing dead one, or NULL."""
    return (
        sa.select(_later.c.id)
        .where(deliveries.c.status == DeliveryStatus.DEAD.value, _fixes())
        .order_by(_later.c.created_at, _later.c.id)
        .limit(1)
        .scalar_subquery()
    )
