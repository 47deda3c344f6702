"""Stage 5 in Spark: a portfolio per session and horizon from the holdings of that session's trending ETFs.

Scheme (ARCHITECTURE.md has the formulas): score = h-session excess return over SPY / 20-session volatility; stocks
with a positive score are eligible; raw weight = score / volatility; the source ETFs' shares are capped first, then
each stock's weight, both by closed-form water-filling (window functions, no iteration). Too few eligible stocks →
the trending ETFs themselves, equally weighted; no trending ETF → SPY.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from trendfolio.analytics.trending import session_numbers, with_session_returns, with_volatility
from trendfolio.universe import BENCHMARK

PORTFOLIO_HORIZONS = (5, 10, 20)
VOL_WINDOW = 20
LOOKBACK_SESSIONS = max(max(PORTFOLIO_HORIZONS), VOL_WINDOW) + 1
SCORE_INVERSE_VOL = "score_inv_vol_capped"
FALLBACK_TRENDING_ETFS = "fallback_trending_etfs"
FALLBACK_BENCHMARK = "fallback_benchmark"


@dataclass(frozen=True)
class AllocationRule:
    max_stock_weight: float = 0.10  # relaxed to 1/n when n eligible stocks cannot fill 100 % under it
    max_etf_weight: float = 0.50  # per source ETF, relaxed to 1/m with m source ETFs
    min_eligible: int = 5  # fewer eligible stocks → hold the trending ETFs

    def __post_init__(self):
        if not (0 < self.max_stock_weight <= 1 and 0 < self.max_etf_weight <= 1 and self.min_eligible >= 1):
            raise ValueError(f"invalid allocation rule {self}")


def water_fill(frame: DataFrame, keys: list[str], item: str, value: str, cap: Column) -> DataFrame:
    """Adds `filled`: `value` normalized to sum 1 within `keys`, no item above `cap`, the excess of capped items
    spread over the others in proportion to `value` (the projection onto the capped simplex, closed form).

    Sorted by value descending (ties: `item` ascending), item j is capped iff every item before it is and
    value_j × (1 - (j-1)·cap) > cap × (sum of values from j on); the rest share 1 - k·cap in proportion to value."""
    ordered = Window.partitionBy(*keys).orderBy(F.col(value).desc(), F.col(item))
    group = Window.partitionBy(*keys)
    j = F.row_number().over(ordered)
    tail_sum = F.sum(value).over(ordered.rowsBetween(0, Window.unboundedFollowing))
    frame = (frame.withColumns({"_cap": cap, "_j": j, "_tail": tail_sum})
             .withColumn("_over", F.col(value) * (1 - (F.col("_j") - 1) * F.col("_cap")) > F.col("_cap") * F.col("_tail")))
    first_fit = F.coalesce(F.min(F.when(~F.col("_over"), F.col("_j"))).over(group), F.count("*").over(group) + 1)
    frame = frame.withColumn("_first_fit", first_fit)
    frame = frame.withColumn("_fit_tail", F.max(F.when(F.col("_j") == F.col("_first_fit"), F.col("_tail"))).over(group))
    filled = F.when(F.col("_j") < F.col("_first_fit"), F.col("_cap")).otherwise(
        F.col(value) * (1 - (F.col("_first_fit") - 1) * F.col("_cap")) / F.col("_fit_tail")
    )
    return frame.withColumn("filled", filled).drop("_cap", "_j", "_tail", "_over", "_first_fit", "_fit_tail")


def stock_metrics(prices: DataFrame, benchmark_prices: DataFrame) -> DataFrame:
    """Per ticker and session: h-session return and excess over SPY for each horizon, annualized 20-session vol."""
    calendar = session_numbers(benchmark_prices)
    stocks = with_volatility(with_session_returns(prices.join(calendar, "trade_date"), PORTFOLIO_HORIZONS))
    bench = with_session_returns(benchmark_prices.join(calendar, "trade_date"), PORTFOLIO_HORIZONS).select(
        "trade_date", *[F.col(f"ret_{h}").alias(f"bench_ret_{h}") for h in PORTFOLIO_HORIZONS]
    )
    return stocks.join(bench, "trade_date", "left").withColumns(
        {f"excess_{h}": F.col(f"ret_{h}") - F.col(f"bench_ret_{h}") for h in PORTFOLIO_HORIZONS})


def _for_horizon(prefix: str) -> Column:
    """The `prefix`_h column of the row's horizon h."""
    return F.coalesce(*[F.when(F.col("horizon") == h, F.col(f"{prefix}_{h}")) for h in PORTFOLIO_HORIZONS])


