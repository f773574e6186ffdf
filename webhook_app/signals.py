"""In-process signals (blinker), so code can react to what happens without touching the pipeline.

- `event_recorded(sender, event=Event)`: after the event is committed (web process).
- `delivery_succeeded|delivery_failed|delivery_dead(sender, event=Event, route=str,
  delivery_id=str, attempt=int, error=str|None)`: after each attempt is committed (worker).
"""

from blinker import Namespace

_signals = Namespace()

event_recorded = _signals.signal("event_recorded")
delivery_succeeded = _signals.signal("delivery_succeeded")
delivery_failed = _signals.signal("delivery_failed")
delivery_dead = _signals.signal("delivery_dead")
