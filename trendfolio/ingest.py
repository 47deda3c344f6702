"""Collection path shared by the collected_* assets: validated rows → Kafka topic → consumer → PostgreSQL.

The asset returns only when every row it produced is in PostgreSQL, or fails naming what is missing: a batch the
consumer wrote whole in a committed transaction is confirmed by that commit, any other is checked by key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa

from trendfolio.batches import csv_for_copy, decode_batch, encode_batches, null_problem, row_payload
from trendfolio.tables import Table
from trendfolio.validation import (
    Rejection,
    count_by_rule,
    holding_row_problem,
    ohlc_row_problem,
    ohlc_rows_surely_valid,
)
from trendfolio.warehouse import (
    connect,
    insert_consumer_dead_letter,
    insert_new_rows,
    latest_per_key,
    replace_validation_dead_letters,
    table_lock,
    upsert_rows,
    warehouse_namespace,
)


DEAD_LETTER_TOPIC = "dead_letters"  # one topic for every table's refused messages: <namespace>.dead_letters


class IngestIncomplete(RuntimeError):
    pass


class Broker(Protocol):
    """The Kafka client ingest needs (`resources.kafka.KafkaResource` is one): topics and groups named per table,
    produce with acks=all, consume a group up to target offsets, a batch at a time."""

    def in_namespace(self, default: str) -> "Broker": ...  # itself, or a copy in `default` when it has none

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
    lock_wait_s: float = 0.0  # time spent waiting for another writer of the same table
    messages_produced: int = 0  # one message per batch of rows (trendfolio/batches.py)
    messages_rechecked: int = 0  # this run's messages from another producer (an earlier attempt): rules re-applied
    messages_of_other_runs: int = 0  # skipped, not written: another run's messages on the same topic
    confirmed: set[str] = field(default_factory=set)  # checksums of own batches written whole by this consumer

    def metadata(self) -> dict:
        return {
            "rows_produced": self.produced,
            "rows_written": self.written,
            "dead_letters_validation": sum(self.dead_lettered_validation.values()),
            "dead_letters_by_rule": dict(sorted(self.dead_lettered_validation.items())),
            "dead_letters_consumer": self.dead_lettered_consumer,
            "dead_letters_consumer_by_rule": dict(sorted(self.consumer_dead_letters_by_rule.items())),
            "kafka_messages_produced": self.messages_produced,
            "kafka_messages_rechecked": self.messages_rechecked,
            "kafka_messages_of_other_runs_skipped": self.messages_of_other_runs,
            "kafka_topic": self.topic,
            "kafka_dead_letter_topic": self.dead_letter_topic,
            "kafka_end_offsets": {str(p): o for p, o in sorted(self.offsets.items())},
            "table_lock_wait_s": round(self.lock_wait_s, 3),
        }


def printable_payload(value: bytes | str | None) -> str:
    """Raw bytes (or a reason quoting them) as text PostgreSQL can store: bytes that are not UTF-8 and NULs are
    escaped, not lost."""
    text = (value or b"").decode("utf-8", errors="backslashreplace") if not isinstance(value, str) else value
    return text.replace("\x00", "\\x00")


def dead_letter_message(
    table_name: str, topic: str, partition: int, offset: int, batch_row: int | None, problem: tuple[str, str],
    payload: str,
) -> bytes:
    """What the dead-letter topic carries: where the message (and the row in it) was, the rule it broke, and the raw
    payload (the row, for a row refused inside a batch)."""
    return json.dumps({"target_table": table_name, "topic": topic, "partition": partition, "offset": offset,
                       "batch_row": batch_row, "rule": problem[0], "reason": problem[1], "payload": payload},
                      separators=(",", ":")).encode()


def row_problem(table: Table, row: dict, partition_date: dt.date) -> tuple[str, str] | None:
    """Validation's row rules, applied again by the consumer to rows this call's producer did not send."""
    if "trade_date" in row:
        return ohlc_row_problem(row, partition_date)
    return holding_row_problem(row)


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
    producer = uuid.uuid4().hex  # this call's producer: its own messages skip the consumer's re-check of the rules
    records = encode_batches(table, rows, partition_date, run_id, producer)
    # Two runs writing the table at once (the same session, or overlapping ranges) would share one consumer group and
    # interleave their upserts; the second one waits here instead.
    with table_lock(database_url, table.name) as lock_wait_s:
        with connect(database_url) as conn:
            kafka = kafka.in_namespace(warehouse_namespace(conn))
            with conn.transaction():
                replace_validation_dead_letters(conn, table.name, partition_date, rejected, source, run_id)
        report = asyncio.run(_produce_and_consume(table, records, kafka, database_url, run_id, producer))
        report.produced = len(rows)
        report.lock_wait_s = lock_wait_s
        report.dead_lettered_validation = count_by_rule(rejected)
        _reconcile(table, _unconfirmed_rows(table, records, report.confirmed), database_url, len(rows))
    return report


def _unconfirmed_rows(table: Table, records: list[tuple[bytes, bytes]], confirmed: set[str]) -> pa.Table | None:
    """The rows of this call's messages that the consumer did not see committed whole: a batch its own transaction
    wrote with every row is in PostgreSQL; any other (read by another consumer of the group, or with a row PostgreSQL
    refused) is checked by key."""
    batches = [decode_batch(table, value) for _, value in records]
    left = [batch.rows for batch in batches if batch.checksum not in confirmed]
    return pa.concat_tables(left) if left else None


def _write_or_isolate(conn: psycopg.Connection, table: Table, rows: pa.Table) -> tuple[int, list]:
    """Upsert the rows; if PostgreSQL refuses them, upsert each half on its own, down to single rows, and return the
    refused (position, error) pairs: a row the rules let through but a table constraint refuses cannot stop the
    consumer, and finding k bad rows among n costs about k·log2(n) statements."""
    try:
        with conn.transaction():
            return upsert_rows(conn, table, rows), []
    except (psycopg.DataError, psycopg.IntegrityError) as error:
        if rows.num_rows == 1:
            return 0, [(0, str(error).splitlines()[0])]
    half = rows.num_rows // 2
    written_first, refused_first = _write_or_isolate(conn, table, rows.slice(0, half))
    written_second, refused_second = _write_or_isolate(conn, table, rows.slice(half))
    return written_first + written_second, refused_first + [(half + at, error) for at, error in refused_second]


@dataclass
class _Refused:
    message: object
    rule: str
    reason: str
    batch_row: int | None = None  # None: the whole message
    row: dict | None = None

    def rejection(self, table: Table) -> Rejection:
        if self.row is None:
            return Rejection(printable_payload(self.message.key), self.rule, printable_payload(self.reason),
                             printable_payload(self.message.value))
        return Rejection(printable_payload(table.record_key(self.row)), self.rule, printable_payload(self.reason),
                         printable_payload(row_payload(self.row)))


async def _produce_and_consume(
    table: Table, records: list[tuple[bytes, bytes]], kafka: Broker, database_url: str,
    run_id: str, producer: str,
) -> IngestReport:
    topic = kafka.topic_for(table.name)
    await kafka.ensure_topic(topic)
    targets = await kafka.produce(topic, records) if records else {}
    dead_letter_topic = kafka.topic_for(DEAD_LETTER_TOPIC)
    report = IngestReport(
        table=table.name, topic=topic, produced=0, written=0, dead_lettered_validation={}, dead_lettered_consumer=0,
        dead_letter_topic=dead_letter_topic, messages_produced=len(records),
    )
    state = {"keys_exist": False}

    def rows_of(message, batch) -> tuple[pa.Table, list[_Refused], list]:
        """A batch's rows to write (with their positions in the message) and the rows refused by the rules."""
        if batch.producer == producer:  # validated by this call before it was produced
            return batch.rows, [], list(range(batch.rows.num_rows))
        report.messages_rechecked += 1
        listed = batch.rows.to_pylist()
        problems = [null_problem(table, row) for row in listed]
        complete = [position for position, problem in enumerate(problems) if problem is None]
        for position, problem in zip(complete, row_problems(
                table, [listed[position] for position in complete], [batch.partition_date] * len(complete))):
            problems[position] = problem
        refused = [_Refused(message, problem[0], problem[1], position, listed[position])
                   for position, problem in enumerate(problems) if problem is not None]
        keep = [position for position, problem in enumerate(problems) if problem is None]
        return batch.rows.take(pa.array(keep, type=pa.int64())), refused, keep

    async def write_batch(messages: list) -> None:
        refused: list[_Refused] = []
        own: list[str] = []  # checksums of this call's own batches in the fetch
        parts: list[pa.Table] = []
        origins: list[tuple[object, list]] = []  # per part: its message and each row's position in that message
        for message in messages:
            try:
                batch = decode_batch(table, message.value)
            except ValueError as error:
                refused.append(_Refused(message, "malformed_message", str(error)))
                continue
            if batch.run_id != run_id:  # another run's (another warehouse's, on a shared namespace): not ours to write
                report.messages_of_other_runs += 1
                continue
            good, refused_rows, positions = rows_of(message, batch)
            refused += refused_rows
            parts.append(good)
            origins.append((message, positions))
            if batch.producer == producer:
                own.append(batch.checksum)
        dead_letters: list[tuple[bytes, bytes]] = []
        with conn.transaction():
            if parts:
                whole = pa.concat_tables(parts)
                written, constraint_refused = None, []
                if len(own) == len(parts) and not state["keys_exist"]:  # fresh rows: one COPY, no upsert
                    written = whole.num_rows if insert_new_rows(conn, table, whole) else None
                    state["keys_exist"] = written is None  # a re-run (or a refused row): the rest of this read upserts
                if written is None:
                    written, constraint_refused = _write_or_isolate(conn, table, whole)
                report.written += written
                if not constraint_refused:
                    report.confirmed.update(own)
                else:
                    located = [(message, position) for message, positions in origins for position in positions]
                    for at, error in constraint_refused:
                        message, position = located[at]
                        refused.append(_Refused(message, "database_constraint", error, position,
                                                whole.slice(at, 1).to_pylist()[0]))
            for item in refused:
                rejection = item.rejection(table)
                insert_consumer_dead_letter(conn, table.name, rejection, item.message.partition,
                                            item.message.offset, item.batch_row)
                report.consumer_dead_letters_by_rule[item.rule] = (
                    report.consumer_dead_letters_by_rule.get(item.rule, 0) + 1)
                dead_letters.append((item.message.key or b"", dead_letter_message(
                    table.name, topic, item.message.partition, item.message.offset, item.batch_row,
                    (item.rule, item.reason), rejection.payload)))
        # After the database commit and before the offset commit: a crash in between re-sends the same dead letters
        # to the topic (at least once there), while the table keeps one row per message.
        if dead_letters:
            await kafka.ensure_topic(dead_letter_topic)
            await kafka.produce(dead_letter_topic, dead_letters)

    # One connection for the whole read (a transaction per batch): connecting per batch costs a SCRAM handshake each.
    with connect(database_url) as conn:
        consumed = await kafka.consume_until(topic, kafka.group_for(table.name), targets, write_batch)
    report.dead_lettered_consumer = sum(report.consumer_dead_letters_by_rule.values())
    report.offsets = consumed.committed or targets
    return report


def _reconcile(table: Table, rows: pa.Table | None, database_url: str, produced: int) -> None:
    """Every key of `rows` (the produced rows not confirmed by the consumer) must now be in the table."""
    if rows is None or not rows.num_rows:
        return
    keys = latest_per_key(table, rows.select(list(table.key)))
    key_list = ", ".join(table.key)
    with connect(database_url) as conn:
        with conn.transaction():
            conn.execute(f"CREATE TEMP TABLE expected_keys AS SELECT {key_list} FROM {table.name} WITH NO DATA")
            with conn.cursor().copy(f"COPY expected_keys ({key_list}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(csv_for_copy(keys))
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
            f"{table.name}: {missing_count} of {produced} produced rows are not in PostgreSQL, e.g. {missing[:5]}"
        )
