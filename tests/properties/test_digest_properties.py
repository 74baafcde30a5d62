"""The content digest hashes exactly what the line-by-line rule says, for any body.

:func:`reference_digest` is the rule written line by line (the digest's first
implementation). The fast one edits the body with ``bytes`` and ``re`` methods;
they must agree byte for byte, or every stored digest would change on upgrade
and every calendar would be parsed again once.
"""

from __future__ import annotations

import hashlib

from hypothesis import example, given, settings
from hypothesis import strategies as st

from calsync.core.digest import VOLATILE_PROPERTIES, content_digest


def reference_digest(body: bytes, *parameters: object) -> str:
    digest = hashlib.sha256()
    skipping = False
    for raw_line in body.split(b"\n"):
        line = raw_line.rstrip(b"\r")
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                digest.update(line)
            continue
        name = line.split(b":", 1)[0].split(b";", 1)[0].upper()
        skipping = name in VOLATILE_PROPERTIES
        if not skipping:
            digest.update(b"\n")
            digest.update(line)
    for parameter in parameters:
        digest.update(b"\x00")
        digest.update(repr(parameter).encode())
    return digest.hexdigest()


_NAMES = st.sampled_from(
    [b"DTSTAMP", b"dtstamp", b"Last-Modified", b"CREATED", b"CREATEDX", b"DTSTART", b"UID", b"X"]
)
_LINE = st.one_of(
    st.tuples(_NAMES, st.sampled_from([b":", b";X=1:", b"", b";"]), st.binary(max_size=8)).map(
        b"".join
    ),
    st.binary(max_size=12).map(lambda value: b" " + value),  # a folded continuation
    st.binary(max_size=12).map(lambda value: b"\t" + value),
    st.binary(max_size=12),
)
_ENDING = st.sampled_from([b"\r\n", b"\n", b"\r\r\n", b"\r", b"\n\r"])


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(_LINE, _ENDING), max_size=12))
    body = b"".join(line + ending for line, ending in lines)
    return body + draw(st.sampled_from([b"", b"\r", b"DTSTAMP", b" tail"]))


@settings(max_examples=500)
@given(bodies(), st.integers(-12, 12))
@example(b"DTSTAMP:1\r\n x\r\nUID:a\r\n", 0)
@example(b"\r\r\n\r", 0)
@example(b" fold first\nCREATED\n", 0)
def test_digest_matches_the_line_by_line_rule(body: bytes, offset: int):
    """Any body, any line endings and folds: the same digest as the reference."""
    assert content_digest(body, offset) == reference_digest(body, offset)


@given(st.binary(max_size=300))
def test_digest_matches_the_line_by_line_rule_on_any_bytes(body: bytes):
    """Arbitrary bytes, too."""
    assert content_digest(body) == reference_digest(body)
