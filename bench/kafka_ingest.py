"""Benchmark 1: OHLC rows through validation → producer → broker → consumer → PostgreSQL, against a direct COPY of the
same rows into the same table. Target: the Kafka path's throughput is at least 0.7 × COPY's.

    uv run python -m bench.kafka_ingest [--rows 1000000] [--profile]

Both paths start from the same pandas frame and write into `collected_06_daily_stock_history` of one fresh database
(the table is emptied between them). COPY's time includes turning the frame into CSV; the Kafka path's time is
validate_ohlc + trendfolio.ingest.ingest (dead-letter bookkeeping, encode, produce with acks=all, consume, upsert,
reconcile), i.e. what a collection asset does after fetching.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import uuid

import numpy as np
import pandas as pd
import psycopg

from bench.common import Outcome, Services, at_least, copy_frame, run_main, seconds, stopwatch
from resources import KafkaResource, PostgresResource
from trendfolio.warehouse import upsert_rows
from trendfolio import calendar
from trendfolio.ingest import ingest
from trendfolio.tables import DAILY_STOCK_HISTORY
from trendfolio.validation import validate_ohlc

TARGET = 0.7
DEFAULT_ROWS = 1_000_000
SESSIONS = 2_500  # about ten years per ticker
LAST_SESSION = dt.date(2026, 11, 25)


def ohlc_frame(rows: int, last_session: dt.date = LAST_SESSION, sessions_per_ticker: int = SESSIONS) -> pd.DataFrame:
    """`rows` valid daily OHLC rows (tickers S0000, S0001, … over the sessions ending at `last_session`), shaped as a
    source returns them: dt.date trade dates, float prices, int64 volume."""
    sessions = calendar.previous_sessions(last_session, sessions_per_ticker)
    tickers = -(-rows // len(sessions))
    rng = np.random.default_rng(8)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, (tickers, len(sessions))), axis=1)).ravel()[:rows]
    open_ = close * np.exp(rng.normal(0, 0.003, rows))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.005, rows)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.005, rows)))
    return pd.DataFrame({
        "ticker": np.repeat([f"S{i:04d}" for i in range(tickers)], len(sessions))[:rows],
        "trade_date": np.tile(np.array(sessions, dtype=object), tickers)[:rows],
        "open": open_.round(4), "high": high.round(4), "low": low.round(4),
        "close": close.round(4), "adj_close": close.round(4),
        "volume": rng.integers(1_000, 50_000_000, rows, dtype=np.int64),
        "source": "synthetic",
    })


def kafka_path(database_url: str, bootstrap_servers: str, frame: pd.DataFrame) -> dict[str, float]:
    """What a collection asset does after fetching; returns the time of each stage and the total."""
    namespace = f"bench_{uuid.uuid4().hex[:8]}"
    kafka = KafkaResource(bootstrap_servers=bootstrap_servers, namespace=namespace, consume_timeout_s=1800)
    postgres = PostgresResource(database_url=database_url)
    source_frame = frame.drop(columns=["source"])
    with stopwatch() as total:
        with stopwatch() as validation:
            checked = validate_ohlc(source_frame, partition_date=LAST_SESSION)
        rows = checked.valid.assign(source="synthetic")
        with stopwatch() as ingestion:
            report = ingest(DAILY_STOCK_HISTORY, rows, checked.rejected, kafka=kafka,
                            database_url=postgres.database_url, partition_date=LAST_SESSION, source="synthetic", run_id=namespace)
    if report.written != len(frame) or checked.rejected:
        raise RuntimeError(f"kafka path wrote {report.written} of {len(frame)} rows, rejected {len(checked.rejected)}")
    return {"validation": validation[0], "ingest": ingestion[0], "total": total[0]}


def upsert_floor(database_url: str, frame: pd.DataFrame) -> float:
    """The database work the consumer cannot skip (COPY into a staging table, INSERT … ON CONFLICT DO UPDATE), for
    the whole frame in one transaction: what the Kafka path would cost with a free broker and free Python."""
    rows = frame[list(DAILY_STOCK_HISTORY.columns)].to_dict("records")
    with psycopg.connect(database_url) as conn:
        with stopwatch() as elapsed:
            with conn.transaction():
                upsert_rows(conn, DAILY_STOCK_HISTORY, rows)
    return elapsed[0]


def count_rows(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute(f"SELECT count(*) FROM {DAILY_STOCK_HISTORY.name}").fetchone()[0]


def empty_table(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(f"TRUNCATE {DAILY_STOCK_HISTORY.name}")


def measure(services: Services, rows: int, profile: bool) -> list[Outcome]:
    frame = ohlc_frame(rows)
    database_url = services.new_database("bench_kafka")
    try:
        with stopwatch() as copy_time:
            copy_frame(database_url, DAILY_STOCK_HISTORY.name, frame[list(DAILY_STOCK_HISTORY.columns)])
        assert count_rows(database_url) == rows
        empty_table(database_url)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        stages = kafka_path(database_url, services.bootstrap_servers, frame)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        assert count_rows(database_url) == rows
        empty_table(database_url)
        floor = upsert_floor(database_url, frame)
    finally:
        services.drop_database(database_url)
    copy_rate = rows / copy_time[0]
    kafka_rate = rows / stages["total"]
    ratio = kafka_rate / copy_rate
    return [Outcome(
        number=1, name="Kafka ingest",
        measured_as=f"{rows:,} OHLC rows: validation → producer → broker → consumer → PostgreSQL, throughput against "
                    "a direct COPY (CSV) of the same rows into the same table, same run",
        figure=ratio, target=f"≥ {TARGET} × COPY", passed=at_least(ratio, TARGET),
        details={
            "rows": f"{rows:,}",
            "COPY": f"{seconds(copy_time[0])} ({copy_rate:,.0f} rows/s)",
            "Kafka path": f"{seconds(stages['total'])} ({kafka_rate:,.0f} rows/s)",
            "  of which validate_ohlc": seconds(stages["validation"]),
            "  of which ingest (encode, produce, consume, upsert, reconcile)": seconds(stages["ingest"]),
            "upsert alone (staging COPY + INSERT … ON CONFLICT, no Kafka)":
                f"{seconds(floor)} ({rows / floor:,.0f} rows/s)",
        },
    )]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the Kafka path")
    parser.add_argument("--no-record", action="store_true", help="print only, do not append to RESULTS.md")
    args = parser.parse_args()
    run_main(lambda services: measure(services, args.rows, args.profile), record=not args.no_record)


if __name__ == "__main__":
    main()
