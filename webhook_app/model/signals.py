"""In-process signals (blinker), so code can react to what happens without touching the pipeline.

- `event_recorded(sender, event=Event)`: after the event is committed (web process).
- `delivery_succeeded|delivery_failed|delivery_dead(sender, event=Event, route=str,
  delivery_id=str, attempt=int, error=str|None)`: after each attempt is committed (worker).
- `callback_received(sender, provider=str, outcome=str)`: every request to a hook, with
  `accepted`, `duplicate`, `rejected`, `not_found` or `too_large`.
Providers announce their own (a polled provider's polls, in its package).
- `server_error(sender, status=int, endpoint=str)`: every answer with a 5xx status.
- `secrets_learned(sender, values=tuple[str, ...])`: secrets this process came to hold after
  start (a route's options read from the database), to keep out of its logs.
"""

from blinker import Namespace

_signals = Namespace()

event_recorded = _signals.signal("event_recorded")
delivery_succeeded = _signals.signal("delivery_succeeded")
delivery_failed = _signals.signal("delivery_failed")
delivery_dead = _signals.signal("delivery_dead")
callback_received = _signals.signal("callback_received")
server_error = _signals.signal("server_error")
secrets_learned = _signals.signal("secrets_learned")
