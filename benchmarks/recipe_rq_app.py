"""The Flask + RQ recipe, as RQ's documentation enqueues: `Queue(connection=Redis()).enqueue(...)`.

The view validates with marshmallow and enqueues the job on Redis before answering 202.
No RQ worker runs while the benchmark measures: only receiving and enqueueing are timed.
"""

from flask import Flask
from recipe_schema import REDIS_URL, process_callback, validated_callback
from redis import Redis
from rq import Queue

app = Flask(__name__)
queue = Queue(connection=Redis.from_url(REDIS_URL))


@app.post("/hooks/resemble/<token>")
def hook(token: str) -> tuple[dict, int]:
    payload = validated_callback(token)
    job = queue.enqueue(process_callback, payload)
    return {"job_id": job.id}, 202
