"""Reading a feed's body within the size cap: identity, gzip or deflate, decoded as it arrives.

Compressed bodies are decoded with a bounded decompressor, so a gzip bomb never
inflates past the cap. Errors carry the URL as given (the fetcher passes it redacted).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from calsync.errors import FeedTooLarge, FeedUnreachable, FetchError

if TYPE_CHECKING:
    import httpx


async def read_body(url: str, response: httpx.Response, max_bytes: int) -> bytes:
    """The response's body, decoded, or :class:`FeedTooLarge` as soon as it passes ``max_bytes``.

    ``url`` names the feed in errors (redacted by the caller).
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FeedTooLarge(
            url=url, reason=f"Content-Length {declared} exceeds the cap of {max_bytes} bytes"
        )
    decoder = BodyDecoder(url, response.headers.get("Content-Encoding", ""), max_bytes)
    async for chunk in response.aiter_raw():
        decoder.feed(chunk)
    return decoder.finish()


class BodyDecoder:
    """Decode identity, gzip or deflate bodies without ever holding more than the cap."""

    def __init__(self, url: str, content_encoding: str, max_bytes: int) -> None:
        self._url = url
        self._max_bytes = max_bytes
        self._raw_size = 0
        self._body = bytearray()
        encodings = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
        encodings = [e for e in encodings if e != "identity"]
        if len(encodings) > 1 or (encodings and encodings[0] not in {"gzip", "x-gzip", "deflate"}):
            raise FetchError(url=url, reason=f"unsupported Content-Encoding {content_encoding!r}")
        self._deflate = encodings == ["deflate"]
        # 47 = 32 + 15: a gzip or zlib header, detected automatically.
        self._zlib = zlib.decompressobj(47) if encodings else None
        self._started = False

    def feed(self, chunk: bytes) -> None:
        """Take the next raw chunk; raise FeedTooLarge as soon as a cap is passed."""
        self._raw_size += len(chunk)
        if self._raw_size > self._max_bytes:
            self._too_large()
        if self._zlib is None:
            self._append(chunk)
            return
        try:
            try:
                self._inflate(chunk)
            except zlib.error:
                if not (self._deflate and not self._started):
                    raise
                # Some servers send "deflate" without the zlib header: raw deflate.
                self._zlib = zlib.decompressobj(-15)
                self._inflate(chunk)
        except zlib.error as exc:
            reason = f"corrupt compressed body: {exc}"
            raise FeedUnreachable(url=self._url, reason=reason) from exc
        self._started = True

    def finish(self) -> bytes:
        """Return the decoded body; a compressed stream must have ended."""
        if self._zlib is not None and self._raw_size and not self._zlib.eof:
            raise FeedUnreachable(url=self._url, reason="compressed body ended early")
        return bytes(self._body)

    def _inflate(self, data: bytes) -> None:
        assert self._zlib is not None  # noqa: S101 - only called for compressed bodies
        while data:
            room = self._max_bytes - len(self._body)
            self._append(self._zlib.decompress(data, room + 1))
            if not self._zlib.eof:
                data = self._zlib.unconsumed_tail
            elif self._zlib.unused_data.startswith(b"\x1f\x8b"):  # another gzip member
                data = self._zlib.unused_data
                self._zlib = zlib.decompressobj(47)
            else:
                return  # trailing bytes after the stream are ignored

    def _append(self, data: bytes) -> None:
        if len(self._body) + len(data) > self._max_bytes:
            self._too_large()
        self._body += data

    def _too_large(self) -> None:
        raise FeedTooLarge(url=self._url, reason=f"body exceeds the cap of {self._max_bytes} bytes")
