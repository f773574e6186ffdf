"""What a person should read about an event, shared by the Slack and email handlers so both say the same."""

from __future__ import annotations

from dataclasses import dataclass

from webhook_app.events import Event, EventType, Recording

HEADLINES: dict[str, tuple[str, str]] = {
    EventType.TRAINING_SUCCEEDED: ("✅", "Voice training succeeded"),
    EventType.DATASET_ISSUE: ("⚠️", "Dataset issue"),
    EventType.CONSENT_FAILED: ("⛔", "Consent validation failed"),
    EventType.TRAINING_FAILED: ("❌", "Voice training failed"),
    EventType.STATUS_CHANGED: ("ℹ️", "Voice status changed"),
    EventType.OPERATION_STALLED: ("⏳", "Voice operation stalled"),
}

LOW_SCORES = {"stoi_score": 0.7, "pesq_score": 2.0, "si_sdr_score": 10.0, "resemble_sample_score": 0.5}
"""Below these a score is called low (STOI 0–1, PESQ 1–4.5, SI-SDR in dB, Resemble's 0–1)."""


@dataclass(frozen=True)
class Description:
    emoji: str
    headline: str
    facts: list[tuple[str, str]]
    issue: str | None
    flagged: list[str]

    test: bool = False

    @property
    def title(self) -> str:
        return f"{self.emoji} {'TEST: ' if self.test else ''}{self.headline}"


def describe(event: Event) -> Description:
    emoji, headline = HEADLINES.get(event.type, ("ℹ️", str(event.type)))
    data = event.data
    facts = [("Provider", data.provider.capitalize()), ("Voice", data.voice_id), ("Status", data.status)]
    if data.speaker_profile_id:
        facts.append(("Speaker profile", data.speaker_profile_id))
    if data.error and data.error.code != data.status:
        facts.append(("Reason", data.error.code))
    facts.append(("Event", event.id))
    issue = data.issue or (data.error.message if data.error else None)
    # Resemble lists only recordings it found a problem with; keep them all, ours first.
    ordered = sorted(data.recordings, key=lambda r: not problems(r))
    flagged = [recording_line(r) for r in ordered]
    return Description(emoji, headline, facts, issue, flagged, test=event.test)


def problems(recording: Recording) -> list[str]:
    """Why a recording is flagged: its flags, then each score below its threshold."""
    found = []
    if recording.is_outlier:
        found.append("outlier")
    if recording.is_silent:
        found.append("silent")
    if recording.is_active is False:
        found.append("inactive")
    for name, floor in LOW_SCORES.items():
        value = getattr(recording, name)
        if value is not None and value < floor:
            found.append(f"low {SCORE_LABELS[name]}")
    return found


SCORE_LABELS = {
    "stoi_score": "STOI",
    "pesq_score": "PESQ",
    "si_sdr_score": "SI-SDR",
    "resemble_sample_score": "score",
}


def recording_line(recording: Recording) -> str:
    """`take_001.wav: outlier, low STOI (STOI 0.41 · PESQ 1.20 · SI-SDR 3.5 dB · score 0.22)`."""
    label = recording.name or recording.id or "unnamed recording"
    scores = []
    for name, label_text in SCORE_LABELS.items():
        value = getattr(recording, name)
        if value is not None:
            unit = " dB" if name == "si_sdr_score" else ""
            scores.append(f"{label_text} {value:.2f}{unit}")
    reasons = ", ".join(problems(recording)) or "listed by the provider"
    return f"{label}: {reasons}" + (f" ({' · '.join(scores)})" if scores else "")
