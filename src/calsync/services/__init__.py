"""The services: every write rule of calsync, once, for the API, the CLI and the web UI alike.

One module per resource: :mod:`~calsync.services.products`,
:mod:`~calsync.services.calendars`, :mod:`~calsync.services.bookings`,
:mod:`~calsync.services.links` (capacity group dependencies) and
:mod:`~calsync.services.keys` (API keys) and :mod:`~calsync.services.users`
(accounts of the web interface). A service function takes the caller's
session, a :class:`~calsync.services.context.WriteContext` and plain values; it
checks them (:mod:`~calsync.services.fields`, one message per mistake, naming
the field as the API does), writes through :mod:`calsync.store` and raises
calsync's errors. What a write needs of the process afterwards (waking the
dispatcher) is set on the context, for the edge to do after the commit.

:mod:`~calsync.services.views` turns rows into the resources the API answers
and the CLI prints with ``--json``: the same fields, internal ones never.
"""
