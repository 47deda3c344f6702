"""How the API reaches PostgreSQL: as the SELECT-only role `trendfolio_api` (sql/005_api_readonly_role.sql), in
read-only transactions, one short connection per request, every statement bounded by a statement and a lock timeout (a
table locked by the nightly run or an operator makes a request answer 503 quickly instead of holding a worker thread)."""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Database:
    url: str
    statement_timeout_ms: int = 5000
    lock_timeout_ms: int = 1000
    connect_timeout_s: int = 5

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        options = (f"-c statement_timeout={self.statement_timeout_ms} -c lock_timeout={self.lock_timeout_ms} "
                   f"-c idle_in_transaction_session_timeout={self.statement_timeout_ms * 2}")
        with psycopg.connect(self.url, connect_timeout=self.connect_timeout_s, options=options,
                             row_factory=dict_row) as conn:
            conn.read_only = True  # a second guard: the role itself can only SELECT
            yield conn

    @staticmethod
    def rows(conn: psycopg.Connection, query, params=()) -> list[dict]:
        return [{key: _json_safe(value) for key, value in row.items()} for row in conn.execute(query, params)]

    @staticmethod
    def value(conn: psycopg.Connection, query, params=()):
        row = conn.execute(query, params).fetchone()
        return None if row is None else next(iter(row.values()))
