"""Fuzzed messages (hypothesis) against the consumer: first its pure decode and row rules, then the whole consume path
with raw bytes produced to the topic. Nothing may crash the consumer, nothing invalid may reach a collected table, and
every message refused has a rule and a reason in ops_dead_letters. (The fixed bad-row corpus is the collection
issue's; this module generates what nobody thought of.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import uuid

import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fault_support import SESSION, ohlc_rows, record_summary
from resources import KafkaResource, PostgresResource
from trendfolio import calendar
from trendfolio.batches import arrow_schema, decode_batch, encode_batch, null_problem
from trendfolio.ingest import IngestIncomplete, ingest, row_problem
from trendfolio.tables import DAILY_ETF_OHLC, ETF_HOLDINGS
from trendfolio.validation import TICKER_PATTERN

PURE_EXAMPLES = 200
END_TO_END_EXAMPLES = int(os.environ.get("TRENDFOLIO_FUZZ_RUNS", 2))
PAYLOADS_PER_RUN = 30

HOSTILE_TEXT = st.sampled_from([
    "'; DROP TABLE collected_01_daily_etf_ohlc; --", "SPY\x00", "\x00", "\ud7ff\uffff", "😀📉", "A" * 5000, "", " SPY",
    "spy", "SPY ", "2026-02-30", "2026-11-25T00:00:00", "9999-12-31", "0001-01-01", "NaN", "1e309", "-0", "null",
    "benchmark\x00", "Robert'); --", "%s%s%s", "{row}",
])
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20) | HOSTILE_TEXT)
JUNK = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                          max_size=3), max_leaves=6)
FUZZ_TICKER = "ZZFUZ"  # mutated rows get their own ticker, so a fuzzed row never shares a key with a valid one


def _base_rows(table) -> list[dict]:
    if table is DAILY_ETF_OHLC:
        frame = ohlc_rows(sessions=3).head(3).assign(ticker=FUZZ_TICKER)
    else:
        frame = ohlc_rows(sessions=1).head(3)
        frame = frame.assign(etf_ticker="XLK", as_of_date=frame["trade_date"], holding_ticker=FUZZ_TICKER,
                             holding_name="Fuzz Inc.", weight=0.05)
    return frame[list(table.columns)].to_dict("records")


BASE = {table.name: _base_rows(table) for table in (DAILY_ETF_OHLC, ETF_HOLDINGS)}


def _column_values(table, column):
    """Values an Arrow column of the table's type can hold, hostile ones first."""
    if column in table.date_columns:
        return st.dates() | st.none()
    if column in table.integer_columns:
        return st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.none()
    if column in table.text_columns:
        return HOSTILE_TEXT | st.text(max_size=12) | st.none()
    return st.floats(allow_nan=True, allow_infinity=True) | st.none()


def hostile_batch(table, rows: list[dict], run_id="fuzz", producer="hand-made", schema=None, header=None) -> bytes:
    """A batch message as a producer other than the consumer's own would send it, optionally with another schema or
    header fields replaced."""
    data = pa.Table.from_pylist(rows, schema=schema or arrow_schema(table))
    payload = encode_batch(table, data, SESSION, run_id, producer)
    if header is None:
        return payload
    length = int.from_bytes(payload[4:8], "big")
    fields = {**json.loads(payload[8:8 + length]), **header}
    text = json.dumps(fields, allow_nan=True, default=str).encode()
    return payload[:4] + len(text).to_bytes(4, "big") + text + payload[8 + length:]


@st.composite
def batches(draw, table) -> bytes:
    """A real batch of 1–3 rows with a few of its values, its schema, its header or its bytes broken."""
    rows = [dict(row) for row in draw(st.lists(st.sampled_from(BASE[table.name]), min_size=1, max_size=3))]
    schema, header = None, None
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(["row", "row", "row", "schema", "header"]))
        if target == "row":
            column = draw(st.sampled_from(table.columns))
            rows[draw(st.integers(0, len(rows) - 1))][column] = draw(_column_values(table, column))
        elif target == "header":
            header = {**(header or {}), draw(st.sampled_from(
                ["version", "table", "run_id", "producer", "partition_date", "rows", "sha256", "extra"])): draw(JUNK)}
        else:
            schema = draw(st.sampled_from(table.columns))
    if schema is not None:  # one column renamed or turned into text
        column, renamed = schema, draw(st.sampled_from([schema, schema + "_x"]))
        schema = pa.schema([pa.field(renamed, pa.string()) if f.name == column else f for f in arrow_schema(table)])
        rows = [{(renamed if name == column else name): (None if value is None else str(value)) if name == column
                 else value for name, value in row.items()} for row in rows]
    payload = hostile_batch(table, rows, schema=schema, header=header)
    if draw(st.booleans()):  # flip or cut bytes: the checksum (or the framing) must notice
        at = draw(st.integers(0, len(payload) - 1))
        payload = payload[:at] + bytes([payload[at] ^ draw(st.integers(1, 255))]) + payload[at + 1:] \
            if draw(st.booleans()) else payload[:at]
    return payload