def allocate(
    trending: DataFrame, holdings: DataFrame, prices: DataFrame, benchmark_prices: DataFrame,
    start: dt.date, end: dt.date, rule: AllocationRule = AllocationRule(),
) -> DataFrame:
    """`trending`: session_date, ticker, is_trending, excess_5/10/20, vol_20, source (analytics_03).
    `holdings`: etf_ticker, as_of_date, holding_ticker. `prices`/`benchmark_prices`: ticker, trade_date, adj_close
    with LOOKBACK_SESSIONS of history before `start`. One row per (session, horizon, ticker) with weight > 0."""
    spark = trending.sparkSession
    horizons = spark.createDataFrame([(h,) for h in PORTFOLIO_HORIZONS], "horizon int")
    sessions = trending.select("session_date", "source").distinct()
    trending_etfs = trending.where("is_trending")
    # Each trending ETF's latest holdings list fetched on or before the session (point in time).
    candidates = (trending_etfs.select("session_date", F.col("ticker").alias("etf_ticker"))
                  .join(holdings, "etf_ticker").where(F.col("as_of_date") <= F.col("session_date")))
    latest = Window.partitionBy("session_date", "etf_ticker")
    universe = (
        candidates.withColumn("latest_as_of", F.max("as_of_date").over(latest))
        .where(F.col("as_of_date") == F.col("latest_as_of"))
        .groupBy("session_date", F.col("holding_ticker").alias("ticker"))
        .agg(F.array_sort(F.collect_set("etf_ticker")).alias("etfs"), F.max("as_of_date").alias("holdings_as_of"))
    )
    # Stocks without a price on the session (or too little history) drop out of the universe here.
    metrics = stock_metrics(prices, benchmark_prices).withColumnRenamed("trade_date", "session_date")
    scored = (
        universe.join(metrics, ["session_date", "ticker"]).crossJoin(horizons)
        .withColumn("score", _for_horizon("excess") / F.col("vol_20"))
        .where((F.col("vol_20") > 0) & (F.col("score") > 0))
        .withColumn("raw", F.col("score") / F.col("vol_20"))
        .withColumn("n_eligible", F.count("*").over(Window.partitionBy("session_date", "horizon")))
    )
    eligible = scored.where(F.col("n_eligible") >= rule.min_eligible)

    # Source-ETF cap: a stock held by k ETFs counts raw/k towards each; ETF shares are water-filled, then each ETF's
    # share goes to its stocks in proportion to raw/k.
    keys = ["session_date", "horizon"]
    parts = eligible.select(*keys, "ticker", F.explode("etfs").alias("etf"),
                            (F.col("raw") / F.size("etfs")).alias("part"))
    etf_totals = parts.groupBy(*keys, "etf").agg(F.sum("part").alias("etf_raw"))
    etf_shares = water_fill(
        etf_totals, keys, "etf", "etf_raw",
        F.greatest(F.lit(rule.max_etf_weight), 1 / F.count("*").over(Window.partitionBy(*keys))),
    ).withColumnRenamed("filled", "etf_share")
    pre_weights = (parts.join(etf_shares, [*keys, "etf"])
                   .groupBy(*keys, "ticker").agg(F.sum(F.col("etf_share") * F.col("part") / F.col("etf_raw"))
                                                 .alias("pre_weight")))
    weighted = water_fill(
        eligible.join(pre_weights, [*keys, "ticker"]), keys, "ticker", "pre_weight",
        F.greatest(F.lit(rule.max_stock_weight), 1 / F.col("n_eligible")),
    )
    portfolio = weighted.join(sessions, "session_date").select(
        *keys, "ticker", F.col("filled").alias("weight"), "score", F.col("vol_20").alias("volatility"),
        F.concat_ws(",", "etfs").alias("source_etfs"), F.lit(SCORE_INVERSE_VOL).alias("method"),
        F.col("session_date").alias("prices_as_of"), "holdings_as_of", "source",
    )

    # Sessions with a trending ETF but fewer than min_eligible stocks: the trending ETFs, equally weighted.
    covered = scored.where(F.col("n_eligible") >= rule.min_eligible).select(*keys).distinct()
    etf_fallback = (
        trending_etfs.crossJoin(horizons).join(covered, keys, "left_anti")
        .withColumn("weight", 1 / F.count("*").over(Window.partitionBy(*keys)))
        .select(*keys, "ticker", "weight", (_for_horizon("excess") / F.col("vol_20")).alias("score"),
                F.col("vol_20").alias("volatility"), F.col("ticker").alias("source_etfs"),
                F.lit(FALLBACK_TRENDING_ETFS).alias("method"), F.col("session_date").alias("prices_as_of"),
                F.lit(None).cast("date").alias("holdings_as_of"), "source")
    )
    # Sessions without a trending ETF: the benchmark.
    benchmark_fallback = (
        sessions.join(trending_etfs.select("session_date").distinct(), "session_date", "left_anti").crossJoin(horizons)
        .select(*keys, F.lit(BENCHMARK).alias("ticker"), F.lit(1.0).alias("weight"),
                F.lit(None).cast("double").alias("score"), F.lit(None).cast("double").alias("volatility"),
                F.lit("").alias("source_etfs"), F.lit(FALLBACK_BENCHMARK).alias("method"),
                F.col("session_date").alias("prices_as_of"), F.lit(None).cast("date").alias("holdings_as_of"),
                "source")
    )
    return (
        portfolio.unionByName(etf_fallback).unionByName(benchmark_fallback)
        .where(F.col("session_date").between(F.lit(start), F.lit(end)))
        .withColumn("horizon", F.col("horizon").cast("short"))
    )
