"""Stage 3 in Spark: each ETF's multi-horizon performance against SPY and whether its sector is trending."""

import time

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
from assets.partitions import nyse_sessions, partition_sessions
from resources import PostgresResource, SparkResource
from trendfolio import calendar
from trendfolio.analytics.trending import LOOKBACK_SESSIONS, trend_metrics
from trendfolio.spark_io import read_sql, replace_date_range


@asset(
    partitions_def=nyse_sessions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[collected_01_daily_etf_ohlc],
    group_name="analytics",
    kinds={"spark", "postgres"},
)
def analytics_03_trending_etfs(
    context: AssetExecutionContext, spark: SparkResource, postgres: PostgresResource
) -> MaterializeResult:
    start, end, _ = partition_sessions(context)
    history_from = calendar.previous_sessions(start, LOOKBACK_SESSIONS + 1)[0]
    began = time.monotonic()
    session = spark.session()
    prices = read_sql(
        session, postgres,
        "SELECT ticker, trade_date, etf_role, adj_close, source FROM collected_01_daily_etf_ohlc "
        f"WHERE trade_date BETWEEN '{history_from}' AND '{end}'",
    )
    result = trend_metrics(prices, start, end).cache()
    written = replace_date_range(postgres, result, "analytics_03_trending_etfs", "session_date", start, end)
    trending = result.where("is_trending").select("session_date", "ticker", "score_rank").orderBy(
        "session_date", "score_rank").collect()  # a handful of rows for the run's preview
    result.unpersist()
    preview = "\n".join(f"| {r.session_date} | {r.ticker} | {r.score_rank} |" for r in trending[-20:])
    return MaterializeResult(
        metadata={
            "rows_written": written,
            "trending_count": len(trending),
            "spark_seconds": round(time.monotonic() - began, 2),
            "trending": MetadataValue.md("| session | ETF | rank |\n|---|---|---|\n" + preview),
        }
    )
