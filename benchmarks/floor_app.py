"""The floor: a bare Flask view answering 204, served by the same gunicorn settings as the real app."""

from flask import Flask

app = Flask(__name__)


@app.post("/hooks/resemble/<token>")
def hook(token: str) -> tuple[str, int]:
    return "", 204
