"""Is stock picking worth it? Each evaluated portfolio against three baselines held over the same sessions, with its
turnover, its return net of trading costs, and running figures per horizon (ARCHITECTURE.md, "Baselines").

Per-row figures are computed for the run's range; the running figures are recomputed over every stored row from the
range's first session on (the rows before it and after it are read back from the table), so the table ends the same
whatever order ranges are run in. They run over analytics_07's tracks (its `track_start`, one rule for both tables):
a gap in the evaluation sessions restarts them here too.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from trendfolio.analytics.allocation import FALLBACK_BENCHMARK

TRADING_SESSIONS_PER_YEAR = 252
# Sessions before the range the inputs reach back: the 20-session horizon, and the session before it for turnover.
LOOKBACK_SESSIONS = 21
# The per-row figures a run computes; the running ones are derived from them over every stored row.
ROW_COLUMNS = [
    "evaluated_on", "session_date", "horizon", "method", "holdings", "portfolio_return", "trending_etfs_return",
    "sector_etfs_return", "spy_return", "excess_vs_trending_etfs", "excess_vs_sector_etfs", "excess_vs_spy",
    "turnover", "cost_per_turnover", "net_return", "source",
]
BASELINES = ("trending_etfs", "sector_etfs", "spy")
# analytics_07's column naming the track a row belongs to: the running figures restart with each track. Read with
# every row, new or stored, and not stored here.
TRACK = "track_start"


@dataclass(frozen=True)
class CostRule:
    cost_per_turnover: float = 0.001  # 10 bp of the portfolio per unit of turnover (Σ|Δw| / 2)

    def __post_init__(self):
        if not (0 <= self.cost_per_turnover < 1):
            raise ValueError(f"invalid cost per unit of turnover {self.cost_per_turnover}")


def baseline_rows(
    performance: DataFrame, allocations: DataFrame, turnover: DataFrame, trending: DataFrame, etf_prices: DataFrame,
    rule: CostRule,
) -> DataFrame:
    """The per-row figures (ROW_COLUMNS) and the track (TRACK) of each analytics_07 row (`performance`: evaluated_on,
    session_date, horizon, holdings, portfolio_return, benchmark_return, source, track_start). `allocations`:
    analytics_05's session_date, horizon, method of the portfolios. `turnover`: session_date, horizon, turnover of the
    portfolios (analytics_05_portfolio_turnover_between over the range, sql/017). `trending`: analytics_03's session_date, ticker,
    etf_role, is_trending — its sector rows are the session's sector ETFs, whatever universe was configured then.
    `etf_prices`: ticker, trade_date, adj_close of the ETFs."""
    entry = etf_prices.select("ticker", F.col("trade_date").alias("session_date"), F.col("adj_close").alias("p0"))
    exit_ = etf_prices.select("ticker", F.col("trade_date").alias("evaluated_on"), F.col("adj_close").alias("p1"))
    spans = performance.select("evaluated_on", "session_date", "horizon")
    etf_returns = (spans.join(entry, "session_date").join(exit_, ["ticker", "evaluated_on"])
                   .withColumn("ret", F.col("p1") / F.col("p0") - 1))
    keys = ["evaluated_on", "session_date", "horizon"]
    trending_etfs = trending.where("is_trending").select("session_date", "ticker")
    trending_return = (etf_returns.join(trending_etfs, ["session_date", "ticker"])
                       .groupBy(*keys).agg(F.avg("ret").alias("trending_etfs_return")))
    sector_etfs = trending.where(F.col("etf_role") == "sector").select("session_date", "ticker")
    sector_return = (etf_returns.join(sector_etfs, ["session_date", "ticker"])
                     .groupBy(*keys).agg(F.avg("ret").alias("sector_etfs_return")))
    methods = allocations.groupBy("session_date", "horizon").agg(F.min("method").alias("method"))
    turned = turnover.select("session_date", "horizon", "turnover")
    rows = (
        performance.join(methods, ["session_date", "horizon"])
        .join(trending_return, keys, "left").join(sector_return, keys, "left")
        .join(turned, ["session_date", "horizon"], "left")
        # A session without a trending ETF holds SPY, and so does its trending-ETF baseline.
        .withColumn("trending_etfs_return", F.when(F.col("method") == FALLBACK_BENCHMARK, F.col("benchmark_return"))
                    .otherwise(F.col("trending_etfs_return")))
        .where(F.col("trending_etfs_return").isNotNull() & F.col("sector_etfs_return").isNotNull())
        .withColumn("spy_return", F.col("benchmark_return"))
        .withColumn("cost_per_turnover", F.lit(rule.cost_per_turnover))
        # Without a previous portfolio there is no turnover to charge (the first portfolio of a history).
        .withColumn("net_return",
                    F.col("portfolio_return") - F.col("cost_per_turnover") * F.coalesce("turnover", F.lit(0.0)))
    )
    for baseline in BASELINES:
        rows = rows.withColumn(f"excess_vs_{baseline}", F.col("portfolio_return") - F.col(f"{baseline}_return"))
    return rows.select(*ROW_COLUMNS, TRACK)


def with_running_figures(rows: DataFrame) -> DataFrame:
    """Running figures per horizon and track (analytics_07's TRACK) in evaluated_on order over every row given (stored
    ones included): evaluations, hit rates against each baseline, the cumulative curves (each h-session return
    compounded at its per-session geometric rate, (1 + r)^(1/h), as analytics_07 does), the running max drawdown of the
    portfolio's curve and its annualized volatility (sample standard deviation of the per-session rates × √252)."""
    running = Window.partitionBy("horizon", TRACK).orderBy("evaluated_on").rowsBetween(Window.unboundedPreceding, 0)
    per_session = F.lit(1.0) / F.col("horizon")

    def curve(column: str):
        return F.exp(F.sum(F.log1p(column) * per_session).over(running)) - 1

    frame = rows.withColumn("evaluations", F.count("*").over(running).cast("int"))
    for baseline in BASELINES:
        hit = (F.col(f"excess_vs_{baseline}") > 0).cast("int")
        frame = frame.withColumn(f"hit_rate_vs_{baseline}", F.sum(hit).over(running) / F.col("evaluations"))
    frame = frame.withColumns({
        "cumulative_return": curve("portfolio_return"),
        "cumulative_net_return": curve("net_return"),
        **{f"cumulative_{b}_return": curve(f"{b}_return") for b in BASELINES},
        "annualized_volatility": F.stddev_samp(F.pow(1 + F.col("portfolio_return"), per_session) - 1).over(running)
        * math.sqrt(TRADING_SESSIONS_PER_YEAR),
    })
    # The curve starts at 1 before the first row: a first loss is a drawdown too.
    peak = F.greatest(F.lit(1.0), F.max(1 + F.col("cumulative_return")).over(running))
    frame = frame.withColumn("_drawdown", F.least(F.lit(0.0), (1 + F.col("cumulative_return")) / peak - 1))
    return frame.withColumn("max_drawdown", F.min("_drawdown").over(running)).drop("_drawdown")


def portfolio_baselines(new_rows: DataFrame, stored_rows: DataFrame, start: dt.date) -> DataFrame:
    """The rows to write from `start` on: the range's new rows and the stored rows after it, with running figures
    over those and the stored rows before `start`. Both inputs carry analytics_07's TRACK of each row."""
    rows = new_rows.unionByName(stored_rows.select(*ROW_COLUMNS, TRACK))
    return (with_running_figures(rows).where(F.col("evaluated_on") >= F.lit(start)).drop(TRACK)
            .withColumn("horizon", F.col("horizon").cast("short")).withColumn("holdings", F.col("holdings").cast("int")))
