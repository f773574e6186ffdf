"""The address a request came from, through the reverse proxies the operator trusts.

Behind a router or a reverse proxy every request's peer is the proxy, so a limit keyed on
the peer lumps everyone together. `X-Forwarded-For` names the client, but anyone can send
it: it is read only when the peer is a trusted proxy (`WEBHOOK_APP_TRUSTED_PROXIES`), and
then from the right, past every trusted proxy, to the first address none of them is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the nearest
    address in `X-Forwarded-For` that is not one."""
    if not peer:
        return "unknown"
    if not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # not an address: never a proxy of ours
    return any(ip in network for network in trusted)
