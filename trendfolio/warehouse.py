"""Writes to the PostgreSQL warehouse that every writer shares: the upsert of collected rows, the dead-letter table,
and the advisory lock that makes two writers of one table take turns. Plain psycopg on a database URL."""

from __future__ import annotations

import re
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import unquote, urlparse

import numpy as np
import psycopg
import pyarrow as pa

from trendfolio.batches import csv_for_copy, to_arrow
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


class TableBusy(RuntimeError):
    """Another run kept the table locked for longer than we were willing to wait."""


# Advisory-lock class of the table writers: (TABLE_LOCK, hashtext(table)).
TABLE_LOCK = 7_301_003
_held = threading.local()  # the tables this thread holds the lock of


@contextmanager
def table_lock(database_url: str, table: str, wait_s: float = 1800.0) -> Iterator[float]:
    """Serialize the writers of one table across runs and processes, whatever sessions they write: a PostgreSQL
    advisory lock on the table, held on a connection of its own for the whole body. Two runs of the same session,
    or two backfills whose ranges overlap, then write one after the other, and the second reads what the first wrote
    instead of interleaving with it (a lock per exact range let overlapping ranges through). Taken again by the thread
    that holds it (an asset that reads and writes under it), it is a no-op. Yields the seconds spent waiting."""
    held = _held.__dict__.setdefault("tables", set())
    if table in held:
        yield 0.0
        return
    began = time.monotonic()
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"SET lock_timeout = {int(wait_s * 1000)}")
        try:
            conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (TABLE_LOCK, table))
        except psycopg.errors.LockNotAvailable:
            raise TableBusy(f"{table}: another run has held its lock for over {wait_s:.0f} s") from None
        held.add(table)
        try:
            yield time.monotonic() - began
        finally:
            held.discard(table)
            try:
                conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (TABLE_LOCK, table))
            except psycopg.OperationalError:
                pass  # the server went away, and the lock with its session: the body's own error is the one to see


# Advisory-lock class of the staging tables in use: (STAGING_LOCK, hashtext(name)).
STAGING_LOCK = 7_301_002


@contextmanager
def staging_table(database_url: str, table: str) -> Iterator[str]:
    """An UNLOGGED table with `table`'s columns for Spark to append to, dropped afterwards. Its creator holds an
    advisory lock on its name from before it exists until it is gone, on a connection of its own: a process killed
    with the table still there loses the lock with its connection, which is how `drop_orphan_staging_tables` tells a
    leftover from a table in use."""
    stage = f"stage_{table}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (STAGING_LOCK, stage))
        conn.execute(f"CREATE UNLOGGED TABLE {stage} (LIKE {table} INCLUDING DEFAULTS)")
        try:
            yield stage
        finally:
            try:
                conn.execute(f"DROP TABLE IF EXISTS {stage}")
            except psycopg.OperationalError:
                pass  # the server went away: the body's own error is the one to see; the next run drops the table


def drop_orphan_staging_tables(database_url: str) -> list[str]:
    """Drop the staging tables no live writer holds (left by a killed run); returns their names."""
    dropped = []
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'stage\\_%'")]
        for name in names:
            if not conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (STAGING_LOCK, name)).fetchone()[0]:
                continue  # a running writer's
            try:
                conn.execute(f'DROP TABLE IF EXISTS "{name}"')
                dropped.append(name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (STAGING_LOCK, name))
    return dropped


def upsert_rows(conn: psycopg.Connection, table: Table, rows) -> int:
    """COPY into a staging table, then INSERT … ON CONFLICT DO UPDATE, inside the caller's transaction. `rows` is an
    Arrow table of the table's schema, a pandas frame or a list of row dicts. The last row for a key wins, as a
    re-delivered message repeats an earlier one."""
    data = latest_per_key(table, to_arrow(table, rows))
    if not data.num_rows:
        return 0
    columns = ", ".join(table.columns)
    stage = f"stage_{table.name}"
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP")
    with conn.cursor().copy(f"COPY {stage} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(csv_for_copy(data))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in table.columns if c not in table.key)
    conn.execute(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {stage} "
        f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}, collected_at = now()"
    )
    conn.execute(f"DROP TABLE {stage}")  # a second call in the same transaction must not insert these rows again
    return data.num_rows


