"""The Flask + RQ recipe, as RQ's documentation enqueues: `Queue(connection=Redis()).enqueue(...)`.

The view validates with marshmallow and enqueues the job on Redis before answering 202.
No RQ worker runs while the benchmark measures: only receiving and enqueueing are timed.
"""

from flask import Flask, abort, request
from marshmallow import ValidationError
from recipe_schema import REDIS_URL, process_callback, schema, token_matches
from redis import Redis
from rq import Queue

app = Flask(__name__)
queue = Queue(connection=Redis.from_url(REDIS_URL))


@app.post("/hooks/resemble/<token>")
def hook(token: str) -> tuple[dict, int]:
    if not token_matches(token):
        abort(404)
    try:
        payload = schema.load(request.get_json())
    except ValidationError as error:
        return {"errors": error.messages}, 422
    job = queue.enqueue(process_callback, payload)
    return {"job_id": job.id}, 202
