"""Where a webhook may point: public addresses only, unless the operator allows a network.

A webhook makes the line open connections wherever a party says. Without this policy any party
could make it probe the operator's own network — loopback services, private ranges, a cloud's
metadata service — and read the answers in the delivery errors. So a target's host must
resolve only to public addresses (every address it resolves to: a name that also resolves to
a private one is refused), unless the address lies in a network of the line's
``webhook_allow`` (configuration; tests allow loopback). The check runs when the webhook is
set (a 400 naming the reason) and again before each delivery, which then connects to the very
address it checked: the name is not resolved again in between (DNS can change).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from urllib.parse import urlsplit

__all__ = ["IPAddress", "Resolver", "Target", "TargetRefused", "check_target", "resolve",
           "why_not_public"]

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
"""``(host, port) -> addresses``: the system's resolver by default, a fake in tests."""

RESOLVE_TIMEOUT_S = 5.0  # a name that takes longer to resolve is refused (not retried here)

# Cloud instance-metadata services: AWS, GCP, Azure, OpenStack (169.254.169.254), AWS over
# IPv6 (fd00:ec2::254), Alibaba (100.100.100.200), ECS task metadata (169.254.170.2).
METADATA = frozenset(ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2"))
SHARED = ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
NAT64 = ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: an IPv4 address inside
NAT64_LOCAL = ip_network("64:ff9b:1::/48")  # RFC 8215 local-use NAT64


class TargetRefused(Exception):
    """The target may not be used; ``reason`` is a short category a party may see."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Target:
    """A checked webhook target: the URL's host and port, and the address to connect to."""

    host: str
    port: int
    address: IPAddress


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64 or address in NAT64_LOCAL:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d, deprecated "compatible"
        return IPv4Address(int(address))
    return None


def _category(address: IPAddress) -> str | None:
    """Why one address (with nothing embedded) is not public, or ``None`` if it is."""
    if address in METADATA:
        return "cloud metadata"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, IPv4Address) and address in SHARED:
        return "shared (carrier-grade NAT)"
    if address.is_private:  # RFC 1918, IPv6 ULA fc00::/7, documentation and benchmark ranges
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not globally reachable"
    return None


def why_not_public(address: IPAddress, allow: Sequence[Network] = ()) -> str | None:
    """Why a webhook may not connect to ``address`` (a short category), or ``None`` if it
    may: a public address, or one inside an allowed network. An IPv6 address that carries an
    IPv4 one (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64) is judged by both.

    >>> why_not_public(ip_address("169.254.169.254"))
    'cloud metadata'
    >>> why_not_public(ip_address("::ffff:10.0.0.1"))
    'private'
    >>> why_not_public(ip_address("127.0.0.1"), [ip_network("127.0.0.1/32")]) is None
    True
    """
    inner = _embedded_ipv4(address) if isinstance(address, IPv6Address) else None
    for candidate in (address, inner):
        if candidate is not None and any(
                candidate.version == n.version and candidate in n for n in allow):
            return None
    return _category(inner if inner is not None else address)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to for a TCP connection (a literal is itself)."""
    try:
        return [ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ip_address(str(sockaddr[0]).split("%", 1)[0])  # no IPv6 zone id
        if address not in found:
            found.append(address)
    return found


async def check_target(url: str, allow: Sequence[Network], resolver: Resolver) -> Target:
    """Resolve ``url``'s host and check every address it has (:class:`TargetRefused` with
    the reason if the webhook may not reach it). The URL is already known to be well formed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await resolver(host, port)
    except (OSError, TimeoutError, UnicodeError, ValueError):
        addresses = []
    if not addresses:
        raise _not_public(host)
    for address in addresses:
        reason = why_not_public(address, allow)
        if reason is not None:
            if not _is_literal(host):
                raise _not_public(host)
            raise TargetRefused("not_public", f"{host} is a {reason} address; webhooks may "
                                "only reach public addresses")
    return Target(host, port, addresses[0])


def _is_literal(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def _not_public(host: str) -> TargetRefused:
    """One answer for a name that does not resolve and one that resolves inward: which names
    the server's resolver knows, and where they point, is not a party's to map."""
    return TargetRefused("not_public", f"{host} does not resolve to public addresses only; "
                         "webhooks may only reach public addresses")