def insert_new_rows(conn: psycopg.Connection, table: Table, rows: pa.Table) -> bool:
    """COPY the rows straight into the table, in a savepoint of the caller's transaction: False, with nothing written,
    when a key is already there (the caller upserts instead). Rows new to the table then cost one COPY, not a staging
    COPY plus an INSERT … ON CONFLICT. Any row the table refuses (a key, a constraint) makes it False too: the
    caller's upsert then finds and isolates it."""
    try:
        with conn.transaction():
            with conn.cursor().copy(f"COPY {table.name} ({', '.join(table.columns)}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(csv_for_copy(rows))
        return True
    except (psycopg.DataError, psycopg.IntegrityError):
        return False


def latest_per_key(table: Table, data: pa.Table) -> pa.Table:
    """The last row of each key, in their first order (INSERT … ON CONFLICT refuses a key twice in one statement)."""
    positions = pa.array(np.arange(data.num_rows))
    last = data.select(list(table.key)).append_column("_position", positions).group_by(
        list(table.key), use_threads=False).aggregate([("_position", "max")])
    if last.num_rows == data.num_rows:
        return data
    return data.take(pa.array(np.sort(last.column("_position_max").to_numpy())))


def replace_validation_dead_letters(
    conn: psycopg.Connection, target_table: str, partition_date, rejections: list[Rejection], source: str, run_id: str
) -> int:
    """The rows validation refused for this table and date, replacing an earlier run's, so re-runs add no copies.
    A row an earlier night already refused for the same rule (a re-fetched day of the trailing window) is not
    recorded again: a glitch stays one dead letter however many nights re-fetch it."""
    conn.execute(
        "DELETE FROM ops_dead_letters WHERE target_table = %s AND partition_date = %s AND stage = 'validation'",
        (target_table, partition_date),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ops_dead_letters (target_table, stage, partition_date, record_key, rule, reason, payload,"
            " source, run_id) SELECT %s, 'validation', %s, %s, %s, %s, %s, %s, %s WHERE NOT EXISTS ("
            "SELECT 1 FROM ops_dead_letters WHERE target_table = %s AND stage = 'validation' AND record_key = %s "
            "AND rule = %s AND partition_date < %s)",
            [(target_table, partition_date, r.record_key, r.rule, r.reason, r.payload, source, run_id,
              target_table, r.record_key, r.rule, partition_date)
             for r in rejections],
        )
    return len(rejections)


def insert_consumer_dead_letter(
    conn: psycopg.Connection, target_table: str, rejection: Rejection, kafka_partition: int, kafka_offset: int,
    batch_row: int | None = None,
) -> None:
    """A refused message (`batch_row` None) or one refused row of a message; a re-delivery adds no second copy."""
    conn.execute(
        "INSERT INTO ops_dead_letters (target_table, stage, record_key, rule, reason, payload, kafka_partition,"
        " kafka_offset, kafka_batch_row) VALUES (%s, 'consumer', %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (target_table, rejection.record_key, rejection.rule, rejection.reason, rejection.payload, kafka_partition,
         kafka_offset, batch_row),
    )


def warehouse_namespace(conn: psycopg.Connection) -> str:
    """The default Kafka namespace of this warehouse: its database name and a random identity made by migration 011,
    so two warehouses sharing a broker (two databases of one server, or of two servers) never share a topic."""
    database, identity = conn.execute(
        "SELECT current_database(), warehouse_id::text FROM ops_warehouse_identity").fetchone()
    return f"trendfolio.{re.sub(r'[^A-Za-z0-9_-]', '_', database)[:100]}.{identity[:8]}"
