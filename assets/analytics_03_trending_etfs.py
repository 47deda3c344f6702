"""Stage 3 in Spark: each ETF's multi-horizon performance against SPY and whether its sector is trending."""

import time

from dagster import AssetExecutionContext, BackfillPolicy, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from assets.analytics_checks import TRENDING_CHECKS, trending_check_results
from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
from assets.partitions import nyse_sessions, partition_sessions
from assets.table_metadata import table_metadata
from resources import MarketDataResource, PostgresResource, SparkResource
from trendfolio import calendar
from trendfolio.analytics.trending import LOOKBACK_SESSIONS, TrendRule, trend_metrics
from trendfolio.spark_io import read_sql, replace_date_range
from trendfolio.tables import TRENDING_ETFS

DEFAULT_RULE = TrendRule()


class TrendRuleConfig(Config):
    """Relative-strength rotation with a trend filter (ARCHITECTURE.md, "Trending ETFs")."""

    top_n: int = Field(default=DEFAULT_RULE.top_n, description="sector ETFs held at most (by composite score)")
    weight_5: float = Field(default=DEFAULT_RULE.horizon_weights[0], description="weight of the 5-session excess")
    weight_10: float = Field(default=DEFAULT_RULE.horizon_weights[1], description="weight of the 10-session excess")
    weight_20: float = Field(default=DEFAULT_RULE.horizon_weights[2], description="weight of the 20-session excess")
    weight_60: float = Field(default=DEFAULT_RULE.horizon_weights[3], description="weight of the 60-session excess")

    def rule(self) -> TrendRule:
        return TrendRule(self.top_n, (self.weight_5, self.weight_10, self.weight_20, self.weight_60))


@asset(
    partitions_def=nyse_sessions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[collected_01_daily_etf_ohlc],
    group_name="analytics",
    kinds={"spark", "postgres"},
    description=TRENDING_ETFS.description,
    metadata=table_metadata(TRENDING_ETFS),
    check_specs=TRENDING_CHECKS,
)
def analytics_03_trending_etfs(
    context: AssetExecutionContext, config: TrendRuleConfig, spark: SparkResource, postgres: PostgresResource,
    market_data: MarketDataResource,
) -> MaterializeResult:
    start, end, sessions = partition_sessions(context)
    rule = config.rule()
    history_from = calendar.session_before(start, LOOKBACK_SESSIONS)
    began = time.monotonic()
    session = spark.session(len(sessions))
    prices = read_sql(
        session, postgres.database_url,
        "SELECT ticker, trade_date, etf_role, adj_close, source FROM collected_01_daily_etf_ohlc "
        f"WHERE trade_date BETWEEN '{history_from}' AND '{end}'",
    )
    result = trend_metrics(prices, start, end, rule)
    written = replace_date_range(
        postgres.database_url, result, TRENDING_ETFS.name, TRENDING_ETFS.date_column, start, end)
    # The preview reads the rows just written (≤ N per session): a second Spark action would recompute the job.
    with postgres.connect() as conn:
        trending = conn.execute(
            "SELECT session_date, ticker, score_rank FROM analytics_03_trending_etfs "
            "WHERE session_date BETWEEN %s AND %s AND (is_trending OR selection = 'benchmark_held') "
            "ORDER BY session_date, score_rank", (start, end)).fetchall()
        checks = trending_check_results(conn, sessions, market_data.universe().sectors)
    preview = "\n".join(f"| {day} | {ticker} | {rank} |" for day, ticker, rank in trending[-20:])
    return MaterializeResult(
        metadata={
            "rule": rule.name,
            "rows_written": written,
            "trending_count": sum(1 for _, ticker, _ in trending if ticker != "SPY"),
            "sessions_holding_benchmark": sum(1 for _, ticker, _ in trending if ticker == "SPY"),
            "spark_seconds": round(time.monotonic() - began, 2),
            "trending": MetadataValue.md("| session | ETF (SPY: none trending) | rank |\n|---|---|---|\n" + preview),
        },
        check_results=checks,
    )
