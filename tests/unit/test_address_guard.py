"""The SSRF guard's address table: every spelling of every range, and public ones."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from calsync.fetch import check_address, parse_ip_literal

REFUSED = [
    # (address as written, what the reason must say)
    ("127.0.0.1", "loopback address 127.0.0.1"),
    ("127.1", "loopback address 127.0.0.1"),
    ("2130706433", "loopback address 127.0.0.1"),
    ("0x7f000001", "loopback address 127.0.0.1"),
    ("0x7f.1", "loopback address 127.0.0.1"),
    ("0177.0.0.1", "loopback address 127.0.0.1"),
    ("0.0.0.0", "unspecified address 0.0.0.0"),  # noqa: S104 - checked, never bound
    ("0.1.2.3", "'this network' address 0.1.2.3"),
    ("10.0.0.1", "private address 10.0.0.1"),
    ("172.16.5.4", "private address 172.16.5.4"),
    ("192.168.1.1", "private address 192.168.1.1"),
    ("169.254.169.254", "link-local address 169.254.169.254"),
    ("100.64.0.1", "shared (CGNAT) address 100.64.0.1"),
    ("224.0.0.1", "multicast address 224.0.0.1"),
    ("240.0.0.1", "reserved address 240.0.0.1"),
    ("255.255.255.255", "broadcast address 255.255.255.255"),
    ("192.0.2.1", "not globally routable address 192.0.2.1"),
    ("::1", "loopback address ::1"),
    ("::", "unspecified address ::"),
    ("fe80::1", "link-local address fe80::1"),
    ("fe80::1%eth0", "link-local address fe80::1%eth0"),
    ("fec0::1", "site-local address fec0::1"),
    ("fc00::1", "private (unique local) address fc00::1"),
    ("fd12:3456::1", "private (unique local) address fd12:3456::1"),
    ("ff02::1", "multicast address ff02::1"),
    ("::7f00:1", "reserved address ::7f00:1"),
    ("2001:db8::1", "not globally routable address 2001:db8::1"),
    ("::ffff:127.0.0.1", "::ffff:7f00:1 embeds loopback address 127.0.0.1"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1 embeds loopback address 127.0.0.1"),
    ("::ffff:10.0.0.1", "::ffff:a00:1 embeds private address 10.0.0.1"),
    ("64:ff9b::7f00:1", "64:ff9b::7f00:1 embeds loopback address 127.0.0.1"),
    ("64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe embeds link-local address 169.254.169.254"),
    ("64:ff9b:1::808:808", "local-use NAT64 address 64:ff9b:1::808:808"),
    ("2002:7f00:0001::1", "2002:7f00:1::1 embeds loopback address 127.0.0.1"),
    (
        "2001:0000:4136:e378:8000:63bf:3fff:fdd2",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2 embeds not globally routable address 192.0.2.45",
    ),
    ("2001:0:808:808:0:0:80ff:fffe", "2001:0:808:808::80ff:fffe embeds loopback address 127.0.0.1"),
]

PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_refused_addresses_name_their_range(address: str, reason: str) -> None:
    """Every non-public address, however it is spelled, is refused with its range named."""
    assert reason == check_address(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    """Public addresses, including IPv6 forms embedding a public IPv4, are allowed."""
    assert check_address(address) is None


@pytest.mark.parametrize("text", ["localhost", "example.com", "", "1.2.3.4.5", "08.0.0.1", "0x"])
def test_names_are_refused_as_addresses(text: str) -> None:
    """check_address refuses anything that is not an IP address (it fails closed)."""
    assert f"not an IP address: {text!r}" == check_address(text)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.1", "127.0.0.1"),
        ("10.1.258", "10.1.1.2"),
        ("0", "0.0.0.0"),  # noqa: S104 - parsed, never bound
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("[2001:db8::1]", "2001:db8::1"),
    ],
)
def test_parse_ip_literal_reads_every_spelling(host: str, expected: str) -> None:
    """IP literals in any spelling inet_aton accepts are read as the address they mean."""
    assert ipaddress.ip_address(expected) == parse_ip_literal(host)


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "example.com",
        "feeds.example",
        "1.2.3.4.5",
        "08.0.0.1",
        "256.1.1.1.1",
        "0x",
        "",
        "1..2",
        "+1",
        "1_0",
        "1.2.3.256",
    ],
)
def test_parse_ip_literal_returns_none_for_names(host: str) -> None:
    """Names and malformed literals are not IP addresses."""
    assert parse_ip_literal(host) is None


@pytest.mark.parametrize(
    "host",
    ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1", "10.1.258", "1.2.3.4", "0"],
)
def test_parse_ip_literal_agrees_with_inet_aton(host: str) -> None:
    """The IPv4 reading matches the platform's socket.inet_aton."""
    assert socket.inet_ntoa(socket.inet_aton(host)) == str(parse_ip_literal(host))
