"""The SSRF guard: which addresses and URLs a feed may be fetched from (DESIGN §8).

A feed URL is typed in by a user, so fetching it must not become a way to reach
the daemon's own network. The guard works at the socket, not at the URL:

* Only ``http``, ``https`` and ``webcal`` (or ``webcals``; both fetched as
  ``https``) are fetched (:func:`http_url`); any other scheme raises
  :class:`~calsync.errors.FeedBlocked`, which is not retryable.
* Every TCP connection goes through :class:`GuardedBackend`: it resolves the
  host **once**, refuses the connection if **any** resolved address is not
  public (:func:`check_address`), then connects to exactly those checked
  addresses. There is no second DNS lookup that a rebinding name could answer
  differently; TLS still verifies and sends SNI for the original host name.
* Hosts that are IP literals in any spelling a resolver accepts (``127.1``,
  ``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) are read by
  :func:`parse_ip_literal` and checked as the address they mean.
* IPv6 addresses that embed an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo)
  are judged by the IPv4 addresses they embed.
* ``allow_private_networks`` lifts the guard; ``allow_hosts`` exempts exact host
  names (case-insensitive) and nothing else, so a redirect from an allowed host
  to another private address is still refused.

Errors raised here carry the URL redacted (:func:`calsync.redact.redact_url`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from typing import TYPE_CHECKING

import httpcore
import httpx

from calsync.core.feed_url import host_problem
from calsync.errors import FeedBlocked
from calsync.redact import redact_url

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    Resolver = Callable[[str, int], Awaitable[list[str]]]
    IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEMES = {"http": "http", "https": "https", "webcal": "https", "webcals": "https"}

_IPV4_PRIVATE = tuple(
    ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_IPV4_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_IPV4_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_IPV4_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_INET_ATON_PART = re.compile(r"0x[0-9a-f]+|[0-9]+")


def parse_ip_literal(host: str) -> IPAddress | None:
    """Read a host that is an IP literal in any spelling a resolver accepts, else None.

    Besides the usual forms this reads what ``inet_aton`` reads: one to four
    dot-separated parts, each decimal, octal (``0177``) or hex (``0x7f``), the
    last one filling the remaining bytes (``127.1``, ``2130706433``).
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    return _parse_inet_aton(text)


def _parse_inet_aton(text: str) -> ipaddress.IPv4Address | None:
    parts = text.lower().split(".")
    if len(parts) > 4 or not all(_INET_ATON_PART.fullmatch(part) for part in parts):  # noqa: PLR2004
        return None
    try:
        numbers = [_inet_aton_number(part) for part in parts]
    except ValueError:  # 08, 09: a leading zero means octal
        return None
    *leading, last = numbers
    if any(number > 0xFF for number in leading) or last >= 1 << 8 * (4 - len(leading)):  # noqa: PLR2004
        return None
    value = last
    for index, number in enumerate(leading):
        value |= number << (24 - 8 * index)
    return ipaddress.IPv4Address(value)


def _inet_aton_number(part: str) -> int:
    if part.startswith("0x"):
        return int(part, 16)
    if part.startswith("0"):
        return int(part, 8)
    return int(part)


_IPV4_RULES: tuple[tuple[str, Callable[[ipaddress.IPv4Address], bool]], ...] = (
    ("unspecified", lambda a: a.is_unspecified),
    ("'this network'", lambda a: a in _IPV4_THIS_NETWORK),
    ("loopback", lambda a: a.is_loopback),
    ("private", lambda a: any(a in network for network in _IPV4_PRIVATE)),
    ("link-local", lambda a: a.is_link_local),
    ("shared (CGNAT)", lambda a: a in _IPV4_SHARED),
    ("multicast", lambda a: a.is_multicast),
    ("broadcast", lambda a: a == _IPV4_BROADCAST),
    ("reserved", lambda a: a.is_reserved),
    ("not globally routable", lambda a: not a.is_global),
)
_IPV6_RULES: tuple[tuple[str, Callable[[ipaddress.IPv6Address], bool]], ...] = (
    ("local-use NAT64", lambda a: a in _NAT64_LOCAL),
    ("unspecified", lambda a: a.is_unspecified),
    ("loopback", lambda a: a.is_loopback),
    ("link-local", lambda a: a.is_link_local),
    ("site-local", lambda a: a.is_site_local),
    ("private (unique local)", lambda a: a in _UNIQUE_LOCAL),
    ("multicast", lambda a: a.is_multicast),
    ("reserved", lambda a: a.is_reserved),
    ("not globally routable", lambda a: not a.is_global),
)


