"""The delivery recipes users would write instead of the service's workers, on Redis.

A Celery task with `acks_late` (the message is acknowledged once the task returns, so a
worker that dies mid-delivery leaves it to another) and a plain RQ job, run by RQ's
`SimpleWorker` (no fork per job). Each process keeps one `httpx.Client`, so connections
to the target stay open; each signs the CloudEvent as the service's `forward` handler does
(Standard Webhooks: HMAC-SHA256 over id, timestamp and body) and raises on an answer that
is not 2xx, so the queue retries it. Neither keeps a record of its attempts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

import httpx
from celery import Celery

REDIS_URL = os.environ.get("RECIPE_REDIS_URL", "redis://127.0.0.1:6379/14")
TARGET = os.environ.get("RECIPE_TARGET_URL", "http://127.0.0.1:9/unset")
SECRET = base64.b64decode(os.environ.get("RECIPE_SECRET", "c2VjcmV0").removeprefix("whsec_"))

client = httpx.Client(timeout=10)


def deliver(document: dict[str, Any]) -> None:
    """Post one CloudEvent to the target, signed; raises for anything but a 2xx."""
    body = json.dumps(document)
    stamp = str(int(time.time()))
    signed = f"{document['id']}.{stamp}.{body}".encode()
    signature = base64.b64encode(hmac.new(SECRET, signed, hashlib.sha256).digest()).decode()
    response = client.post(
        TARGET,
        content=body,
        headers={
            "Content-Type": "application/cloudevents+json",
            "webhook-id": document["id"],
            "webhook-timestamp": stamp,
            "webhook-signature": f"v1,{signature}",
        },
    )
    response.raise_for_status()


app = Celery("recipe_dispatch", broker=REDIS_URL)
app.conf.update(task_acks_late=True, task_ignore_result=True, worker_hijack_root_logger=False)


@app.task(bind=True, acks_late=True, max_retries=5)
def deliver_task(self: Any, document: dict[str, Any]) -> None:
    try:
        deliver(document)
    except httpx.HTTPError as exc:
        raise self.retry(exc=exc, countdown=1) from exc
