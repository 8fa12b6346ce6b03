"""Connecting only to public addresses when a URL comes from someone we do not trust.

Links found inside feeds are written by strangers; following one blindly
(to fetch an article's full text) would let a feed make us call our own
admin pages, the database port or the cloud metadata service (SSRF).  So a
:class:`GuardedClient` checks addresses **at connect time**, inside the
connection pool: the host is resolved by our code, *every* address it
resolves to must be public (one private answer taints the name), and the
socket is then opened to that very address.  The name is never resolved a
second time, so DNS rebinding (public on the check, 127.0.0.1 on the
connect) has no window; the URL keeps its host name, so ``Host`` and TLS SNI
and certificate checks are unchanged.  Because the check sits in the pool,
it runs for every redirect hop and every new connection, whoever follows
the redirects.

Forbidden by default: loopback, private, link-local, multicast, reserved,
unspecified, carrier-grade NAT (100.64/10), IPv6 unique-local and
site-local, the same hidden inside IPv6 (IPv4-mapped, 6to4, NAT64), and the
cloud metadata addresses.  ``allow_private`` (intranets, tests) lifts all
of these except cloud metadata; ``allow_networks`` lifts exactly the listed
networks.  Proxies are never used: with one, the address checked would be
the proxy's, not the target's.

Known limits: only the TCP connect is guarded, so the client must be
:class:`GuardedClient` (the fetcher's type asks for it); and the pool keeps
``httpx``'s private ``_pool`` slot filled with our own pool, because
``httpx.AsyncHTTPTransport`` offers no way to pass a network backend
(``tests/sources/test_netguard.py`` fails if a new httpx changes that).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

import httpcore
import httpx

from monitor.errors import BlockedAddress

__all__ = [
    "CLOUD_METADATA",
    "AddressGuard",
    "GuardedClient",
    "GuardedTransport",
    "IPAddress",
    "IPNetwork",
    "Resolver",
    "classify_address",
    "resolve_host",
]

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> addresses``: the seam tests replace to make any name point anywhere."""

CLOUD_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean…
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "168.63.129.16",  # Azure wire server: a public address, hence listed
        "100.100.100.200",  # Alibaba Cloud
    )
)
"""Never reachable through a guard, not even with ``allow_private``: credentials live there."""

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_KINDS: tuple[tuple[str, str], ...] = (  # checked in order: the first true property names the class
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_site_local", "site-local"),
    ("is_reserved", "reserved"),
    ("is_private", "private"),
)


def classify_address(address: IPAddress) -> str | None:
    """The class that makes ``address`` unfit for untrusted links ("loopback"…), None if public.

    IPv4 addresses carried inside IPv6 (mapped, 6to4, NAT64) are judged by
    the IPv4 address, since that is where the packets end up.
    """
    if address in CLOUD_METADATA:
        return "cloud metadata"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return classify_address(embedded)
    if address in _CGNAT:
        return "carrier-grade NAT"
    if address in _UNIQUE_LOCAL:
        return "unique local"
    for prop, kind in _KINDS:
        if getattr(address, prop, False):
            return kind
    return None if address.is_global else "non-public"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


async def resolve_host(host: str, port: int) -> list[str]:
    """The system resolver's addresses for ``host``, in its preferred order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _networks(values: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v) if isinstance(v, str) else v for v in values)


class AddressGuard:
    """Which addresses an untrusted URL may reach, and how names are resolved.

    ``allow_networks`` accepts strings ("10.1.0.0/16") and is validated here,
    so a typo in the configuration fails at start-up, not on the first link.
    """

    __slots__ = ("allow_networks", "allow_private", "resolver")

    def __init__(
        self,
        *,
        allow_private: bool = False,
        allow_networks: Iterable[str | IPNetwork] = (),
        resolver: Resolver = resolve_host,
    ) -> None:
        self.allow_private = allow_private
        self.allow_networks = _networks(allow_networks)
        self.resolver = resolver

    def __repr__(self) -> str:
        networks = [str(n) for n in self.allow_networks]
        return f"AddressGuard(allow_private={self.allow_private}, allow_networks={networks})"

    def vet(self, host: str, addresses: Sequence[str]) -> list[IPAddress]:
        """The addresses of ``host`` if every one may be reached; else :class:`BlockedAddress`.

        All must pass, not just the first: which one a connection ends up
        using is the resolver's and the network's choice, not ours.
        """
        if not addresses:
            raise BlockedAddress(f"{host} resolves to no address", host=host, address="", reason="none")
        vetted = [ipaddress.ip_address(a.split("%", 1)[0]) for a in addresses]
        for address in vetted:
            reason = self._refusal(address)
            if reason is not None:
                said = f"{host} is" if host == str(address) else f"{host} resolves to {address},"
                article = "an" if reason[0] in "aeiou" else "a"
                message = f"{said} {article} {reason} address"
                raise BlockedAddress(message, host=host, address=str(address), reason=reason)
        return vetted

    def _refusal(self, address: IPAddress) -> str | None:
        if any(address in net for net in self.allow_networks if net.version == address.version):
            return None
        reason = classify_address(address)
        if reason is None or (self.allow_private and reason != "cloud metadata"):
            return None
        return reason

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Resolve (literal addresses are not looked up) and vet; the result is safe to connect to."""
        try:
            addresses: Sequence[str] = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            try:
                addresses = await self.resolver(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        return self.vet(host, addresses)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the guard vetted, by address, not by name."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._guard.resolve(host, port)
        failure: Exception | None = None
        for address in addresses:  # the resolver's order; the next one if a connect fails
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                log.debug("host=%s address=%s connect failed: %s", host, address, exc)
                failure = exc
        raise failure or httpcore.ConnectError(f"{host}: no address to connect to")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress(f"unix socket {path} refused", host=path, address=path, reason="unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx``'s transport with our connection pool, whose every TCP connect goes through the guard."""

    def __init__(
        self,
        guard: AddressGuard,
        *,
        verify: bool = True,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(verify=verify, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(guard),
        )


class GuardedClient:
    """An ``httpx.AsyncClient`` for untrusted URLs; a distinct type so it cannot be mixed up.

    Owned by the caller for its lifetime (``async with``); its ``client`` is
    an ordinary client that follows no redirects and reads no proxy from
    the environment.
    """

    def __init__(
        self,
        guard: AddressGuard | None = None,
        *,
        headers: dict[str, str] | None = None,
        verify: bool = True,
        **client_options: Any,
    ) -> None:
        self.guard = guard or AddressGuard()
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(self.guard, verify=verify),
            headers=headers,
            follow_redirects=False,
            trust_env=False,
            **client_options,
        )

    async def __aenter__(self) -> GuardedClient:
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.client.__aexit__(exc_type, exc, traceback)

    async def aclose(self) -> None:
        await self.client.aclose()
