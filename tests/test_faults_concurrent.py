"""Two runs of the same session at the same time. The collection and analytics writers take a PostgreSQL advisory
lock per table (`trendfolio.warehouse.table_lock`), so the runs write one after the other and the
tables end as after one run. Without it, two analytics writes interleave: the second DELETE cannot see the first
one's new rows, and its INSERT collides with them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from dagster import materialize

from assets import ALL_ASSETS
from fault_support import (
    SESSION,
    analytics_table,
    compare,
    expected_ohlc,
    ohlc_rows,
    ohlc_table,
    record_summary,
    trending_frame,
)
from resources import KafkaResource, PostgresResource, SparkResource
from trendfolio.warehouse import table_lock
from trendfolio.ingest import ingest
from trendfolio.spark_io import replace_date_range
from trendfolio.tables import DAILY_ETF_OHLC

pytestmark = pytest.mark.integration


def test_an_ingest_waits_for_the_run_holding_its_partition(warehouse):
    kafka = KafkaResource(bootstrap_servers=warehouse.bootstrap_servers, namespace=warehouse.namespace)
    rows = ohlc_rows(sessions=3)
    reports = []
    with table_lock(warehouse.database_url, DAILY_ETF_OHLC.name):
        second = threading.Thread(target=lambda: reports.append(ingest(
            DAILY_ETF_OHLC, rows, [], kafka=kafka, database_url=warehouse.database_url, partition_date=SESSION,
            source="synthetic", run_id="second")))
        second.start()
        time.sleep(3)
        assert second.is_alive(), "the second run did not wait for the lock"
        assert ohlc_table(warehouse.database_url) == []
    second.join(timeout=120)
    assert reports and reports[0].lock_wait_s >= 2.5
    assert compare(ohlc_table(warehouse.database_url), expected_ohlc(rows)) == {
        "lost": 0, "duplicates": 0, "unexpected": 0}


def _snapshot(warehouse) -> dict[str, list[tuple]]:
    tables = {}
    for table in ("collected_01_daily_etf_ohlc", "collected_04_etf_holdings", "collected_06_daily_stock_history",
                  "analytics_03_trending_etfs", "analytics_05_portfolio_allocation"):
        columns = [row[0] for row in warehouse.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND column_name NOT IN ('collected_at', 'computed_at') ORDER BY ordinal_position", (table,))]
        tables[table] = warehouse.query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1, 2, 3")
    return tables


def test_an_analytics_write_waits_for_the_run_holding_its_range(warehouse):
    postgres = PostgresResource(database_url=warehouse.database_url)
    result = trending_frame(SparkResource(master_url="local[2]").session(), postgres)
    outcome = []
    with table_lock(warehouse.database_url, "analytics_03_trending_etfs"):
        second = threading.Thread(target=lambda: outcome.append(replace_date_range(
            postgres.database_url, result, "analytics_03_trending_etfs", "session_date", SESSION, SESSION)))
        second.start()
        time.sleep(3)
        assert second.is_alive(), "the second write did not wait for the lock"
        assert analytics_table(warehouse.database_url) == []
    second.join(timeout=300)
    assert outcome == [15] and len(analytics_table(warehouse.database_url)) == 15
    result.unpersist()


@pytest.mark.soak
def test_two_runs_of_the_same_session_end_as_one_run(warehouse, resources):
    def run():
        return materialize(ALL_ASSETS, resources=resources, partition_key=SESSION.isoformat(), raise_on_error=False)

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [future.result() for future in [pool.submit(run), pool.submit(run)]]
    concurrent_s = time.monotonic() - began
    assert all(result.success for result in results)
    after_both = _snapshot(warehouse)
    waits = [
        result.asset_materializations_for_node(node)[0].metadata["table_lock_wait_s"].value
        for result in results
        for node in ("collected_01_daily_etf_ohlc", "collected_04_etf_holdings", "collected_06_daily_stock_history")
    ]
    assert max(waits) > 0, "the runs never met at a lock: they did not overlap, so this proved nothing"

    assert run().success  # one more run, alone: what one run leaves
    after_one_more = _snapshot(warehouse)
    assert after_both == after_one_more
    dead_letters = warehouse.scalar("SELECT count(*) FROM ops_dead_letters")
    duplicates = sum(len(rows) - len({row[:2] for row in rows}) for table, rows in after_both.items()
                     if table.startswith("collected_01") or table.startswith("collected_06"))
    record_summary("concurrent_runs", {
        "fault": "two materializations of the same session started together (threads, one process)",
        "trials": 1, "both_succeeded": True, "seconds": round(concurrent_s, 1),
        "max_lock_wait_s": max(waits), "tables_equal_to_a_single_run": after_both == after_one_more,
        "rows": {table: len(rows) for table, rows in after_both.items()}, "dead_letters": dead_letters,
        "rows_lost": 0, "duplicates": duplicates,
    })
