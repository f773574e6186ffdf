"""What a team writes from Resemble's callback documentation: a marshmallow schema for the body.

Shared by the two recipes (`recipe_celery_app.py`, `recipe_rq_app.py`), the usual thing to
build instead of this service: a Flask view that checks the token, validates the body with
this schema, enqueues a job on Redis and answers 202.
"""

import hmac
import os
from typing import Any

from flask import abort, make_response, request
from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, validate

TOKEN = os.environ["RECIPE_TOKEN"]
REDIS_URL = os.environ.get("RECIPE_REDIS_URL", "redis://127.0.0.1:6379/15")


class Recording(Schema):
    class Meta:
        unknown = EXCLUDE

    uuid = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    transcript = fields.String(allow_none=True)
    stoi_score = fields.Float(allow_none=True)
    pesq_score = fields.Float(allow_none=True)
    si_dr_score = fields.Float(allow_none=True)
    resemble_sample_score = fields.Float(allow_none=True)
    is_active = fields.Boolean(allow_none=True)
    is_outlier = fields.Boolean(allow_none=True)
    is_silent = fields.Boolean(allow_none=True)


class ResembleCallback(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    status = fields.String(required=True, validate=validate.Length(min=1, max=100))
    ok = fields.Boolean(allow_none=True)
    issue = fields.String(allow_none=True)
    recordings = fields.List(fields.Nested(Recording), load_default=list)


schema = ResembleCallback()


def validated_callback(token: str) -> dict[str, Any]:
    """The view's checks before enqueueing: the token (404) and the schema (422 with its messages)."""
    if not hmac.compare_digest(token.encode(), TOKEN.encode()):
        abort(404)
    try:
        return schema.load(request.get_json())
    except ValidationError as error:
        abort(make_response({"errors": error.messages}, 422))


def process_callback(payload: dict) -> None:
    """The job a worker would run (notify Slack, update the voice…); no worker runs while measuring."""
