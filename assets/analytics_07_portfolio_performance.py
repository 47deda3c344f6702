"""Realized performance: each allocation's return once its horizon has elapsed, against SPY, with running figures."""

import time

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset
from pyspark.sql import functions as F

from assets.analytics_05_portfolio_allocation import analytics_05_portfolio_allocation
from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
from assets.collected_06_daily_stock_history import collected_06_daily_stock_history
from assets.partitions import nyse_sessions, partition_sessions
from assets.table_metadata import table_metadata
from resources import PostgresResource, SparkResource
from trendfolio import calendar
from trendfolio.collect import ranked_sessions
from trendfolio.analytics.performance import (
    BENCHMARK_HELD,
    LOOKBACK_SESSIONS,
    TABLE,
    UNPRICED,
    realized_performance,
    refresh_running_figures,
    rewritten_through,
)
from trendfolio.spark_io import read_sql, replace_date_range
from trendfolio.warehouse import table_lock
from trendfolio.tables import PORTFOLIO_PERFORMANCE
from trendfolio.universe import BENCHMARK


@asset(
    partitions_def=nyse_sessions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[analytics_05_portfolio_allocation, collected_01_daily_etf_ohlc, collected_06_daily_stock_history],
    group_name="analytics",
    kinds={"spark", "postgres"},
    description=PORTFOLIO_PERFORMANCE.description,
    metadata=table_metadata(PORTFOLIO_PERFORMANCE),
)
def analytics_07_portfolio_performance(
    context: AssetExecutionContext, spark: SparkResource, postgres: PostgresResource
) -> MaterializeResult:
    start, end, sessions = partition_sessions(context)
    history_from = calendar.session_before(start, LOOKBACK_SESSIONS)
    began = time.monotonic()
    session = spark.session(len(sessions))
    # Evaluations stored after the range depend on it (allocations of the range are evaluated up to LOOKBACK_SESSIONS
    # later): a range written before them recomputes them too. Read and written under the table's lock, so the last of
    # two overlapping backfills sees every allocation the other wrote and the table ends as one run over both ranges.
    with table_lock(postgres.database_url, TABLE):
        with postgres.connect() as conn:
            stored_through = conn.execute(f"SELECT max(evaluated_on) FROM {TABLE}").fetchone()[0]
            # Only sessions a run went through get evaluations: none in the gap before a later range run first.
            ran_after = ranked_sessions(conn, calendar.session_after(end, 1),
                                        calendar.session_after(end, LOOKBACK_SESSIONS))
        through = rewritten_through(end, stored_through)
        window = f"BETWEEN '{history_from}' AND '{through}'"
        allocations = read_sql(
            session, postgres.database_url,
            f"SELECT session_date, horizon, ticker, weight, method, source FROM analytics_05_portfolio_allocation "
            f"WHERE session_date {window}",
        )
        prices = read_sql(
            session, postgres.database_url,
            f"SELECT ticker, trade_date, adj_close FROM collected_06_daily_stock_history WHERE trade_date {window} "
            f"UNION ALL SELECT ticker, trade_date, adj_close FROM collected_01_daily_etf_ohlc WHERE trade_date {window}",
        )
        benchmark = read_sql(
            session, postgres.database_url,
            f"SELECT ticker, trade_date, adj_close FROM collected_01_daily_etf_ohlc "
            f"WHERE ticker = '{BENCHMARK}' AND trade_date {window}",
        )
        result = realized_performance(allocations, prices, benchmark, start, through).where(
            (F.col("evaluated_on") <= F.lit(end)) | F.col("evaluated_on").isin(ran_after))
        # The running figures come from the stored rows, recomputed in the write's transaction (order of runs is moot).
        written = replace_date_range(postgres.database_url, result, TABLE, PORTFOLIO_PERFORMANCE.date_column, start,
                                     through, then=refresh_running_figures)
    # Read back from the rows just written (≤ 3): a Spark action would recompute the job.
    with postgres.connect() as conn:
        latest = conn.execute(
            f"SELECT horizon, hit_rate, cumulative_return - cumulative_benchmark_return FROM {TABLE} "
            "WHERE evaluated_on = %s ORDER BY horizon", (end,)).fetchall()
        statuses = dict(conn.execute(
            f"SELECT status, count(*) FROM {TABLE} WHERE evaluated_on BETWEEN %s AND %s GROUP BY status",
            (start, end)).fetchall())
    return MaterializeResult(
        metadata={
            "rows_written": written,
            "rows_by_status": statuses,
            "benchmark_held": statuses.get(BENCHMARK_HELD, 0),
            "unpriced": statuses.get(UNPRICED, 0),
            "spark_seconds": round(time.monotonic() - began, 2),
            **{f"hit_rate_{horizon}": hit_rate for horizon, hit_rate, _ in latest},
            **{f"cumulative_excess_{horizon}": excess for horizon, _, excess in latest},
        }
    )
