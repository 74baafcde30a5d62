"""The database: engine set-up for SQLite and PostgreSQL, sessions, migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign
keys on; write transactions start with ``BEGIN IMMEDIATE`` so a read-then-write
transaction waits for the lock instead of failing at once with "database is
locked"; its connections know ``calsync_like``, PostgreSQL's ``LIKE`` and
``ILIKE`` (:mod:`calsync.core.like`), so a pattern matches the same rows on both
databases. PostgreSQL is reached through psycopg 3. :meth:`Store.upgrade` leaves a
database already at the newest revision alone without importing Alembic (every
command runs it). Statement parameters are hidden from
errors and logs: they include feed URLs, whose tokens are secrets. A
:class:`StoreError`'s message names the failure, never the SQL: the statement
stays on the chained SQLAlchemy exception, for the log.
"""

from __future__ import annotations

import importlib
import re
import shutil
import threading
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from calsync.core.like import SQLITE_FUNCTION, like
from calsync.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from calsync.config import DatabaseSettings

MIGRATIONS = Path(__file__).parent / "migrations"
_WRITE = "calsync_write"
_MIGRATION_LOCK_ID = 0x63616C73  # "cals": one replica migrates at a time
_MIN_FREE_BYTES = 1024 * 1024
"""A SQLite database whose disk has less room than this does not take writes (readiness)."""
_NO_OP_WRITE = text("UPDATE alembic_version SET version_num = version_num WHERE 1 = 0")
_REVISION_LINE = re.compile(r"^(down_)?revision: [^=]+= (?:\"(\w+)\"|None)$", re.MULTILINE)


class Store:
    """The database of one calsync: sessions to read, sessions to write, migrations.

    On SQLite the write transactions of one process take turns on a lock before
    they ask SQLite for its write lock: SQLite has one writer at a time anyway,
    and a thread that finds its lock taken sleeps in SQLite's busy handler for
    up to 100 ms at a time, long after the writer before it has committed.
    """

    def __init__(self, engine: Engine, *, write_wait_seconds: float = 30.0) -> None:
        self.engine = engine
        self._write_turn = threading.Lock() if engine.dialect.name == "sqlite" else None
        self._write_wait = write_wait_seconds
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(
            engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )

    @classmethod
    def connect(cls, settings: DatabaseSettings) -> Store:
        """Create the engine for ``settings.url`` (SQLite file or PostgreSQL)."""
        return cls(
            create_store_engine(settings), write_wait_seconds=settings.sqlite_busy_timeout_seconds
        )

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._turn(), _translated(), self._write.begin() as session:
            yield session

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """This process's turn to write (SQLite; see the class docstring)."""
        if self._write_turn is None:
            yield
            return
        if not self._write_turn.acquire(timeout=self._write_wait):
            msg = "database error: OperationalError: database is locked"
            raise StoreError(msg)
        try:
            yield
        finally:
            self._write_turn.release()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; it writes nothing."""
        with _translated(), self._read() as session:
            yield session

    def readable(self) -> bool:
        """Whether the database answers a query now."""
        try:
            with self.read() as session:
                session.execute(text("SELECT 1"))
        except StoreError:
            return False
        return True

    def writable(self) -> bool:
        """Whether the database takes writes now, without waiting for the write lock.

        A write that changes no row is run and rolled back: a read-only file or
        mount, lost permissions or a read-only PostgreSQL (a standby) refuse it. On
        SQLite a write lock held by another writer means the database takes writes
        (it is not waited for), and a disk with less than 1 MiB free means it does not.
        """
        try:
            with self.engine.connect() as conn:
                if self.dialect == "sqlite":
                    return self._sqlite_writable(conn)
                conn.execute(_NO_OP_WRITE)
                conn.rollback()
        except SQLAlchemyError:
            return False
        return True

    def _sqlite_writable(self, conn: Connection) -> bool:
        files = [row[2] for row in conn.exec_driver_sql("PRAGMA database_list") if row[1] == "main"]
        if files and files[0]:  # "" for an in-memory database
            try:
                if shutil.disk_usage(Path(files[0]).parent).free < _MIN_FREE_BYTES:
                    return False
            except OSError:  # the folder is gone or cannot be read
                return False
        busy_ms = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")
        try:
            conn.execute(_NO_OP_WRITE)
        except OperationalError as exc:
            return str(getattr(exc.orig, "sqlite_errorname", "")).startswith("SQLITE_BUSY")
        finally:
            conn.rollback()
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(busy_ms or 0)}")
        return True

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (one replica at a time).

        A database whose stored revision is already :func:`head_revision` is left
        as it is, and Alembic is not even imported.
        """
        if self.revision() == head_revision():
            return
        from alembic import command  # noqa: PLC0415 - only when there is something to migrate
        from alembic.config import Config  # noqa: PLC0415

        with _translated(), self.engine.execution_options(**{_WRITE: True}).begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        """The revision stored in ``alembic_version``; None for a database never migrated."""
        try:
            with self.engine.connect() as conn:
                found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                return next(iter(found), None)
        except SQLAlchemyError:  # no such table: a new database
            return None

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


@cache
def head_revision() -> str | None:
    """The newest migration's revision id, read from the versions folder as text.

    The one revision no other names as its ``down_revision``; None if there is not
    exactly one (then :meth:`Store.upgrade` leaves it to Alembic). A test checks
    that it is Alembic's head.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for down, revision in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            (parents if down else revisions).add(revision)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def upsert_insert(session: Session) -> Callable[[Any], Any]:
    """The ``insert`` of the session's dialect, which has ``on_conflict_do_*``.

    The dialect's module is imported on first use: the PostgreSQL one costs a
    command on SQLite 25 ms.
    """
    name = session.get_bind().dialect.name
    dialect = importlib.import_module(f"sqlalchemy.dialects.{name}")
    insert: Callable[[Any], Any] = dialect.insert
    return insert


def create_store_engine(settings: DatabaseSettings) -> Engine:
    """An engine for the configured URL, with the SQLite settings of the module docstring."""
    try:
        url = make_url(settings.url)
    except Exception as exc:
        msg = f"invalid setting database.url: {exc}"
        raise ConfigError(msg) from exc
    if url.get_backend_name() == "postgresql":
        return create_engine(
            url.set(drivername="postgresql+psycopg"),
            pool_pre_ping=True,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            hide_parameters=True,
        )
    if url.get_backend_name() != "sqlite":
        msg = f"invalid setting database.url: unsupported database {url.get_backend_name()!r}"
        raise ConfigError(msg)
    engine = create_engine(
        url, connect_args={"timeout": settings.sqlite_busy_timeout_seconds}, hide_parameters=True
    )
    busy_ms = int(settings.sqlite_busy_timeout_seconds * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:  # noqa: ANN401
        dbapi_connection.isolation_level = None  # transactions are begun below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        dbapi_connection.create_function(SQLITE_FUNCTION, 3, _sqlite_like, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:  # noqa: ANN401
        writing = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def _sqlite_like(value: str | None, pattern: str | None, icase: int) -> bool | None:
    """SQL ``value LIKE pattern`` (``ILIKE`` when ``icase``); NULL when either is NULL."""
    if value is None or pattern is None:
        return None
    return like(value, pattern, icase=bool(icase))


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        raise StoreError(_describe(exc)) from exc


def _describe(exc: SQLAlchemyError) -> str:
    """The failure without its SQL: the exception's kind and its cause's first line."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        first_line = (str(exc.orig).strip().splitlines() or [""])[0]
        return f"database error: {type(exc).__name__}: {first_line[:200]}"
    return f"database error: {type(exc).__name__}"
