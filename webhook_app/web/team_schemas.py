"""The shapes of keys and the audit log in the API."""

from __future__ import annotations

from marshmallow import Schema, fields

from webhook_app.model.states import Role, values
from webhook_app.web.schemas import Moment


class KeyBody(Schema):
    name = fields.String(required=True, metadata={"description": "a-z, 0-9, '.', '_', '-'; up to 63"})
    role = fields.String(required=True, metadata={"enum": list(values(Role))})


class ListedKey(Schema):
    name = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": list(values(Role))})
    source = fields.String(
        required=True,
        metadata={
            "enum": ["database", "environment"],
            "description": "environment: WEBHOOK_APP_ADMIN_TOKENS",
        },
    )
    created_at = Moment(allow_none=True, required=True)
    last_used_at = Moment(
        allow_none=True, required=True, metadata={"description": "Kept to the minute, not per request"}
    )
    revoked_at = Moment(allow_none=True, required=True)


class KeyList(Schema):
    items = fields.List(fields.Nested(ListedKey), required=True)


class NewKey(Schema):
    name = fields.String(required=True)
    role = fields.String(required=True)
    key = fields.String(required=True, metadata={"description": "Shown this once; kept only as a hash"})


class AuditEntry(Schema):
    id = fields.Integer(required=True)
    at = Moment(required=True)
    actor = fields.String(required=True, metadata={"description": "A key's name, env-N, or cli:user@host"})
    action = fields.String(required=True, metadata={"description": "route.pause, key.revoke, prune, …"})
    target = fields.String(required=True)
    details = fields.Dict(
        required=True, metadata={"description": "before/after of a configuration (secrets masked), counts"}
    )


class AuditPage(Schema):
    items = fields.List(fields.Nested(AuditEntry), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
