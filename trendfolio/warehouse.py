"""Writes to the PostgreSQL warehouse that every writer shares: the upsert of collected rows, the dead-letter table,
and the advisory lock that makes two runs of one table and partition take turns. Plain psycopg on a database URL."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import unquote, urlparse

import psycopg

from trendfolio.tables import Table
from trendfolio.validation import Rejection


@contextmanager
def connect(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        yield conn


@dataclass(frozen=True)
class JdbcTarget:
    url: str
    user: str
    password: str

    def options(self) -> dict[str, str]:
        return {"url": self.url, "user": self.user, "password": self.password, "driver": "org.postgresql.Driver"}


def jdbc_target(database_url: str) -> JdbcTarget:
    """The libpq URL as Spark's JDBC reader and writer want it."""
    parsed = urlparse(database_url)
    port = parsed.port or 5432
    return JdbcTarget(
        url=f"jdbc:postgresql://{parsed.hostname}:{port}{parsed.path}",
        user=unquote(parsed.username or ""),
        password=unquote(parsed.password or ""),
    )


class PartitionBusy(RuntimeError):
    """Another run kept the same table and partition locked for longer than we were willing to wait."""


@contextmanager
def partition_lock(database_url: str, name: str, partition: str, wait_s: float = 1800.0) -> Iterator[float]:
    """Serialize the writers of one table and partition across runs and processes: a PostgreSQL advisory lock on
    (name, partition), held on a connection of its own for the whole body. Two runs of the same session then write one
    after the other, and the second finds what the first wrote instead of interleaving with it. Yields the seconds
    spent waiting for the lock."""
    began = time.monotonic()
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"SET lock_timeout = {int(wait_s * 1000)}")
        try:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", (name, partition))
        except psycopg.errors.LockNotAvailable:
            raise PartitionBusy(
                f"{name} {partition}: another run has held its lock for over {wait_s:.0f} s"
            ) from None
        try:
            yield time.monotonic() - began
        finally:
            try:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", (name, partition))
            except psycopg.OperationalError:
                pass  # the server went away, and the lock with its session: the body's own error is the one to see


def upsert_rows(conn: psycopg.Connection, table: Table, rows: list[dict]) -> int:
    """COPY into a staging table, then INSERT … ON CONFLICT DO UPDATE, inside the caller's transaction.
    The last row for a key wins, as a re-delivered message repeats an earlier one."""
    latest = {tuple(row[c] for c in table.key): row for row in rows}
    if not latest:
        return 0
    columns = ", ".join(table.columns)
    stage = f"stage_{table.name}"
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP")
    with conn.cursor().copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
        for row in latest.values():
            copy.write_row(tuple(row[c] for c in table.columns))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in table.columns if c not in table.key)
    conn.execute(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {stage} "
        f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}, collected_at = now()"
    )
    conn.execute(f"DROP TABLE {stage}")  # a second call in the same transaction must not insert these rows again
    return len(latest)


def replace_validation_dead_letters(
    conn: psycopg.Connection, target_table: str, partition_date, rejections: list[Rejection], source: str, run_id: str
) -> int:
    """The rows validation refused for this table and date, replacing an earlier run's, so re-runs add no copies."""
    conn.execute(
        "DELETE FROM ops_dead_letters WHERE target_table = %s AND partition_date = %s AND stage = 'validation'",
        (target_table, partition_date),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ops_dead_letters (target_table, stage, partition_date, record_key, rule, reason, payload,"
            " source, run_id) VALUES (%s, 'validation', %s, %s, %s, %s, %s, %s, %s)",
            [(target_table, partition_date, r.record_key, r.rule, r.reason, r.payload, source, run_id)
             for r in rejections],
        )
    return len(rejections)


def insert_consumer_dead_letter(
    conn: psycopg.Connection, target_table: str, rejection: Rejection, kafka_partition: int, kafka_offset: int
) -> None:
    conn.execute(
        "INSERT INTO ops_dead_letters (target_table, stage, record_key, rule, reason, payload, kafka_partition,"
        " kafka_offset) VALUES (%s, 'consumer', %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (target_table, rejection.record_key, rejection.rule, rejection.reason, rejection.payload, kafka_partition,
         kafka_offset),
    )