def check_address(ip: str) -> str | None:
    """Return why this IP address may not be fetched (e.g. 'loopback address 127.0.0.1').

    None means the address is public. Anything that is not an IP address is refused.
    """
    address = parse_ip_literal(ip)
    if address is None:
        return f"not an IP address: {ip!r}"
    if isinstance(address, ipaddress.IPv4Address):
        return _check_ipv4(address)
    return _check_ipv6(address)


def _check_ipv4(address: ipaddress.IPv4Address) -> str | None:
    for label, matches in _IPV4_RULES:
        if matches(address):
            return f"{label} address {address}"
    return None


def _check_ipv6(address: ipaddress.IPv6Address) -> str | None:
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        for ipv4 in embedded:
            reason = _check_ipv4(ipv4)
            if reason is not None:
                return f"{address} embeds {reason}"
        return None
    for label, matches in _IPV6_RULES:
        if matches(address):
            return f"{label} address {address}"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...] | None:
    """The IPv4 addresses an IPv6 address stands for, or None if it embeds none."""
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address in _NAT64:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo  # (server, client); the client bits are inverted
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the event loop's ``getaddrinfo``: every address, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressRefusedError(Exception):
    """Raised inside the transport when the guard refuses a host; translated in fetch."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class UnresolvableError(Exception):
    """Raised inside the transport when DNS has no answer; translated in fetch."""

    def __init__(self, host: str, detail: str) -> None:
        self.reason = f"cannot resolve host {host}: {detail}"
        super().__init__(self.reason)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that resolves once, checks every address, and connects to them."""

    def __init__(
        self,
        *,
        resolver: Resolver,
        allow_private_networks: bool,
        allow_hosts: Iterable[str],
    ) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._resolver = resolver
        self._guarded = not allow_private_networks
        self._allow_hosts = frozenset(host.lower().strip("[]") for host in allow_hosts)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the checked addresses of ``host`` in turn; the first to answer wins."""
        addresses = await self._resolve(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # noqa: S101 - _resolve never returns an empty list
        raise failure

    async def _resolve(self, host: str, port: int, seconds: float | None) -> list[str]:
        literal = parse_ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                async with asyncio.timeout(seconds):
                    addresses = await self._resolver(host, port)
            except TimeoutError as exc:
                raise UnresolvableError(host, "DNS lookup timed out") from exc
            except OSError as exc:
                raise UnresolvableError(host, exc.strerror or str(exc)) from exc
            if not addresses:
                raise UnresolvableError(host, "no addresses")
        if self._guarded and not self._is_allowed(host, literal):
            for address in addresses:
                reason = check_address(address)
                if reason is not None:
                    where = "" if literal is not None else f"host {host} resolves to "
                    raise AddressRefusedError(f"blocked: {where}{reason}")
        return addresses

    def _is_allowed(self, host: str, literal: IPAddress | None) -> bool:
        names = {host.lower()} if literal is None else {host.lower(), str(literal)}
        return not self._allow_hosts.isdisjoint(names)

    async def sleep(self, seconds: float) -> None:
        """Sleep as the wrapped backend does."""
        await self._inner.sleep(seconds)


def http_url(url: str, *, base: httpx.URL | None = None) -> httpx.URL:
    """Resolve ``url`` against ``base`` and return it parsed, with a fetchable scheme.

    ``webcal://`` and ``webcals://`` become ``https://``; a scheme other than
    http, https or webcal, or a host no resolver could look up (``0..0``, see
    :func:`~calsync.core.feed_url.host_problem`), raises FeedBlocked.
    """
    try:
        parsed = base.join(url) if base is not None else httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FeedBlocked(url=redact_url(url), reason="not a valid URL") from exc
    scheme = _SCHEMES.get(parsed.scheme)
    if scheme is None:
        shown = parsed.scheme or "(none)"
        raise FeedBlocked(
            url=redact_url(str(parsed)),
            reason=f"scheme {shown} is not allowed (only http, https, webcal)",
        )
    if not parsed.host:
        raise FeedBlocked(url=redact_url(str(parsed)), reason="URL has no host")
    problem = host_problem(parsed.host)
    if problem is not None:
        raise FeedBlocked(url=redact_url(str(parsed)), reason=problem)
    return parsed if scheme == parsed.scheme else parsed.copy_with(scheme=scheme)
