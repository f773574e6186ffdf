"""Azure AI Speech personal voice, in one place: Azure does not call back, so this service polls.

- `mapping`: operation and resource statuses (and failure reasons) to events; key safety.
- `client`: the only code that sends the subscription key, and what Azure's answers mean.
- `poller`: tracks operations and polls them politely, one event per status change.
- `api`: `POST/GET /api/azure/operations` (the blueprint).
"""
