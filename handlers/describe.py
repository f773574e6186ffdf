"""What a person should read about an event, shared by the Slack and email handlers so both say the same."""

from __future__ import annotations

from dataclasses import dataclass

from webhook_app.model.events import Event, EventData, EventType, OpsData, Recording
from webhook_app.model.recordings import SCORE_LABELS, problems, summary_line

HEADLINES: dict[str, tuple[str, str]] = {
    EventType.TRAINING_SUCCEEDED: ("✅", "Voice training succeeded"),
    EventType.DATASET_ISSUE: ("⚠️", "Dataset issue"),
    EventType.CONSENT_FAILED: ("⛔", "Consent validation failed"),
    EventType.TRAINING_FAILED: ("❌", "Voice training failed"),
    EventType.STATUS_CHANGED: ("ℹ️", "Voice status changed"),
    EventType.OPERATION_STALLED: ("⏳", "Voice operation stalled"),
    EventType.OPS_DELIVERY_DEAD: ("💀", "A delivery is dead"),
    EventType.OPS_ROUTE_PAUSED: ("⏸️", "A route paused itself"),
    EventType.OPS_ROUTE_RESUMED: ("▶️", "A route works again"),
    EventType.OPS_AZURE_UNAUTHORIZED: ("🔑", "Azure refused the subscription key"),
}


@dataclass(frozen=True)
class Description:
    emoji: str
    headline: str
    concerning: str
    """What it is about, for one line: `Resemble voice narrator-7`, `route ops-slack`."""
    facts: list[tuple[str, str]]
    issue: str | None
    flagged: list[str]
    summary: str | None = None
    """`3 of 42 recordings flagged: 2 outlier, …`: what heads the list of recordings."""

    test: bool = False

    @property
    def title(self) -> str:
        return f"{self.emoji} {'TEST: ' if self.test else ''}{self.headline}"


def describe(event: Event) -> Description:
    emoji, headline = HEADLINES.get(event.type, ("ℹ️", str(event.type)))
    if isinstance(event.data, OpsData):
        return _describe_ops(event, event.data, emoji, headline)
    data: EventData = event.data
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
    concerning = f"{data.provider.capitalize()} voice {data.voice_id}"
    summary = summary_line(data.recordings, data.recordings_omitted)
    return Description(emoji, headline, concerning, facts, issue, flagged, summary, test=event.test)


def _describe_ops(event: Event, data: OpsData, emoji: str, headline: str) -> Description:
    """The service's own news: which route or operation, what happened, what to do."""
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    issue = error.get("message") if error else None
    if event.type is EventType.OPS_DELIVERY_DEAD:
        facts = [
            ("Route", str(data.get("route"))),
            ("Event", f"{data.get('event_type')} ({data.get('event_id')})"),
            ("Voice", str(data.get("voice_id"))),
            ("Attempts", str(data.get("attempts"))),
        ]
        issue = f"{issue or 'It failed.'} Replay it once the route works: webhook-app events replay " + (
            f"{data.get('event_id')} --route {data.get('route')}"
        )
        concerning = f"route {data.get('route')}"
    elif event.type is EventType.OPS_ROUTE_PAUSED:
        facts = [
            ("Route", str(data.get("route"))),
            ("Reason", "paused by hand" if data.get("reason") == "manual" else "consecutive failures"),
            ("Consecutive failures", str(data.get("consecutive_failures"))),
        ]
        concerning = f"route {data.get('route')}"
        issue = (issue + " " if issue else "") + (
            "Its deliveries wait (spending no attempts) and one is tried now and then; "
            "the route resumes by itself when that works, or: webhook-app routes resume "
            + str(data.get("route"))
        )
    elif event.type is EventType.OPS_ROUTE_RESUMED:
        facts = [
            ("Route", str(data.get("route"))),
            ("Reason", "resumed by hand" if data.get("reason") == "manual" else "a probe succeeded"),
            ("Paused for", _duration(data.get("paused_seconds"))),
        ]
        concerning = f"route {data.get('route')}"
    else:
        facts = [
            ("Operation", str(data.get("operation_id"))),
            ("Resource", str(data.get("resource_id"))),
            ("Azure answered", str(data.get("status_code"))),
        ]
        concerning = f"Azure operation {data.get('operation_id')}"
        issue = (
            "Polling of this operation stopped. Check WEBHOOK_APP_AZURE_SPEECH_KEY (and that it "
            "belongs to this region's Speech resource), then track the operation again."
        )
    facts.append(("Event", event.id))
    return Description(emoji, headline, concerning, facts, issue, [], None, test=event.test)


def _duration(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "unknown"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if minutes else f"{secs} s"


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
