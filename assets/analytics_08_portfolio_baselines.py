"""Each evaluated portfolio against its baselines (the trending ETFs, the 11 sectors, SPY), with turnover, costs and
running risk figures."""

import time

from dagster import AssetExecutionContext, BackfillPolicy, Config, MaterializeResult, asset
from pydantic import Field

from assets.analytics_03_trending_etfs import analytics_03_trending_etfs
from assets.analytics_05_portfolio_allocation import analytics_05_portfolio_allocation
from assets.analytics_07_portfolio_performance import analytics_07_portfolio_performance
from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
from assets.partitions import nyse_sessions, partition_sessions
from assets.table_metadata import table_metadata
from resources import PostgresResource, SparkResource
from trendfolio import calendar
from trendfolio.analytics.performance import rewritten_through
from trendfolio.analytics.baselines import (
    LOOKBACK_SESSIONS, ROW_COLUMNS, TRACK, CostRule, baseline_rows, portfolio_baselines,
)
from trendfolio.spark_io import read_sql, replace_date_range
from trendfolio.tables import PORTFOLIO_BASELINES, PORTFOLIO_TURNOVER_BETWEEN
from trendfolio.warehouse import table_lock

TABLE = PORTFOLIO_BASELINES.name
DEFAULT_COSTS = CostRule()


class CostConfig(Config):
    cost_per_turnover: float = Field(default=DEFAULT_COSTS.cost_per_turnover,
                                     description="trading cost as a fraction of the portfolio per unit of turnover")


@asset(
    partitions_def=nyse_sessions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[analytics_07_portfolio_performance, analytics_05_portfolio_allocation, analytics_03_trending_etfs,
          collected_01_daily_etf_ohlc],
    group_name="analytics",
    kinds={"spark", "postgres"},
    description=PORTFOLIO_BASELINES.description,
    metadata=table_metadata(PORTFOLIO_BASELINES),
)
def analytics_08_portfolio_baselines(
    context: AssetExecutionContext, config: CostConfig, spark: SparkResource, postgres: PostgresResource
) -> MaterializeResult:
    start, end, sessions = partition_sessions(context)
    history_from = calendar.session_before(start, LOOKBACK_SESSIONS)
    began = time.monotonic()
    session = spark.session(len(sessions))
    url = postgres.database_url
    # analytics_07 rewrites the evaluations up to LOOKBACK_SESSIONS after a range written before them: this table's rows
    # over the same sessions are recomputed from it, the later ones kept; the running figures are recomputed from every
    # stored row, those before the range and those after it, which this run rewrites. Read and written under the
    # table's lock, so a range run in any order, or two at once, leaves the same table. Every row, new or stored, takes
    # its track from its analytics_07 row, which analytics_07 has just brought up to date.
    with table_lock(url, TABLE):
        with postgres.connect() as conn:
            last_stored, evaluated_through = conn.execute(
                f"SELECT (SELECT max(evaluated_on) FROM {TABLE}), "
                "(SELECT max(evaluated_on) FROM analytics_07_portfolio_performance)").fetchone()
        through = rewritten_through(end, evaluated_through)
        last = max(through, last_stored) if last_stored else through
        window = f"BETWEEN '{history_from}' AND '{through}'"
        # An unpriced allocation has no return to compare.
        performance = read_sql(
            session, url, "SELECT evaluated_on, session_date, horizon, holdings, portfolio_return, benchmark_return, "
            f"source, {TRACK} FROM analytics_07_portfolio_performance "
            f"WHERE evaluated_on BETWEEN '{start}' AND '{through}' AND status <> 'unpriced'")
        allocations = read_sql(
            session, url, "SELECT DISTINCT session_date, horizon, method FROM analytics_05_portfolio_allocation "
            f"WHERE session_date {window}")
        turnover = read_sql(session, url, "SELECT session_date, horizon, turnover "
                            f"FROM {PORTFOLIO_TURNOVER_BETWEEN}('{history_from}', '{through}')")
        trending = read_sql(session, url, "SELECT session_date, ticker, etf_role, is_trending "
                            f"FROM analytics_03_trending_etfs WHERE session_date {window}")
        etf_prices = read_sql(session, url, "SELECT ticker, trade_date, adj_close FROM collected_01_daily_etf_ohlc "
                              f"WHERE trade_date {window}")
        stored = read_sql(
            session, url, f"SELECT {', '.join(f'b.{column}' for column in ROW_COLUMNS)}, p.{TRACK} FROM {TABLE} b "
            "JOIN analytics_07_portfolio_performance p USING (evaluated_on, horizon) "
            f"WHERE b.evaluated_on < '{start}' OR b.evaluated_on > '{through}'")
        new_rows = baseline_rows(performance, allocations, turnover, trending, etf_prices,
                                 CostRule(config.cost_per_turnover))
        written = replace_date_range(url, portfolio_baselines(new_rows, stored, start), TABLE, "evaluated_on", start,
                                     last)
    # Read back from the rows just written (≤ 3): a Spark action would recompute the job.
    with postgres.connect() as conn:
        latest = conn.execute(
            f"SELECT DISTINCT ON (horizon) horizon, evaluations, hit_rate_vs_trending_etfs, hit_rate_vs_spy, "
            f"cumulative_net_return, max_drawdown FROM {TABLE} WHERE evaluated_on <= %s "
            "ORDER BY horizon, evaluated_on DESC", (end,)).fetchall()
        in_range = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE evaluated_on BETWEEN %s AND %s",
                                (start, end)).fetchone()[0]
    return MaterializeResult(
        metadata={
            "rows_written": written,
            "rows_in_range": in_range,
            "later_rows_rewritten": written - in_range,
            "cost_per_turnover": config.cost_per_turnover,
            "spark_seconds": round(time.monotonic() - began, 2),
            **{f"evaluations_{h}": n for h, n, *_ in latest},
            **{f"hit_rate_vs_trending_etfs_{h}": rate for h, _, rate, *_ in latest},
            **{f"hit_rate_vs_spy_{h}": rate for h, _, _, rate, *_ in latest},
            **{f"cumulative_net_return_{h}": value for h, *_, value, _ in latest},
            **{f"max_drawdown_{h}": value for h, *_, value in latest},
        }
    )
