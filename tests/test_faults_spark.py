"""Spark stopped from another thread in the middle of an analytics write (its JDBC staging insert under way): the
previous result for the date stays, and a new session (getOrCreate after stop) writes the next one.

The SparkSession is shared by every test in the process: this module stops it and leaves a fresh one behind, so the
tests after it only pay another start."""

from __future__ import annotations

import psycopg
import pytest

from fault_support import SESSION, analytics_table, record_summary, revised_and_padded, trending_frame, when_staging
from resources import PostgresResource, SparkResource
from trendfolio.spark_io import replace_date_range

pytestmark = pytest.mark.integration

FILLER_DAYS = 8000


def test_spark_stopped_mid_write_keeps_the_previous_result(warehouse):
    postgres = PostgresResource(database_url=warehouse.database_url)
    spark = SparkResource(master_url="local[2]").session()
    result = trending_frame(spark, postgres)
    replace_date_range(postgres.database_url, result, "analytics_03_trending_etfs", "session_date", SESSION, SESSION)
    previous = analytics_table(warehouse.database_url)
    assert len(previous) == 15

    killer = when_staging(warehouse.database_url, spark.stop)
    with pytest.raises(Exception) as failure:
        replace_date_range(postgres.database_url, revised_and_padded(result, FILLER_DAYS), "analytics_03_trending_etfs",
                           "session_date", SESSION, SESSION)
    killer.join()
    assert killer.fired, "the staging write was never seen in pg_stat_activity"
    assert analytics_table(warehouse.database_url) == previous
    with psycopg.connect(warehouse.database_url) as conn:
        orphaned = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'stage\\_%'").fetchone()[0]
    assert orphaned == 0, "the staging table outlived the failed write"

    fresh = SparkResource(master_url="local[2]").session()
    assert fresh.sparkContext._jsc is not None
    rerun = trending_frame(fresh, postgres)
    written = replace_date_range(postgres.database_url, revised_and_padded(rerun, 0), "analytics_03_trending_etfs",
                                 "session_date", SESSION, SESSION)
    now = analytics_table(warehouse.database_url)
    assert written == len(now) == 15 and now != previous
    rerun.unpersist()
    record_summary("spark_stopped", {
        "fault": "SparkContext stopped from another thread during replace_date_range's JDBC staging write",
        "trials": 1, "outcome": f"failed: {type(failure.value).__name__}", "previous_rows_kept": len(previous),
        "orphaned_staging_tables": orphaned, "rerun_rows": written, "rows_lost": 0, "duplicates": 0,
    })
