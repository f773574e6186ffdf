"""The web event log at `/ui/`: sign in with a key, browse, and act as its role allows.

The session is Flask's signed, HttpOnly cookie; its key is derived from the secret key and
the admin tokens, so every process of a deployment accepts it and rotating either signs
everyone out. A session is bound to its key: once the key is revoked, it opens nothing.
The cookie names a session kept in the database: signing out deletes it, so the old
cookie opens nothing, on any process or host. Wrong tokens are counted per client
(`SIGN_IN_ATTEMPTS` per `SIGN_IN_WINDOW`; past them each wrong one waits, then `429` with
`Retry-After`); a right one always signs in, whatever others got wrong. Every form
carries a per-session CSRF token; every answer forbids framing, sniffing and any script.
Nothing but the sign-in page is served without a session, and the token is only ever
POSTed, never put in a URL.

One module per area (core: the blueprint, sessions, sign-in; dashboard, events, voices, routes,
receipts, team: audit and keys); importing this package registers every page on the one blueprint, `ui`.
"""

from __future__ import annotations

from webhook_app.web.pages import (  # noqa: F401 - each registers its pages
    dashboard,
    events,
    receipts,
    route_forms,
    routes,
    team,
    voices,
)
from webhook_app.web.pages.core import (
    SECURITY_HEADERS,
    SLOW_DOWN_SECONDS,
    bp,
    configure_sessions,
    signed_in,
)

__all__ = ["SECURITY_HEADERS", "SLOW_DOWN_SECONDS", "bp", "configure_sessions", "signed_in"]
