"""Realistic Resemble callbacks, shaped like the documented ones, for `simulate`, `routes check
--send-test` and the benchmarks."""

from __future__ import annotations

import uuid
from typing import Any

from webhook_app.model.events import EventType


def resemble_callback(status: str, voice_id: str | None = None) -> dict[str, Any]:
    voice_id = voice_id or str(uuid.uuid4())
    if status == "finished":
        return {"ok": True, "id": voice_id, "status": "finished", "recordings": [], "issue": None}
    if status == "consent_validation_failed":
        return {
            "ok": False,
            "id": voice_id,
            "status": "consent_validation_failed",
            "issue": "The consent statement does not match the required text.",
            "recordings": [],
        }
    if status != "dataset_issue":
        return {"ok": False, "id": voice_id, "status": status, "issue": None, "recordings": []}
    return {
        "ok": "false",
        "id": voice_id,
        "status": status,
        "issue": "3 recordings are silent or too noisy to train on.",
        "recordings": [
            {
                "uuid": str(uuid.uuid4()),
                "name": f"take_{n:03d}.wav",
                "transcript": text,
                "stoi_score": stoi,
                "pesq_score": pesq,
                "si_dr_score": sdr,
                "resemble_sample_score": sample,
                "is_active": active,
                "is_outlier": outlier,
                "is_silent": silent,
            }
            for n, (text, stoi, pesq, sdr, sample, active, outlier, silent) in enumerate(
                [
                    (
                        "The quick brown fox jumps over the lazy dog.",
                        "0.41",
                        "1.2",
                        "3.5",
                        "0.22",
                        "true",
                        "true",
                        "false",
                    ),
                    ("She sells sea shells by the sea shore.", 0.12, 1.05, -2.1, 0.08, True, False, True),
                    (
                        "How much wood would a woodchuck chuck?",
                        "0.55",
                        "1.9",
                        "7.25",
                        "0.35",
                        "false",
                        "true",
                        "false",
                    ),
                ],
                start=1,
            )
        ],
    }


STATUS_OF = {
    EventType.TRAINING_SUCCEEDED: "finished",
    EventType.DATASET_ISSUE: "dataset_issue",
    EventType.CONSENT_FAILED: "consent_validation_failed",
    EventType.TRAINING_FAILED: "failed",
    EventType.STATUS_CHANGED: "processing",
}
