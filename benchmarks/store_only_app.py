"""A second reference for ingest: a bare Flask view that only stores each callback, then answers 204.

It writes what the real endpoint writes (a receipt with the body, one event, one delivery,
through the same `Store`), but checks no token and parses, validates and normalizes
nothing, and sends no body back. The gap between the floor and this view is what storing
before acknowledging costs on its own; the gap between this view and the real endpoint is
everything else the service does.
"""

import dataclasses
import os
from datetime import timedelta

from flask import Flask, request

from webhook_app.model.clock import SystemClock
from webhook_app.model.events import new_id
from webhook_app.providers.resemble import callbacks as resemble
from webhook_app.providers.resemble.samples import resemble_callback
from webhook_app.store import NewReceipt, PlannedDelivery, Store

app = Flask(__name__)
store = Store.from_url(os.environ["WEBHOOK_APP_DATABASE_URL"])
clock = SystemClock()
(template,) = resemble.to_events(
    resemble.validate_callback(resemble_callback("dataset_issue")), receipt_id=None, received_at=clock.now()
)


@app.post("/hooks/resemble/<token>")
def hook(token: str) -> tuple[str, int]:
    receipt = NewReceipt(
        provider=resemble.PROVIDER,
        received_at=clock.now(),
        body=request.get_data(),
        headers=dict(request.headers),
        content_type=request.content_type,
    )
    event = dataclasses.replace(template, id=new_id("evt"), receipt_id=receipt.id, time=receipt.received_at)
    store.ingest.record_callback(
        receipt,
        [event],
        [PlannedDelivery(event_id=event.id, route="log")],
        dedupe_key=new_id("key"),
        dedupe_window=timedelta(days=1),
    )
    return "", 204
