"""SQLite for SQLAlchemy's asyncio engine without a thread per connection.

``aiosqlite`` runs every statement on a helper thread and wakes the event loop with the result:
queueing, thread switches and GIL hand-overs cost far more than the statement, which on a local
SQLite file in WAL mode takes a few microseconds. This dialect is the plain ``sqlite3`` one,
declared usable by the asyncio extension: a statement runs inline on the event loop, inside the
one greenlet the extension starts per call. Registered as ``sqlite+inline``.

Blocking is bounded: a service is its database's only writer (one process holds the outbox
relay lease; ops commands use short transactions), ``BEGIN IMMEDIATE`` queues writers, and the
busy timeout caps any wait.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.pool import AsyncAdaptedQueuePool

NAME = "sqlite.inline"


class _Cursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """The asyncio extension closes a driver's cursor after buffering its rows; a plain
        ``sqlite3`` cursor is read synchronously later, so it stays open."""


class _Connection(sqlite3.Connection):
    def cursor(self, factory: type[sqlite3.Cursor] = _Cursor) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory)


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    driver = "inline"
    is_async = True  # no awaiting inside: every call completes without leaving the greenlet
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: Any) -> type[AsyncAdaptedQueuePool]:
        return AsyncAdaptedQueuePool

    def create_connect_args(self, url: Any) -> tuple[list[Any], dict[str, Any]]:
        args, kwargs = super().create_connect_args(url)
        # Connections are used on the event loop's thread only, but may be closed from another
        # (the pool's clean-up at interpreter exit).
        kwargs["check_same_thread"] = False
        kwargs["factory"] = _Connection
        return args, kwargs


registry.register(NAME, __name__, "InlineSQLiteDialect")
