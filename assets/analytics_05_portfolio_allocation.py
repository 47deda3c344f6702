"""Stage 5 in Spark: the 5-, 10- and 20-session portfolios built from the trending ETFs' holdings."""

import datetime as dt
import time

from dagster import AssetExecutionContext, BackfillPolicy, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from assets.analytics_03_trending_etfs import analytics_03_trending_etfs
from assets.analytics_checks import ALLOCATION_CHECKS, allocation_check_results
from assets.collected_04_etf_holdings import collected_04_etf_holdings
from assets.collected_06_daily_stock_history import collected_06_daily_stock_history
from assets.partitions import nyse_sessions, partition_sessions
from assets.table_metadata import table_metadata
from resources import PostgresResource, SparkResource
from trendfolio import calendar
from trendfolio.analytics.allocation import LOOKBACK_SESSIONS, AllocationRule, allocate
from trendfolio.spark_io import read_sql, replace_date_range
from trendfolio.tables import PORTFOLIO_ALLOCATION
from trendfolio.universe import BENCHMARK

DEFAULT_RULE = AllocationRule()


class AllocationConfig(Config):
    """Score × inverse volatility with caps (ARCHITECTURE.md, "Portfolio allocation")."""

    max_stock_weight: float = Field(default=DEFAULT_RULE.max_stock_weight, description="cap per stock")
    max_etf_weight: float = Field(default=DEFAULT_RULE.max_etf_weight, description="cap per source ETF")
    min_eligible: int = Field(default=DEFAULT_RULE.min_eligible,
                              description="fewer eligible stocks → hold the trending ETFs equally")
    max_holdings_age_days: int = Field(
        default=DEFAULT_RULE.max_holdings_age_days,
        description="a holdings list older than this (calendar days before the session) is not used: the ETF counts "
                    "as having no holdings (keep collected_06's setting equal)")

    def rule(self) -> AllocationRule:
        return AllocationRule(self.max_stock_weight, self.max_etf_weight, self.min_eligible,
                              self.max_holdings_age_days)


def usable_holdings_query(start: dt.date, end: dt.date, max_age_days: int) -> str:
    """Every holdings list a session of [start, end] may allocate from: fetched on or before `end` and no more than
    `max_age_days` calendar days before `start` (`allocate` takes each session's latest list within its own age limit,
    so an older list could only be dropped there). A range, on the key's index: the read does not grow with the
    history (bench/README.md, benchmark 3)."""
    return ("SELECT etf_ticker, as_of_date, holding_ticker FROM collected_04_etf_holdings "
            f"WHERE as_of_date BETWEEN '{start - dt.timedelta(days=max_age_days)}' AND '{end}'")


@asset(
    partitions_def=nyse_sessions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[collected_06_daily_stock_history, analytics_03_trending_etfs, collected_04_etf_holdings],
    group_name="analytics",
    kinds={"spark", "postgres"},
    description=PORTFOLIO_ALLOCATION.description,
    metadata=table_metadata(PORTFOLIO_ALLOCATION),
    check_specs=ALLOCATION_CHECKS,
)
def analytics_05_portfolio_allocation(
    context: AssetExecutionContext, config: AllocationConfig, spark: SparkResource, postgres: PostgresResource
) -> MaterializeResult:
    start, end, sessions = partition_sessions(context)
    history_from = calendar.session_before(start, LOOKBACK_SESSIONS)
    began = time.monotonic()
    session = spark.session(len(sessions))
    trending = read_sql(
        session, postgres.database_url,
        "SELECT session_date, ticker, is_trending, excess_5, excess_10, excess_20, vol_20, source "
        f"FROM analytics_03_trending_etfs WHERE session_date BETWEEN '{start}' AND '{end}'",
    )
    rule = config.rule()
    holdings = read_sql(session, postgres.database_url, usable_holdings_query(start, end, rule.max_holdings_age_days))
    prices = read_sql(
        session, postgres.database_url,
        "SELECT ticker, trade_date, adj_close FROM collected_06_daily_stock_history "
        f"WHERE trade_date BETWEEN '{history_from}' AND '{end}'",
    )
    benchmark = read_sql(
        session, postgres.database_url,
        "SELECT ticker, trade_date, adj_close FROM collected_01_daily_etf_ohlc "
        f"WHERE ticker = '{BENCHMARK}' AND trade_date BETWEEN '{history_from}' AND '{end}'",
    )
    result = allocate(trending, holdings, prices, benchmark, start, end, rule)
    written = replace_date_range(
        postgres.database_url, result, PORTFOLIO_ALLOCATION.name, PORTFOLIO_ALLOCATION.date_column, start, end)
    # The summaries read the rows just written: more Spark actions would recompute the whole job.
    with postgres.connect() as conn:
        methods = conn.execute(
            "SELECT method, count(*) FROM analytics_05_portfolio_allocation "
            "WHERE session_date BETWEEN %s AND %s GROUP BY method", (start, end)).fetchall()  # ≤ 3 rows
        top = conn.execute(
            "SELECT horizon, ticker, weight, method FROM analytics_05_portfolio_allocation WHERE session_date = %s "
            "ORDER BY horizon, weight DESC, ticker LIMIT 30", (end,)).fetchall()  # the last session's portfolios
        checks = allocation_check_results(conn, sessions, rule)
    preview = "\n".join(f"| {horizon} | {ticker} | {weight:.4f} | {method} |" for horizon, ticker, weight, method in top)
    return MaterializeResult(
        metadata={
            "rows_written": written,
            "rows_by_method": dict(methods),
            "spark_seconds": round(time.monotonic() - began, 2),
            "portfolio_preview": MetadataValue.md(
                f"Portfolios for {end}\n\n| horizon | ticker | weight | method |\n|---|---|---|---|\n{preview}"),
        },
        check_results=checks,
    )
