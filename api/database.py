"""How the API reaches PostgreSQL: as the SELECT-only role `trendfolio_api` (sql/005_api_readonly_role.sql), in
read-only transactions, one short connection per request, every statement bounded by a statement and a lock timeout (a
table locked by the nightly run or an operator makes a request answer 503 quickly instead of holding a worker thread)."""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
import threading
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import quote, urlparse, urlunparse

import psycopg
from psycopg.rows import dict_row

from trendfolio import settings

API_ROLE = "trendfolio_api"
# The documented local default, set by sql/005_api_readonly_role.sql; elsewhere set API_DATABASE_URL.
API_ROLE_DEFAULT_PASSWORD = "trendfolio_api"


def as_api_role(database_url: str, password: str = API_ROLE_DEFAULT_PASSWORD) -> str:
    """The same server and database as `database_url`, logged in as the read-only API role."""
    parsed = urlparse(database_url)
    host = parsed.hostname or "127.0.0.1"
    netloc = f"{API_ROLE}:{quote(password, safe='')}@{host}" + (f":{parsed.port}" if parsed.port else "")
    return urlunparse(parsed._replace(netloc=netloc))


def api_database_is_external() -> bool:
    """Whether API_DATABASE_URL names a server someone else runs and migrates."""
    return bool(os.environ.get("API_DATABASE_URL"))


def api_database_url() -> str:
    """API_DATABASE_URL, or the embedded server's warehouse as the read-only role."""
    return os.environ.get("API_DATABASE_URL") or as_api_role(settings.local_database_url())


def _json_safe(value):
    # PostgreSQL double precision may hold NaN or ±Infinity, which JSON cannot carry: they are "no value".
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class DatabaseBusy(Exception):
    """Every connection the API may open is in use, for longer than a request should wait."""


@dataclass(frozen=True)
class Database:
    url: str
    statement_timeout_ms: int = 5000
    lock_timeout_ms: int = 1000
    connect_timeout_s: int = 5
    # At most this many connections at once, well under the role's CONNECTION LIMIT (sql/009: 40, shared by the API
    # and dashboard processes), so a burst of requests waits here, bounded, instead of failing at the server.
    max_connections: int = 16
    slots: threading.BoundedSemaphore = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "slots", threading.BoundedSemaphore(self.max_connections))

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        if not self.slots.acquire(timeout=self.statement_timeout_ms / 1000):
            raise DatabaseBusy(f"all {self.max_connections} of the API's database connections stayed in use for "
                               f"{self.statement_timeout_ms} ms")
        try:
            options = (f"-c statement_timeout={self.statement_timeout_ms} -c lock_timeout={self.lock_timeout_ms} "
                       f"-c idle_in_transaction_session_timeout={self.statement_timeout_ms * 2}")
            with psycopg.connect(self.url, connect_timeout=self.connect_timeout_s, options=options,
                                 row_factory=dict_row) as conn:
                conn.read_only = True  # a second guard: the role itself can only SELECT
                yield conn
        finally:
            self.slots.release()

    @staticmethod
    def rows(conn: psycopg.Connection, query, params=()) -> list[dict]:
        return [{key: _json_safe(value) for key, value in row.items()} for row in conn.execute(query, params)]

    @staticmethod
    def value(conn: psycopg.Connection, query, params=()):
        row = conn.execute(query, params).fetchone()
        return None if row is None else next(iter(row.values()))
