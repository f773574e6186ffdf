"""The Flask + Celery recipe, as Flask's "Background Tasks with Celery" page builds it.

`celery_init_app` is that page's, with Redis as broker; the view validates with
marshmallow and calls `.delay()`, so the answer comes once the task is in Redis. No Celery
worker runs while the benchmark measures: only receiving and enqueueing are timed.
"""

from celery import Celery, Task, shared_task
from flask import Flask
from recipe_schema import REDIS_URL, process_callback, validated_callback


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


app = Flask(__name__)
app.config.from_mapping(CELERY={"broker_url": REDIS_URL, "task_ignore_result": True})
celery_app = celery_init_app(app)


@shared_task(ignore_result=True)
def handle_callback(payload: dict) -> None:
    process_callback(payload)


@app.post("/hooks/resemble/<token>")
def hook(token: str) -> tuple[dict, int]:
    payload = validated_callback(token)
    result = handle_callback.delay(payload)
    return {"task_id": result.id}, 202
