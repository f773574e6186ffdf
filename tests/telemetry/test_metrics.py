"""`/metrics`: counters move with traffic, summed across gunicorn workers and the worker process."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import load_fixture, wait_until
from tests.processes import Process, environment, free_port, wait_for_http


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{base}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.slow
def test_counters_move_and_agree_whichever_gunicorn_worker_answers(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = Process(
        ["serve", "--port", str(port), "--workers", "3"], environment(database_url, tmp_path), tmp_path
    )
    try:
        wait_for_http(base, serve)
        token = json.loads((tmp_path / "webhook_app.tokens.json").read_text())["resemble_tokens"][0]
        before = scrape(base)
        assert value(before, "webhook_app_deliveries_backlog", status="pending") == 0
        for n in range(6):
            body = load_fixture("resemble_dataset_issue.json") | {"id": f"voice-{n}"}
            assert httpx.post(f"{base}/hooks/resemble/{token}", json=body).status_code == 202
        assert httpx.post(f"{base}/hooks/resemble/{token}", json=body).status_code == 200  # a duplicate
        assert httpx.post(f"{base}/hooks/resemble/{token}", json={"status": "x"}).status_code == 422
        assert httpx.post(f"{base}/hooks/resemble/nope", json={}).status_code == 404

        def delivered() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            samples = scrape(base)
            return (
                samples
                if value(samples, "webhook_app_delivery_attempts_total", route="log", outcome="succeeded")
                == 6
                else None
            )

        samples = wait_until(delivered, timeout=30)
        for _ in range(5):  # each scrape may land on another of the 3 web workers: all agree
            again = scrape(base)
            for name, labels, expected in [
                ("webhook_app_callbacks_received_total", {"provider": "resemble", "outcome": "accepted"}, 6),
                ("webhook_app_callbacks_received_total", {"provider": "resemble", "outcome": "duplicate"}, 1),
                ("webhook_app_callbacks_received_total", {"provider": "resemble", "outcome": "rejected"}, 1),
                ("webhook_app_callbacks_received_total", {"provider": "resemble", "outcome": "not_found"}, 1),
                (
                    "webhook_app_events_recorded_total",
                    {"type": "voice.dataset.issue", "provider": "resemble"},
                    6,
                ),
                ("webhook_app_delivery_attempts_total", {"route": "log", "outcome": "succeeded"}, 6),
                ("webhook_app_delivery_latency_seconds_count", {"route": "log"}, 6),
            ]:
                assert value(again, name, **labels) == expected, (name, labels)
        assert value(samples, "webhook_app_deliveries_backlog", status="pending") == 0
        assert value(samples, "webhook_app_oldest_pending_delivery_age_seconds") == 0
        assert value(samples, "webhook_app_azure_operations", state="active") == 0
    finally:
        serve.close()
