"""What makes a feed URL acceptable, said once for the API, the CLI and the fetcher.

A feed URL is ``http``, ``https`` or ``webcal`` with a host that DNS could
answer for: an IP literal, or a name whose labels are 1 to 63 characters of
letters, digits, ``-`` and ``_`` once internationalised names are encoded with
the IDNA codec (``bücher.de`` → ``xn--bcher-kva.de``). Anything else
(``http://0..0/x.ics``, ``http://exa mple.com/``, ``https://``) is refused with
the reason, before it is stored: such a host used to make every sync die in
the resolver's IDNA codec.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

FEED_SCHEMES = ("http", "https", "webcal")
_MAX_LABEL = 63
_MAX_NAME = 253
_LABEL = re.compile(rb"[a-z0-9_-]+", re.IGNORECASE)


def feed_url_problem(
    url: str, *, schemes: tuple[str, ...] = FEED_SCHEMES, what: str = "feed URL"
) -> str | None:
    """Why ``url`` is not a feed URL (``what``, of ``schemes``) calsync can fetch, or None.

    The reason names the host at most, never the URL's user info, path or query.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        shown = f"scheme {scheme}" if scheme else "no scheme"
        return f"{shown}: a {what} is {', '.join(schemes[:-1])} or {schemes[-1]}"
    if not host:
        return "the URL has no host"
    return host_problem(host)


def host_problem(host: str) -> str | None:
    """Why ``host`` (without brackets) is neither an IP literal nor a valid DNS name, or None."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    name = host.removesuffix(".")
    encoded: list[bytes] = []
    for label in name.split("."):
        ascii_label = _encoded_label(host, label)
        if isinstance(ascii_label, str):
            return ascii_label
        encoded.append(ascii_label)
    if len(b".".join(encoded)) > _MAX_NAME:
        return f"host name longer than {_MAX_NAME} characters: {host[:70]!r}…"
    return None


def _encoded_label(host: str, label: str) -> bytes | str:
    """The label as DNS sends it (IDNA), or why it cannot be one."""
    if not label:
        return f"host {host!r} has an empty label"
    if len(label) > _MAX_LABEL:
        return f"host {host[:80]!r}… has a label longer than {_MAX_LABEL} characters"
    try:
        ascii_label = label.encode("idna")
    except UnicodeError:
        return f"host {host!r}: label {label!r} is not a valid international (IDNA) name"
    if not _LABEL.fullmatch(ascii_label):
        return f"host {host!r}: label {label!r} has characters a host name cannot have"
    return ascii_label