def payloads(table):
    return (batches(table) | st.binary(max_size=300)
            | JUNK.map(lambda value: json.dumps(value, allow_nan=True).encode())
            | st.sampled_from([b"TFB1", b"TFB1\xff\xff\xff\xff{}", b"TFB1\x00\x00\x00\x02{}", b"\xff\xfe\x00",
                               b"null"]))


def refusals(table, payload, run_id="fuzz") -> tuple[str, list[tuple[str, str] | None]]:
    """How the consumer must treat a message: ("malformed", []), ("other_run", []) or ("rows", a problem or None per
    row); every refusal must carry a rule and a reason."""
    try:
        batch = decode_batch(table, payload)
    except ValueError as error:
        assert str(error)
        return "malformed", []
    if batch.run_id != run_id:
        return "other_run", []
    problems = []
    for row in batch.rows.to_pylist():
        problem = null_problem(table, row) or row_problem(table, row, batch.partition_date)
        assert problem is None or (problem[0] and problem[1])
        problems.append((problem, row))
    return "rows", problems


def assert_row_obeys_the_table(table, row: dict) -> None:
    if table is DAILY_ETF_OHLC:
        prices = [row[c] for c in ("open", "high", "low", "close", "adj_close")]
        assert TICKER_PATTERN.match(row["ticker"])
        assert all(math.isfinite(p) and p > 0 for p in prices)
        assert row["high"] >= max(row["open"], row["close"]) and row["low"] <= min(row["open"], row["close"])
        assert isinstance(row["volume"], int) and row["volume"] >= 0
        assert calendar.is_session(row["trade_date"])
    else:
        assert TICKER_PATTERN.match(row["etf_ticker"]) and TICKER_PATTERN.match(row["holding_ticker"])
        assert 0 < row["weight"] <= 1


