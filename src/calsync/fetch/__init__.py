"""Fetching feeds over HTTP: conditional GET, caps, errors, and the SSRF guard (DESIGN §8).

The parts, one job each:

* :mod:`~calsync.fetch.guard`: which addresses and URLs may be fetched; the
  network backend that resolves once and connects only to checked addresses.
* :mod:`~calsync.fetch.pool`: keep-alive connections per origin, found in
  constant time (httpcore's own pool rescans them all, DESIGN §11).
* :mod:`~calsync.fetch.body`: the body decoded within the size cap (gzip bombs stop early).
* :mod:`~calsync.fetch.fetcher`: :class:`FeedFetcher`, which follows redirects
  within the caps and raises only :class:`~calsync.errors.FetchError`.

Use it as ``async with FeedFetcher(settings.fetch) as fetcher: await fetcher.fetch(url)``.
"""

from calsync.fetch.fetcher import FeedFetcher, FetchedFeed
from calsync.fetch.guard import check_address, parse_ip_literal

__all__ = ["FeedFetcher", "FetchedFeed", "check_address", "parse_ip_literal"]
