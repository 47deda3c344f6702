"""Did it work? The realized return of each allocation once its horizon has elapsed, against SPY over the same sessions.

A row is keyed by the session its horizon ends on (`evaluated_on`, the partition): the nightly run of session E
evaluates the portfolios built 5, 10 and 20 sessions before E. Running figures continue from the last stored row
before the run's range (`prior`), so a range computes in one job and a nightly run reads one row per horizon.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from trendfolio.analytics.allocation import PORTFOLIO_HORIZONS
from trendfolio.analytics.trending import session_numbers

# Sessions of allocations and prices one evaluation needs before its `evaluated_on`.
LOOKBACK_SESSIONS = max(PORTFOLIO_HORIZONS)


def realized_performance(
    allocations: DataFrame, prices: DataFrame, benchmark_prices: DataFrame, prior: DataFrame,
    start: dt.date, end: dt.date,
) -> DataFrame:
    """`allocations`: session_date, horizon, ticker, weight, source (analytics_05). `prices`: ticker, trade_date,
    adj_close of every ticker an allocation may hold (stocks and ETFs). `benchmark_prices`: SPY's rows, which number
    the sessions. `prior`: horizon, evaluations, hits, cumulative_return,
    cumulative_benchmark_return: the last stored row per horizon before `start` (empty on a first run).
    Returns one row per (evaluated_on in [start, end], horizon) whose allocation is fully priced."""
    calendar = session_numbers(benchmark_prices)
    ends = calendar.select(F.col("trade_date").alias("evaluated_on"), F.col("session_no").alias("end_no"))
    held = (
        allocations.join(calendar.withColumnRenamed("trade_date", "session_date"), "session_date")
        .join(ends, F.col("end_no") == F.col("session_no") + F.col("horizon"))
        .where(F.col("evaluated_on").between(F.lit(start), F.lit(end)))
    )
    price_at = prices.select("ticker", "trade_date", "adj_close")
    held = (
        held.join(price_at.select("ticker", F.col("trade_date").alias("session_date"),
                                  F.col("adj_close").alias("entry_price")), ["ticker", "session_date"], "left")
        .join(price_at.select("ticker", F.col("trade_date").alias("evaluated_on"),
                              F.col("adj_close").alias("exit_price")), ["ticker", "evaluated_on"], "left")
    )
    keys = ["evaluated_on", "session_date", "horizon", "source"]
    portfolios = (
        held.groupBy(*keys).agg(
            F.count("*").alias("holdings"),
            F.count(F.col("entry_price") * F.col("exit_price")).alias("priced"),
            F.sum(F.col("weight") * (F.col("exit_price") / F.col("entry_price") - 1)).alias("portfolio_return"),
        )
        # A holding without a price at either end would make the return a guess: such an allocation is left out.
        .where(F.col("priced") == F.col("holdings"))
    )
    bench = benchmark_prices.select("trade_date", "adj_close")
    portfolios = (
        portfolios.join(bench.select(F.col("trade_date").alias("session_date"), F.col("adj_close").alias("b0")),
                        "session_date")
        .join(bench.select(F.col("trade_date").alias("evaluated_on"), F.col("adj_close").alias("b1")), "evaluated_on")
        .withColumn("benchmark_return", F.col("b1") / F.col("b0") - 1)
        .withColumn("excess_return", F.col("portfolio_return") - F.col("benchmark_return"))
        .withColumn("hit", F.col("excess_return") > 0)
    )
    running = Window.partitionBy("horizon").orderBy("evaluated_on").rowsBetween(Window.unboundedPreceding, 0)
    per_session = F.lit(1.0) / F.col("horizon")
    with_prior = portfolios.join(prior, "horizon", "left").fillna(
        0, ["evaluations", "hits", "cumulative_return", "cumulative_benchmark_return"])
    return (
        with_prior
        .withColumn("evaluations_now", F.col("evaluations") + F.count("*").over(running))
        .withColumn("hits_now", F.col("hits") + F.sum(F.col("hit").cast("int")).over(running))
        # The curve compounds each allocation at its per-session geometric rate: (1 + r)^(1/h) per allocation.
        .withColumn("cum", F.exp(F.log1p("cumulative_return")
                                 + F.sum(F.log1p("portfolio_return")).over(running) * per_session) - 1)
        .withColumn("cum_bench", F.exp(F.log1p("cumulative_benchmark_return")
                                       + F.sum(F.log1p("benchmark_return")).over(running) * per_session) - 1)
        .select(
            "evaluated_on", "session_date", F.col("horizon").cast("short").alias("horizon"),
            F.col("holdings").cast("int").alias("holdings"), "portfolio_return", "benchmark_return", "excess_return",
            "hit", F.col("evaluations_now").cast("int").alias("evaluations"), F.col("hits_now").cast("int").alias("hits"),
            (F.col("hits_now") / F.col("evaluations_now")).alias("hit_rate"),
            F.col("cum").alias("cumulative_return"), F.col("cum_bench").alias("cumulative_benchmark_return"),
            "source",
        )
    )