@pytest.mark.parametrize("table", [DAILY_ETF_OHLC, ETF_HOLDINGS], ids=lambda t: t.name)
@settings(max_examples=PURE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decode_and_rules_refuse_with_a_reason_or_accept_a_valid_row(table, data):
    kind, problems = refusals(table, data.draw(payloads(table) | st.none()))
    for problem, row in problems:
        if problem is None:
            assert_row_obeys_the_table(table, row)


def _produce_raw(kafka: KafkaResource, topic: str, messages: list[tuple[bytes | None, bytes | None]]) -> None:
    async def send():
        await kafka.ensure_topic(topic)
        await kafka.produce(topic, messages)

    asyncio.run(send())


FUZZ_TOTALS = {"runs": 0, "payloads": 0, "dead_lettered": 0, "landed": 0, "database_constraint": 0, "crashes": 0}


@pytest.mark.integration
@settings(max_examples=END_TO_END_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(poison=st.lists(payloads(DAILY_ETF_OHLC), min_size=PAYLOADS_PER_RUN, max_size=PAYLOADS_PER_RUN))
def test_fuzzed_messages_on_the_topic_never_crash_the_consumer(warehouse, poison):
    # Fixed hostile messages in every run: a tombstone, NUL in a text column, a role the table refuses, an integer
    # beyond bigint — the last three pass the consumer's rules and only PostgreSQL can refuse them.
    base = BASE[DAILY_ETF_OHLC.name]
    hostile = [{**base[0], "source": "synthetic\x00"}, {**base[1], "etf_role": "ceo's pick"},
               {**base[2], "source": "bloomberg"}]
    fixed = [None, hostile_batch(DAILY_ETF_OHLC, hostile)]
    messages = [(f"fuzz-{i}".encode(), value) for i, value in enumerate([*fixed, *poison])]
    with psycopg.connect(warehouse.database_url) as conn:
        conn.execute(f"TRUNCATE {DAILY_ETF_OHLC.name}, ops_dead_letters")
    kafka = KafkaResource(bootstrap_servers=warehouse.bootstrap_servers,
                          namespace=f"{warehouse.namespace}_{uuid.uuid4().hex[:6]}", operation_timeout_s=15)
    postgres = PostgresResource(database_url=warehouse.database_url)
    _produce_raw(kafka, kafka.topic_for(DAILY_ETF_OHLC.name), messages)

    valid = ohlc_rows(sessions=2)
    report = ingest(DAILY_ETF_OHLC, valid, [], kafka=kafka, database_url=postgres.database_url, partition_date=SESSION,
                    source="synthetic", run_id="fuzz")  # must not raise: that would be the consumer crashing

    with psycopg.connect(warehouse.database_url) as conn:
        dead = conn.execute("SELECT rule, reason, payload FROM ops_dead_letters WHERE stage = 'consumer'").fetchall()
        fuzz_rows = conn.execute(
            f"SELECT {', '.join(DAILY_ETF_OHLC.columns)} FROM {DAILY_ETF_OHLC.name} WHERE ticker <> ALL(%s)",
            (list(valid["ticker"].unique()),)).fetchall()
        valid_count = conn.execute(f"SELECT count(*) FROM {DAILY_ETF_OHLC.name} WHERE ticker = ANY(%s)",
                                   (list(valid["ticker"].unique()),)).fetchone()[0]
    assert valid_count == len(valid)
    assert all(rule and reason for rule, reason, _ in dead), "a refused message without a reason"
    by_database = sum(rule == "database_constraint" for rule, _, _ in dead)
    assert by_database >= 3, "the NUL, the unknown role and the huge volume must be refused by PostgreSQL"
    verdicts = [refusals(DAILY_ETF_OHLC, payload) for _, payload in messages]
    malformed = sum(kind == "malformed" for kind, _ in verdicts)
    rows = [(problem, row) for _, problems in verdicts for problem, row in problems]
    accepted = [row for problem, row in rows if problem is None]
    # Every message is accounted for: refused whole with a reason, skipped as another run's, or each of its rows
    # refused with a reason or accepted by the rules and the table.
    assert len(dead) + len(accepted) - by_database == malformed + len(rows)
    assert report.messages_of_other_runs == sum(kind == "other_run" for kind, _ in verdicts)
    for values in fuzz_rows:
        row = dict(zip(DAILY_ETF_OHLC.columns, values))
        assert row_problem(DAILY_ETF_OHLC, row, dt.date.max) is None
        assert_row_obeys_the_table(DAILY_ETF_OHLC, row)
    assert report.dead_lettered_consumer == len(dead)
    FUZZ_TOTALS["runs"] += 1
    FUZZ_TOTALS["payloads"] += len(messages)
    FUZZ_TOTALS["dead_lettered"] += len(dead)
    FUZZ_TOTALS["database_constraint"] += by_database
    FUZZ_TOTALS["landed"] += len(accepted) - by_database
    record_summary("fuzz_consumer", {
        "input": "fuzzed messages produced as raw bytes to the topic, consumed by the real consumer",
        **FUZZ_TOTALS, "rows_lost": 0, "duplicates": 0,
    })


@pytest.mark.integration
def test_a_row_of_our_own_that_the_table_refuses_fails_the_ingest_naming_it(warehouse):
    """Our own batches skip the rules and go to PostgreSQL with one COPY; a row the table still refuses is isolated and
    dead-lettered, its batch is not confirmed, and the key check fails the ingest naming the row."""
    rows = ohlc_rows(sessions=2)
    rows.loc[rows.index[3], "source"] = "bloomberg"  # not a source the table allows
    kafka = KafkaResource(bootstrap_servers=warehouse.bootstrap_servers, namespace=f"{warehouse.namespace}_own")
    with pytest.raises(IngestIncomplete, match="1 of 30 produced rows are not in PostgreSQL"):
        ingest(DAILY_ETF_OHLC, rows, [], kafka=kafka, database_url=warehouse.database_url, partition_date=SESSION,
               source="synthetic", run_id="own")
    assert warehouse.scalar(f"SELECT count(*) FROM {DAILY_ETF_OHLC.name}") == len(rows) - 1
    assert warehouse.query("SELECT rule, kafka_batch_row IS NOT NULL FROM ops_dead_letters") == [
        ("database_constraint", True)]
