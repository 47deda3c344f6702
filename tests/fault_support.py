"""Shared by the fault-injection tests: dedicated services a test may kill, the expected rows of an ingest, table
snapshots, and the JSON trial summaries under test-artifacts/reliability/ that RELIABILITY.md is transcribed from."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import psycopg

from resources.postgres import PostgresResource
from trendfolio import calendar, settings, stack
from trendfolio.sources import make_source
from trendfolio.tables import DAILY_ETF_OHLC
from trendfolio.universe import ALL_ETFS, etf_role
from trendfolio.validation import validate_ohlc

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "reliability"
SESSION = dt.date(2026, 11, 25)


def trials(default: int) -> int:
    """TRENDFOLIO_FAULT_TRIALS raises (or lowers) the trial count of every repeated fault test."""
    return int(os.environ.get("TRENDFOLIO_FAULT_TRIALS", default))


def record_summary(name: str, summary: dict) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")


def ohlc_rows(sessions: int, end: dt.date = SESSION) -> pd.DataFrame:
    """Valid rows of collected_01_daily_etf_ohlc for the 15 ETFs over the `sessions` sessions up to `end`."""
    start = calendar.previous_sessions(end, sessions)[0]
    fetched = make_source("synthetic", seed=7).daily_ohlc(list(ALL_ETFS), start, end)
    checked = validate_ohlc(fetched, partition_date=end)
    assert not checked.rejected
    return checked.valid.assign(etf_role=checked.valid["ticker"].map(etf_role), source="synthetic")


def ohlc_table(database_url: str) -> list[tuple]:
    """The collected OHLC table without its load timestamp, in key order."""
    columns = ", ".join(DAILY_ETF_OHLC.columns)
    with psycopg.connect(database_url) as conn:
        return conn.execute(f"SELECT {columns} FROM {DAILY_ETF_OHLC.name} ORDER BY ticker, trade_date").fetchall()


def expected_ohlc(rows: pd.DataFrame) -> list[tuple]:
    frame = rows[list(DAILY_ETF_OHLC.columns)].sort_values(["ticker", "trade_date"])
    return [tuple(v.item() if hasattr(v, "item") else v for v in row) for row in frame.itertuples(index=False)]


def compare(table: list[tuple], expected: list[tuple], key_width: int = 2) -> dict[str, int]:
    """lost: expected rows absent or different; duplicates: extra rows for a key; unexpected: rows nobody sent."""
    keys = [row[:key_width] for row in table]
    return {
        "lost": len(set(expected) - set(table)),
        "duplicates": len(keys) - len(set(keys)),
        "unexpected": len(set(table) - set(expected)),
    }


def kill_broker(broker: stack.EmbeddedBroker) -> None:
    """SIGKILL, as a crash would: no shutdown, the memory-only broker forgets every topic and committed offset."""
    pid = broker.pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        except ChildProcessError:
            break
        time.sleep(0.05)
    broker.pid_file.unlink(missing_ok=True)


def restart_postgres(pg: stack.EmbeddedPostgres, mode: str = "immediate") -> None:
    """pg_ctl stop -m immediate is a crash as far as the sessions see it: every open transaction is lost."""
    subprocess.run(
        [stack.postgres._pg_bin("pg_ctl"), "-D", str(pg.pgdata), "-m", mode, "-w", "stop"],
        capture_output=True, check=True, **stack.postgres._run_as_pg_user(),
    )
    pg.start()


def dedicated_postgres(root: Path) -> tuple[stack.EmbeddedPostgres, PostgresResource]:
    """An embedded PostgreSQL of the test's own, migrated, that the test may crash without hurting anyone else."""
    pg = stack.embedded_postgres(settings.LocalStackPaths(root), port=stack.free_port())
    pg.start()
    url = settings.local_database_url(settings.DEFAULT_PG_DATABASE, pg.port)
    resource = PostgresResource(database_url=url)
    resource.migrate()
    return pg, resource


def analytics_table(database_url: str, table: str = "analytics_03_trending_etfs") -> list[tuple]:
    """An analytics table without its computed_at timestamp, in key order."""
    with psycopg.connect(database_url) as conn:
        columns = [row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'computed_at'"
            " ORDER BY ordinal_position", (table,))]
        return conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1, 2").fetchall()


def trending_frame(spark, postgres: PostgresResource):
    """analytics_03 for SESSION computed by the real Spark code from synthetic prices loaded straight into PostgreSQL
    (the collection path is not what these tests break)."""
    from trendfolio.warehouse import upsert_rows
    from trendfolio.analytics.trending import LOOKBACK_SESSIONS, trend_metrics
    from trendfolio.spark_io import read_sql

    rows = ohlc_rows(sessions=LOOKBACK_SESSIONS + 2)
    with postgres.connect() as conn:
        with conn.transaction():
            upsert_rows(conn, DAILY_ETF_OHLC, rows[list(DAILY_ETF_OHLC.columns)].to_dict("records"))
    prices = read_sql(spark, postgres.database_url, "SELECT ticker, trade_date, etf_role, adj_close, source "
                                       "FROM collected_01_daily_etf_ohlc")
    return trend_metrics(prices, SESSION, SESSION).cache()


def revised_and_padded(frame, filler_days: int):
    """The result with `score` shifted (so a new write is told apart from the old one), plus a copy of it for each of
    `filler_days` earlier dates: replace_date_range stages every row but keeps only its own range, and the filler
    makes the JDBC staging write last long enough for a test to break something in its middle."""
    from pyspark.sql import functions as F

    revised = frame.withColumn("score", F.col("score") + 1.0)
    days_back = frame.sparkSession.range(1, filler_days + 1).select(F.col("id").cast("int").alias("days_back"))
    filler = (revised.crossJoin(days_back)
              .withColumn("session_date", F.date_sub("session_date", F.col("days_back"))).drop("days_back"))
    return revised.unionByName(filler)


def when_staging(database_url: str, action, *args, timeout_s: float = 180.0) -> threading.Thread:
    """Run `action(*args)` in a thread as soon as Spark is inserting into a staging table (seen in pg_stat_activity).
    The thread records what happened in its `.fired` attribute."""
    def wait_then_act():
        deadline = time.monotonic() + timeout_s
        with psycopg.connect(database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO stage\\_%%'"
                                " AND pid <> pg_backend_pid()").fetchone()[0]:
                    break
                time.sleep(0.02)
            else:
                return
        thread.fired = time.monotonic()
        action(*args)

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.fired = None
    thread.start()
    return thread
