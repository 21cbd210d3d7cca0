"""Which address a request comes from when reverse proxies stand between the client and the app.

A proxy appends the address it was connected from to `X-Forwarded-For`, so the header reads "client, proxy 1,
proxy 2" and the app's direct peer is the last proxy. Everything left of the first hop we trust was written by
someone we don't know, so the client is the rightmost address that is not a trusted proxy; an attendee who
sends a header of their own only adds entries on its left, which are never reached.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# More hops than any real chain of proxies; a longer header is read from its right end only.
MAX_HOPS = 20


@dataclass(frozen=True)
class TrustedProxies:
    """The networks whose connections may tell us, in X-Forwarded-For, whom they forward."""

    networks: tuple[IPNetwork, ...] = ()

    def trusts(self, address: IPAddress) -> bool:
        return any(address.version == network.version and address in network for network in self.networks)


def parse_trusted_proxies(text: str) -> TrustedProxies:
    """TRUSTED_PROXIES as written: addresses or CIDR networks, separated by commas or spaces; "" trusts none.

    Raises ValueError naming the setting and the bad entry.
    """
    networks = []
    for entry in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"Setting TRUSTED_PROXIES: {entry!r} is not an IP address or network "
                             "(e.g. 127.0.0.1, 10.0.0.0/8, ::1)") from None
    return TrustedProxies(tuple(networks))


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: TrustedProxies) -> str | None:
    """The client's address: `peer` (the connection's other end) unless it is a trusted proxy; then the
    rightmost address in `forwarded_for` (every X-Forwarded-For header, in the order received) that is not.

    Returns None when `peer` is None or not an address. When every hop is trusted the leftmost is the client
    (a trusted machine made the request itself). An entry that is not an address ends the walk: whatever it
    stands for cannot be told apart from anyone else, so the hop that passed it on counts as the client.
    """
    current = _parse_address(peer) if peer is not None else None
    if current is None:
        return None
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    hops = [hop for hop in hops if hop][-MAX_HOPS:]
    while trusted.trusts(current) and hops:
        previous = _parse_address(hops.pop())
        if previous is None:
            break
        current = previous
    return str(current)


def _parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it: plain, "[v6]:port" or "v4:port"; IPv4-mapped IPv6 as IPv4."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def server_believes_forwarded_for(environ: Mapping[str, str]) -> bool:
    """Whether the Streamlit server in this process may already have swapped the peer for a header's claim.

    Streamlit 1.67 serves through uvicorn with its proxy headers on: for a peer listed in FORWARDED_ALLOW_IPS
    (unset: 127.0.0.1 and ::1) uvicorn replaces the connection's address with one taken from X-Forwarded-For
    before the app sees it, so any local process, or a local proxy that passes a client's header on, could
    choose its own address. Our launchers set FORWARDED_ALLOW_IPS to "" and leave the decision to
    `client_address`; where it is not "", an address on a connection that carried the header is not evidence.
    """
    return environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1").strip() != ""
