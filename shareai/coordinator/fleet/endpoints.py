"""Which `endpoint_url` a node may advertise: the coordinator dials it with the org's prompts.

    rule = EndpointRule(allowed_networks=(ip_network("10.0.0.0/8"),))
    error = rule.check("http://10.0.0.5:8000/v1", peer="ipv4:10.0.0.5:51234")   # None: allowed

The rule, decided without name resolution (a DNS answer can change between the check and the dial):
- the scheme is http or https, with no user@ part, spaces, control characters or backslashes (the
  URL is parsed by yarl, as the gateway's client will parse it, so no two parsers disagree);
- the host is an IP literal equal to the address the node's gRPC connection came from (the peer),
  or inside one of `[nodes] allowed_networks` (CIDRs; for nodes behind NAT or a proxy);
- a node connecting from a loopback address (it runs on the coordinator's machine) may advertise
  any loopback address or `localhost`.
Any other host name is refused, so a node cannot aim the coordinator at a metadata service
(169.254.169.254), another machine's admin port or a name that resolves somewhere else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _plain(addr: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) as the IPv4 address they carry."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def peer_address(peer: str) -> IPAddress | None:
    """The IP of a gRPC peer string ("ipv4:1.2.3.4:5", "ipv6:[::1]:5"); None for other transports."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        host = rest.rpartition(":")[0]
    elif kind == "ipv6":
        host = rest.rpartition("]")[0].lstrip("[")
    else:
        return None
    try:
        return _plain(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class EndpointRule:
    allowed_networks: Sequence[IPNetwork] = ()

    def check(self, url: str, peer: str) -> str | None:
        """None if a node connected from `peer` may advertise `url`; otherwise why not (one line)."""
        # Parsed by yarl, the parser of the client that will dial it (no parser differential), and
        # strict about what could make two parsers disagree.
        if any(c.isspace() or c == "\\" or not c.isprintable() for c in url):
            return "endpoint_url must not contain spaces, control characters or backslashes"
        try:
            parts = URL(url)
            host = parts.host
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except (ValueError, TypeError):
            return f"endpoint_url {url!r} is not a valid URL"
        if parts.scheme not in ("http", "https") or not host:
            return "endpoint_url must be an http(s) URL with a host"
        if parts.raw_user is not None or parts.raw_password is not None:
            return "endpoint_url must not carry a user or password (user@host)"
        source = peer_address(peer)
        try:
            target: IPAddress | None = _plain(ipaddress.ip_address(host.split("%", 1)[0]))
        except ValueError:
            target = None
        loopback_peer = source is not None and source.is_loopback
        if target is None:
            if host.lower() == "localhost" and loopback_peer:
                return None
            return (f"endpoint_url host {host!r} must be an IP address (the address this node connects from, "
                    f"{source or 'unknown'}, or one inside [nodes] allowed_networks)")
        if target == source or (loopback_peer and target.is_loopback):
            return None
        if any(target in net for net in self.allowed_networks if net.version == target.version):
            return None
        return (f"endpoint_url host {target} is neither the address this node connects from ({source or 'unknown'}) "
                "nor inside [nodes] allowed_networks")
