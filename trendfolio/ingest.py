"""Collection path shared by the collected_* assets: validated rows → Kafka topic → consumer → PostgreSQL.

The asset returns only when every record it produced is in PostgreSQL (checked by key), or fails naming what is missing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

import numpy as np
import pandas as pd
import psycopg

from trendfolio.tables import Table
from trendfolio.validation import TICKER_PATTERN, Rejection, count_by_rule, ohlc_row_problem, ohlc_rows_surely_valid
from trendfolio.warehouse import (
    connect,
    insert_consumer_dead_letter,
    partition_lock,
    replace_validation_dead_letters,
    upsert_rows,
)


DEAD_LETTER_TOPIC = "dead_letters"  # one topic for every table's refused messages: <namespace>.dead_letters


class IngestIncomplete(RuntimeError):
    pass


class Broker(Protocol):
    """The Kafka client ingest needs (`resources.kafka.KafkaResource` is one): topics and groups named per table,
    produce with acks=all, consume a group up to target offsets, a batch at a time."""

    def topic_for(self, table_name: str) -> str: ...

    def group_for(self, table_name: str) -> str: ...

    async def ensure_topic(self, topic: str) -> None: ...

    async def produce(self, topic: str, records: list[tuple[bytes, bytes]]) -> dict[int, int]: ...

    async def consume_until(self, topic: str, group_id: str, targets: dict[int, int],
                            handle_batch: Callable[[list], Awaitable[None]]): ...


@dataclass
class IngestReport:
    table: str
    topic: str
    produced: int
    written: int
    dead_lettered_validation: dict[str, int]
    dead_lettered_consumer: int
    offsets: dict[int, int] = field(default_factory=dict)
    dead_letter_topic: str = ""
    consumer_dead_letters_by_rule: dict[str, int] = field(default_factory=dict)
    lock_wait_s: float = 0.0  # time spent waiting for another run of the same table and partition

    def metadata(self) -> dict:
        return {
            "rows_produced": self.produced,
            "rows_written": self.written,
            "dead_letters_validation": sum(self.dead_lettered_validation.values()),
            "dead_letters_by_rule": dict(sorted(self.dead_lettered_validation.items())),
            "dead_letters_consumer": self.dead_lettered_consumer,
            "dead_letters_consumer_by_rule": dict(sorted(self.consumer_dead_letters_by_rule.items())),
            "kafka_topic": self.topic,
            "kafka_dead_letter_topic": self.dead_letter_topic,
            "kafka_end_offsets": {str(p): o for p, o in sorted(self.offsets.items())},
            "partition_lock_wait_s": round(self.lock_wait_s, 3),
        }


def _json_value(value):
    """json.dumps' fallback for what it cannot write itself: dates as ISO strings, numpy scalars as Python numbers."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(row: dict, partition_date: dt.date, run_id: str) -> bytes:
    envelope = {"partition_date": partition_date.isoformat(), "run_id": run_id, "row": row}
    return json.dumps(envelope, separators=(",", ":"), default=_json_value).encode()


