"""PostgreSQL restarted (pg_ctl stop -m immediate, then start: a crash as every open session sees it) during an upsert,
during an ingest, and during an analytics write. The open transaction rolls back, the previous rows of the date stay,
and a re-run succeeds. The server is one of the module's own on a free port, never the session's."""

from __future__ import annotations

import random
import threading
import time
import uuid

import psycopg
import pytest

from fault_support import (
    SESSION,
    analytics_table,
    compare,
    dedicated_postgres,
    expected_ohlc,
    ohlc_rows,
    ohlc_table,
    record_summary,
    restart_postgres,
    revised_and_padded,
    trending_frame,
    trials,
    when_staging,
)
from resources import KafkaResource, SparkResource
from trendfolio.warehouse import upsert_rows
from trendfolio.ingest import IngestIncomplete, ingest
from trendfolio.spark_io import replace_date_range
from trendfolio.tables import DAILY_ETF_OHLC

pytestmark = pytest.mark.integration

FILLER_DAYS = 8000  # 15 ETFs x 8000 dates: a staging write of 120k rows, seconds long


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory):
    pg, postgres = dedicated_postgres(tmp_path_factory.mktemp("own_pg"))
    yield pg, postgres
    pg.stop()


@pytest.fixture
def clean(own_postgres):
    pg, postgres = own_postgres
    with postgres.connect() as conn:
        conn.execute("TRUNCATE collected_01_daily_etf_ohlc, analytics_03_trending_etfs, ops_dead_letters")
    return pg, postgres


def test_restart_during_an_upsert_rolls_back_and_keeps_the_previous_rows(clean):
    pg, postgres = clean
    rows = ohlc_rows(sessions=5)
    with postgres.connect() as conn:
        with conn.transaction():
            upsert_rows(conn, DAILY_ETF_OHLC, rows.to_dict("records"))
    before = ohlc_table(postgres.database_url)
    revised = rows.assign(close=rows["close"] * 1.001, high=rows["high"] * 1.01)

    conn = psycopg.connect(postgres.database_url)  # not autocommit: the upsert opens a transaction
    upsert_rows(conn, DAILY_ETF_OHLC, revised.to_dict("records"))
    restart_postgres(pg)
    with pytest.raises(psycopg.OperationalError):
        conn.commit()
    conn.close()
    assert ohlc_table(postgres.database_url) == before

    with postgres.connect() as conn:
        with conn.transaction():
            upsert_rows(conn, DAILY_ETF_OHLC, revised.to_dict("records"))
    assert compare(ohlc_table(postgres.database_url), expected_ohlc(revised)) == {
        "lost": 0, "duplicates": 0, "unexpected": 0}


def test_restart_at_random_points_of_an_ingest(clean, warehouse):
    pg, postgres = clean
    kafka = KafkaResource(bootstrap_servers=warehouse.bootstrap_servers, namespace=warehouse.namespace,
                          operation_timeout_s=10)
    previous = ohlc_rows(sessions=250)
    revised = previous.assign(close=previous["close"] * 1.001, high=previous["high"] * 1.01)

    def run(rows):
        return ingest(DAILY_ETF_OHLC, rows, [], kafka=kafka, database_url=postgres.database_url, partition_date=SESSION,
                      source="synthetic", run_id=f"pg-{uuid.uuid4().hex[:6]}")

    run(previous)
    began = time.monotonic()
    run(previous)
    clean_s = time.monotonic() - began
    old, new = set(expected_ohlc(previous)), set(expected_ohlc(revised))
    rng = random.Random(5)
    results = []
    for trial in range(trials(3)):
        run(previous)
        delay = rng.uniform(0.0, clean_s * 1.2)
        restarter = threading.Timer(delay, restart_postgres, args=(pg,))
        restarter.start()
        try:
            run(revised)
            outcome, error = "completed", ""
        except (psycopg.OperationalError, IngestIncomplete) as failure:
            outcome, error = f"failed: {type(failure).__name__}", str(failure).splitlines()[0]
        restarter.join()
        after_fault = ohlc_table(postgres.database_url)
        # Each batch commits alone: a row is the old one or the new one, never gone and never half-written.
        assert len(after_fault) == len(old) and set(after_fault) <= old | new, (trial, outcome)
        run(revised)
        counts = compare(ohlc_table(postgres.database_url), expected_ohlc(revised))
        results.append({"trial": trial, "restart_after_s": round(delay, 2), "outcome": outcome, "error": error,
                        "rows_already_revised": len(set(after_fault) & new), **counts})
        assert counts == {"lost": 0, "duplicates": 0, "unexpected": 0}, results[-1]
    record_summary("postgres_restart_ingest", {
        "fault": "PostgreSQL restarted (immediate) during an ingest of revised rows; ingest re-run",
        "trials": len(results), "rows_per_ingest": len(old),
        "failed": sum(r["outcome"] != "completed" for r in results),
        "rows_lost": sum(r["lost"] for r in results), "duplicates": sum(r["duplicates"] for r in results),
        "results": results,
    })


def test_restart_during_an_analytics_write_keeps_the_previous_result(clean):
    pg, postgres = clean
    spark = SparkResource(master_url="local[2]").session()
    result = trending_frame(spark, postgres)
    replace_date_range(postgres.database_url, result, "analytics_03_trending_etfs", "session_date", SESSION, SESSION)
    previous = analytics_table(postgres.database_url)
    assert len(previous) == 15

    restarter = when_staging(postgres.database_url, restart_postgres, pg)
    with pytest.raises(Exception) as failure:
        replace_date_range(postgres.database_url, revised_and_padded(result, FILLER_DAYS), "analytics_03_trending_etfs",
                           "session_date", SESSION, SESSION)
    restarter.join()
    assert restarter.fired, "the staging write was never seen in pg_stat_activity"
    assert analytics_table(postgres.database_url) == previous

    written = replace_date_range(postgres.database_url, revised_and_padded(result, 0), "analytics_03_trending_etfs",
                                 "session_date", SESSION, SESSION)
    now = analytics_table(postgres.database_url)
    assert written == len(now) == 15 and now != previous
    record_summary("postgres_restart_analytics", {
        "fault": "PostgreSQL restarted (immediate) during replace_date_range's Spark JDBC staging write",
        "trials": 1, "outcome": f"failed: {type(failure.value).__name__}", "previous_rows_kept": len(previous),
        "rerun_rows": written, "rows_lost": 0, "duplicates": 0,
    })
    result.unpersist()
