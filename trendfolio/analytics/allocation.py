"""Stage 5 in Spark: a portfolio per session and horizon from the holdings of that session's trending ETFs."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from trendfolio.universe import BENCHMARK

PORTFOLIO_HORIZONS = (5, 10, 20)
VOL_WINDOW = 20
TRADING_DAYS_PER_YEAR = 252
LOOKBACK_SESSIONS = max(max(PORTFOLIO_HORIZONS), VOL_WINDOW) + 1
EQUAL_WEIGHT = "equal_weight"
FALLBACK_BENCHMARK = "fallback_benchmark"


def stock_metrics(prices: DataFrame, benchmark_prices: DataFrame) -> DataFrame:
    """Per ticker and session: h-session return and excess over SPY for each horizon, annualized 20-session vol."""
    by_ticker = Window.partitionBy("ticker").orderBy("trade_date")
    vol_window = by_ticker.rowsBetween(-(VOL_WINDOW - 1), 0)

    def with_returns(frame: DataFrame) -> DataFrame:
        for h in PORTFOLIO_HORIZONS:
            frame = frame.withColumn(f"ret_{h}", F.col("adj_close") / F.lag("adj_close", h).over(by_ticker) - 1)
        return frame

    stocks = with_returns(prices).withColumn(
        "log_ret", F.log(F.col("adj_close") / F.lag("adj_close", 1).over(by_ticker))
    ).withColumn(
        "vol_20",
        F.when(F.count("log_ret").over(vol_window) == VOL_WINDOW,
               F.stddev_samp("log_ret").over(vol_window) * F.sqrt(F.lit(float(TRADING_DAYS_PER_YEAR)))),
    )
    bench = with_returns(benchmark_prices).select(
        "trade_date", *[F.col(f"ret_{h}").alias(f"bench_ret_{h}") for h in PORTFOLIO_HORIZONS]
    )
    stocks = stocks.join(bench, "trade_date", "left")
    for h in PORTFOLIO_HORIZONS:
        stocks = stocks.withColumn(f"excess_{h}", F.col(f"ret_{h}") - F.col(f"bench_ret_{h}"))
    return stocks


def allocate(
    trending: DataFrame, holdings: DataFrame, prices: DataFrame, benchmark_prices: DataFrame,
    start: dt.date, end: dt.date,
) -> DataFrame:
    """Skeleton scheme: equal weight over every stock held by a trending ETF; no trending ETF → 100 % SPY.

    `trending`: session_date, ticker, is_trending, source. `holdings`: etf_ticker, as_of_date, holding_ticker.
    `prices`/`benchmark_prices`: ticker, trade_date, adj_close, source with LOOKBACK_SESSIONS of history."""
    sessions = trending.select("session_date", "source").distinct()
    trending_etfs = trending.where("is_trending").select("session_date", F.col("ticker").alias("etf_ticker"))
    # Each ETF's latest holdings list known on the session (point in time: fetched on or before it).
    candidates = trending_etfs.join(holdings, "etf_ticker").where(F.col("as_of_date") <= F.col("session_date"))
    latest = Window.partitionBy("session_date", "etf_ticker")
    universe = (
        candidates.withColumn("latest_as_of", F.max("as_of_date").over(latest))
        .where(F.col("as_of_date") == F.col("latest_as_of"))
        .groupBy("session_date", F.col("holding_ticker").alias("ticker"))
        .agg(F.concat_ws(",", F.array_sort(F.collect_set("etf_ticker"))).alias("source_etfs"),
             F.max("as_of_date").alias("holdings_as_of"))
    )
    metrics = stock_metrics(prices, benchmark_prices).withColumnRenamed("trade_date", "session_date")
    held = universe.join(metrics, ["session_date", "ticker"]).join(sessions, "session_date")
    horizons = held.sparkSession.createDataFrame([(h,) for h in PORTFOLIO_HORIZONS], "horizon int")
    per_horizon = held.crossJoin(horizons).withColumn(
        "score",
        F.coalesce(*[F.when(F.col("horizon") == h, F.col(f"excess_{h}") / F.col("vol_20"))
                     for h in PORTFOLIO_HORIZONS]),
    )
    count_window = Window.partitionBy("session_date", "horizon")
    portfolio = per_horizon.withColumn("weight", F.lit(1.0) / F.count("*").over(count_window)).select(
        "session_date", "horizon", "ticker", "weight", "score", F.col("vol_20").alias("volatility"), "source_etfs",
        F.lit(EQUAL_WEIGHT).alias("method"), F.col("session_date").alias("prices_as_of"), "holdings_as_of",
        "source",
    )
    uncovered = sessions.join(portfolio.select("session_date").distinct(), "session_date", "left_anti")
    fallback = uncovered.crossJoin(horizons).select(
        "session_date", "horizon", F.lit(BENCHMARK).alias("ticker"), F.lit(1.0).alias("weight"),
        F.lit(None).cast("double").alias("score"), F.lit(None).cast("double").alias("volatility"),
        F.lit("").alias("source_etfs"), F.lit(FALLBACK_BENCHMARK).alias("method"),
        F.col("session_date").alias("prices_as_of"), F.lit(None).cast("date").alias("holdings_as_of"), "source",
    )
    return (
        portfolio.unionByName(fallback)
        .where(F.col("session_date").between(F.lit(start), F.lit(end)))
        .withColumn("horizon", F.col("horizon").cast("short"))
    )