def decode(table: Table, payload: bytes) -> tuple[dict, dt.date]:
    """A message back into a typed row; raises ValueError with the reason for anything malformed."""
    if payload is None:
        raise ValueError("no value (a tombstone)")
    try:
        envelope = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from None
    except RecursionError:
        raise ValueError("not JSON we accept: nested too deeply") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("row"), dict):
        raise ValueError("not an envelope with a 'row' object")
    try:
        partition_date = dt.date.fromisoformat(envelope["partition_date"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("partition_date missing or not an ISO date") from None
    raw = envelope["row"]
    missing = [c for c in table.columns if c not in raw]
    if missing:
        raise ValueError(f"missing fields {missing}")
    row: dict = {}
    for column in table.columns:
        value = raw[column]
        if column in table.date_columns:
            if not isinstance(value, str):
                raise ValueError(f"{column} must be an ISO date string, got {type(value).__name__}")
            row[column] = dt.date.fromisoformat(value)
        elif column in table.text_columns:
            if column == "holding_name" and value is None:
                row[column] = None
                continue
            if not isinstance(value, str):
                raise ValueError(f"{column} must be a string, got {type(value).__name__}")
            row[column] = value
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{column} must be a finite number, got {value!r}")
            if column in table.integer_columns:
                if value != int(value):
                    raise ValueError(f"{column} must be a whole number, got {value!r}")
                value = int(value)
            row[column] = value
    return row, partition_date


def printable_payload(value: bytes | str | None) -> str:
    """Raw bytes (or a reason quoting them) as text PostgreSQL can store: bytes that are not UTF-8 and NULs are
    escaped, not lost."""
    text = (value or b"").decode("utf-8", errors="backslashreplace") if not isinstance(value, str) else value
    return text.replace("\x00", "\\x00")


def dead_letter_message(
    table_name: str, topic: str, partition: int, offset: int, problem: tuple[str, str], payload: str
) -> bytes:
    """What the dead-letter topic carries: where the message was, the rule it broke, and the raw payload."""
    return json.dumps({"target_table": table_name, "topic": topic, "partition": partition, "offset": offset,
                       "rule": problem[0], "reason": problem[1], "payload": payload}, separators=(",", ":")).encode()


def row_problem(table: Table, row: dict, partition_date: dt.date) -> tuple[str, str] | None:
    """The row rules, applied again by the consumer to whatever it reads: a message need not come from our producer."""
    if "trade_date" in row:
        return ohlc_row_problem(row, partition_date)
    for column in ("etf_ticker", "holding_ticker"):
        if not TICKER_PATTERN.match(row[column]):
            return "ticker_format", f"{column} {row[column]!r} is not an exchange ticker"
    if not 0 < row["weight"] <= 1:
        return "weight_range", f"weight {row['weight']} must be a fraction in (0, 1]"
    return None


def row_problems(
    table: Table, rows: list[dict], partition_dates: list[dt.date]
) -> list[tuple[str, str] | None]:
    """`row_problem` for each decoded row; OHLC rows the vectorized pre-check vouches for skip the per-row rules."""
    problems: list[tuple[str, str] | None] = [None] * len(rows)
    vouched = np.zeros(len(rows), dtype=bool)
    if "trade_date" in table.columns and rows:
        frame = pd.DataFrame(rows)
        dates = np.array(partition_dates, dtype=object)
        for partition_date in set(partition_dates):
            same_date = dates == partition_date
            vouched[same_date] = ohlc_rows_surely_valid(frame[same_date], partition_date)
    for position in np.flatnonzero(~vouched):
        problems[position] = row_problem(table, rows[position], partition_dates[position])
    return problems


def ingest(
    table: Table,
    rows: pd.DataFrame,
    rejected: list[Rejection],
    *,
    kafka: Broker,
    database_url: str,
    partition_date: dt.date,
    source: str,
    run_id: str,
) -> IngestReport:
    records = [(table.record_key(row).encode(), encode(row, partition_date, run_id))
               for row in rows[list(table.columns)].to_dict("records")]
    # Two runs of the same session at once would share one consumer group; the second one waits here instead.
    with partition_lock(database_url, table.name, partition_date.isoformat()) as lock_wait_s:
        with connect(database_url) as conn:
            with conn.transaction():
                replace_validation_dead_letters(conn, table.name, partition_date, rejected, source, run_id)
        report = asyncio.run(_produce_and_consume(table, records, kafka, database_url))
        report.lock_wait_s = lock_wait_s
        report.dead_lettered_validation = count_by_rule(rejected)
        _reconcile(table, rows, database_url)
    return report


def _upsert_or_isolate(conn: psycopg.Connection, table: Table, rows: list[tuple[dict, object]]):
    """Upsert the batch; if PostgreSQL refuses it, upsert row by row and return the refused (message, error) pairs,
    so one row the rules let through but a table constraint refuses cannot stop the consumer."""
    try:
        with conn.transaction():
            upsert_rows(conn, table, [row for row, _ in rows])
        return len(rows), []
    except (psycopg.DataError, psycopg.IntegrityError):
        pass
    written, refused = 0, []
    for row, message in rows:
        try:
            with conn.transaction():
                written += upsert_rows(conn, table, [row])
        except (psycopg.DataError, psycopg.IntegrityError) as error:
            refused.append((message, str(error).splitlines()[0]))
    return written, refused


async def _produce_and_consume(
    table: Table, records: list[tuple[bytes, bytes]], kafka: Broker, database_url: str
) -> IngestReport:
    topic = kafka.topic_for(table.name)
    await kafka.ensure_topic(topic)
    targets = await kafka.produce(topic, records) if records else {}
    dead_letter_topic = kafka.topic_for(DEAD_LETTER_TOPIC)
    written = 0
    consumer_dead_letters: dict[str, int] = {}

    async def write_batch(messages: list) -> None:
        nonlocal written
        problems: list[tuple[str, str] | None] = [None] * len(messages)
        decoded: dict[int, tuple[dict, dt.date]] = {}
        for position, message in enumerate(messages):
            try:
                decoded[position] = decode(table, message.value)
            except ValueError as error:
                problems[position] = ("malformed_message", str(error))
        checked = row_problems(table, [row for row, _ in decoded.values()], [day for _, day in decoded.values()])
        for position, problem in zip(decoded, checked):
            problems[position] = problem
        good = [(decoded[position][0], messages[position]) for position in decoded if problems[position] is None]
        refused = [(message, problem) for message, problem in zip(messages, problems) if problem is not None]
        dead_letters: list[tuple[bytes, bytes]] = []
        with conn.transaction():
            batch_written, constraint_refused = _upsert_or_isolate(conn, table, good)
            written += batch_written
            refused += [(message, ("database_constraint", reason)) for message, reason in constraint_refused]
            for message, (rule, reason) in refused:
                payload = printable_payload(message.value)
                insert_consumer_dead_letter(
                    conn, table.name, Rejection(printable_payload(message.key), rule, printable_payload(reason), payload),
                    message.partition, message.offset,
                )
                consumer_dead_letters[rule] = consumer_dead_letters.get(rule, 0) + 1
                dead_letters.append((message.key or b"", dead_letter_message(
                    table.name, topic, message.partition, message.offset, (rule, reason), payload)))
        # After the database commit and before the offset commit: a crash in between re-sends the same dead letters
        # to the topic (at least once there), while the table keeps one row per message.
        if dead_letters:
            await kafka.ensure_topic(dead_letter_topic)
            await kafka.produce(dead_letter_topic, dead_letters)

    # One connection for the whole read (a transaction per batch): connecting per batch costs a SCRAM handshake each.
    with connect(database_url) as conn:
        consumed = await kafka.consume_until(topic, kafka.group_for(table.name), targets, write_batch)
    return IngestReport(
        table=table.name, topic=topic, produced=len(records), written=written,
        dead_lettered_validation={}, dead_lettered_consumer=sum(consumer_dead_letters.values()),
        offsets=consumed.committed or targets, dead_letter_topic=dead_letter_topic,
        consumer_dead_letters_by_rule=consumer_dead_letters,
    )


def _reconcile(table: Table, rows: pd.DataFrame, database_url: str) -> None:
    """Every key we produced must now be in the table."""
    if rows.empty:
        return
    keys = rows[list(table.key)].drop_duplicates()
    key_list = ", ".join(table.key)
    with connect(database_url) as conn:
        with conn.transaction():
            conn.execute(f"CREATE TEMP TABLE expected_keys AS SELECT {key_list} FROM {table.name} WITH NO DATA")
            with conn.cursor().copy(f"COPY expected_keys ({key_list}) FROM STDIN") as copy:
                for key in keys.itertuples(index=False):
                    copy.write_row(tuple(key))
            conn.execute("ANALYZE expected_keys")  # so the planner probes the key index for a night's few rows
            # An anti-join on the primary key: its cost follows the rows produced, not the table's history.
            absent = (f"FROM expected_keys e WHERE NOT EXISTS (SELECT 1 FROM {table.name} t WHERE "
                      + " AND ".join(f"t.{column} = e.{column}" for column in table.key) + ")")
            missing_count = conn.execute(f"SELECT count(*) {absent}").fetchone()[0]
            missing = conn.execute(
                f"SELECT {', '.join(f'e.{column}' for column in table.key)} {absent} LIMIT 20"
            ).fetchall() if missing_count else []
            conn.execute("DROP TABLE expected_keys")
    if missing_count:
        raise IngestIncomplete(
            f"{table.name}: {missing_count} of {len(keys)} produced rows are not in PostgreSQL, e.g. {missing[:5]}"
        )
