"""`/ui/azure`: the tracked Azure operations as a page, each with what to do about it; and
Azure's panels on the service's pages (a dashboard card, its counts, a voice's operations)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, render_template, request

from webhook_app.model.states import OperationState, values
from webhook_app.plugins.provider import Panel
from webhook_app.providers.azure.operations import OperationStore, TrackedOperation
from webhook_app.services import services
from webhook_app.web.pages import signed_in

bp = Blueprint("azure_ui", __name__, url_prefix="/ui/azure", template_folder="templates")
SHOWN = 200


def what_to_do(operation: TrackedOperation) -> str:
    """The next step for a person, by the operation's tracking state."""
    if operation.state == OperationState.ACTIVE:
        return "Nothing: it is polled until Azure says it finished."
    if operation.state == OperationState.FINISHED:
        return "Nothing: its outcome is on the voice's timeline."
    if operation.state == OperationState.STALLED:
        return (
            "It did not finish within WEBHOOK_APP_AZURE_MAX_AGE, or Azure no longer knows it: look at the "
            "resource in Azure, and create it again (webhook-app azure create-…) if it is gone."
        )
    return (
        "Polling stopped on Azure's refusal (see the error): fix it (a wrong or missing "
        "WEBHOOK_APP_AZURE_SPEECH_KEY is the usual cause), then track the operation again with "
        f"webhook-app azure track '{operation.operation_url}' --kind {operation.kind} "
        f"--resource-id {operation.resource_id}."
    )


@bp.get("/")
@signed_in
def operations() -> str:
    state = request.args.get("state") or None
    state = state if state in values(OperationState) else None
    found = OperationStore(services().store).recent(state=state, limit=SHOWN)
    return render_template(
        "ui/azure.html",
        operations=found,
        advice={op.id: what_to_do(op) for op in found},
        state=state,
        states=values(OperationState),
    )


def panel(place: str, operations: OperationStore, context: Mapping[str, Any]) -> Panel | None:
    """The dashboard's card of stalled or stopped operations, the counts by state below the
    charts, and an Azure voice's operations on its page."""
    if place == "attention":
        stopped = context["attention"]["azure_operations"]
        only = [state for state in (OperationState.ERROR, OperationState.STALLED) if stopped[state.value]]
        return Panel(
            "ui/azure_card.html", {"stopped": stopped, "state": only[0].value if len(only) == 1 else None}
        )
    if place == "dashboard" and context["stats"].get("azure_operations"):
        return Panel("ui/azure_counts.html", {"counts": context["stats"]["azure_operations"]})
    if place == "voice" and context["provider"] == "azure":
        found = operations.of_resource(context["voice_id"])
        return Panel("ui/azure_voice.html", {"operations": found}) if found else None
    return None
