"""Stage 5 in Spark: a portfolio per session and horizon from the holdings of that session's trending ETFs.

Scheme (ARCHITECTURE.md has the formulas): score = h-session excess return over SPY / 20-session volatility; stocks
with a positive score are eligible; raw weight = score / volatility; the weights are the raw weights made to sum to 1
under both caps at once, the per-stock cap and the per-source-ETF cap (`capped_weights`, one small problem per session
and horizon, solved in `applyInPandas`). Too few eligible stocks → the trending ETFs themselves, equally weighted; no
trending ETF → SPY.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
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
    max_etf_weight: float = 0.50  # per source ETF; relaxed to 1/m with m source ETFs, then as far as the stocks need
    min_eligible: int = 5  # fewer eligible stocks → hold the trending ETFs
    max_holdings_age_days: int = 45  # an older holdings list is not used: the ETF counts as having none

    def __post_init__(self):
        if not (0 < self.max_stock_weight <= 1 and 0 < self.max_etf_weight <= 1 and self.min_eligible >= 1
                and self.max_holdings_age_days >= 0):
            raise ValueError(f"invalid allocation rule {self}")


CAP_TOLERANCE = 1e-12  # how close to its cap a bound ETF's share must come before the iteration stops
MAX_CAP_ROUNDS = 10_000


def water_fill(values: np.ndarray, cap: float) -> np.ndarray:
    """`values` made proportional weights summing to 1 with none above `cap` (needs len × cap ≥ 1): the projection onto
    the capped simplex in closed form. Sorted descending, position j (from 0) is capped iff every one before it is and
    value_j × (1 - j·cap) > cap × (sum of the values from j on); the rest share 1 - k·cap in proportion to value."""
    order = np.argsort(-values, kind="stable")
    ordered = values[order]
    tails = np.cumsum(ordered[::-1])[::-1]
    capped = 0
    while capped < len(ordered) and ordered[capped] * (1 - capped * cap) > cap * tails[capped]:
        capped += 1
    filled = np.full(len(ordered), cap)
    if capped < len(ordered):
        filled[capped:] = ordered[capped:] * (1 - capped * cap) / tails[capped]
    weights = np.empty(len(values))
    weights[order] = filled
    return weights


def relaxed_etf_cap(capacities: np.ndarray, cap: float) -> float:
    """The ETF cap, raised to the smallest value at which the ETFs can hold 100 % when ETF e can hold at most
    `capacities[e]` (its stocks at the stock cap): Σ_e min(cap, capacity_e) ≥ 1."""
    if np.minimum(cap, capacities).sum() >= 1 - CAP_TOLERANCE:
        return cap
    ordered = np.sort(capacities)
    below = 0.0
    for j, capacity in enumerate(ordered):
        rest = len(ordered) - j
        if below + rest * capacity >= 1:
            return max(cap, (1 - below) / rest)
        below += capacity
    return float(ordered[-1])  # unreachable: the stock cap alone is feasible, so Σ capacities ≥ 1


def capped_weights(raw: np.ndarray, etfs: list, max_stock: float, max_etf: float) -> tuple[np.ndarray, str | None]:
    """Weights ∝ `raw` summing to 1 with no stock above the stock cap c and no ETF's share (Σ w_i / k_i over its
    stocks, k_i the number of ETFs stock i came from) above the ETF cap C, and a note on any cap that had to be relaxed
    (None when both hold as configured).

    Each ETF e has a multiplier g_e ≤ 1; a stock's value is raw_i × the mean of its ETFs' multipliers, and the weights
    are those values water-filled under c. An ETF above C lowers its multiplier, one below C with g_e < 1 raises it,
    by the factor that would bring its share to C exactly if it alone moved: C(1 - s)/(s(1 - C)). At the fixed point
    every ETF is at most C, and an ETF whose weights were lowered sits at C exactly (within CAP_TOLERANCE).
    Relaxation order when the caps cannot hold together: c to 1/n (n stocks); C to 1/m (m ETFs); C to the smallest
    value the stocks can fill at c (`relaxed_etf_cap`): the stock cap is the hard limit."""
    n = len(raw)
    notes = []
    stock_cap = max_stock
    if n * max_stock < 1:
        stock_cap = 1 / n
        notes.append(f"stock cap {max_stock:g} -> 1/{n}")
    names = sorted({etf for held in etfs for etf in held})
    column = {etf: j for j, etf in enumerate(names)}
    share_of = np.zeros((n, len(names)))  # share_e = Σ_i w_i × share_of[i, e]
    for i, held in enumerate(etfs):
        for etf in held:
            share_of[i, column[etf]] = 1 / len(held)
    etf_cap = max_etf
    if len(names) * max_etf < 1:
        etf_cap = 1 / len(names)
        notes.append(f"etf cap {max_etf:g} -> 1/{len(names)}")
    feasible_cap = relaxed_etf_cap(share_of.sum(axis=0) * stock_cap, etf_cap)
    if feasible_cap > etf_cap:
        notes.append(f"etf cap {etf_cap:.6g} -> {feasible_cap:.6g} (the stocks cannot fill 100 % under it)")
        etf_cap = feasible_cap
    multipliers = np.ones(len(names))
    counts = share_of.astype(bool).sum(axis=1)
    for _ in range(MAX_CAP_ROUNDS):
        weights = water_fill(raw * (share_of.astype(bool) @ multipliers) / counts, stock_cap)
        if etf_cap >= 1:
            break
        shares = weights @ share_of
        lowered = multipliers < 1
        if (shares <= etf_cap + CAP_TOLERANCE).all() and (np.abs(shares[lowered] - etf_cap) <= CAP_TOLERANCE).all():
            break
        multipliers = np.minimum(1.0, multipliers * etf_cap * (1 - shares) / (shares * (1 - etf_cap)))
    else:
        notes.append(f"etf cap {etf_cap:.6g} not met after {MAX_CAP_ROUNDS} rounds: max share {shares.max():.9f}")
    return weights, "; ".join(notes) or None


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
                  .join(holdings, "etf_ticker").where(F.col("as_of_date") <= F.col("session_date"))
                  .where(F.col("as_of_date") >= F.date_sub("session_date", rule.max_holdings_age_days)))
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

    # Both caps per (session, horizon): a small problem each, solved in Python on the executors (lazily, in the same
    # Spark job as the rest).
    keys = ["session_date", "horizon"]
    max_stock, max_etf = rule.max_stock_weight, rule.max_etf_weight

    def weigh(stocks: pd.DataFrame) -> pd.DataFrame:
        stocks = stocks.sort_values("ticker")
        weights, note = capped_weights(stocks["raw"].to_numpy(dtype=float), [list(etfs) for etfs in stocks["etfs"]],
                                       max_stock, max_etf)
        return stocks[[*keys, "ticker"]].assign(weight=weights, constraint_note=note)

    # applyInPandas rather than an RDD: Spark Connect (TRENDFOLIO_SPARK_CONNECT) has no RDDs.
    weighted = eligible.select(*keys, "ticker", "raw", "etfs").groupBy(*keys).applyInPandas(
        weigh, "session_date date, horizon int, ticker string, weight double, constraint_note string",
    ).join(eligible, [*keys, "ticker"])
    portfolio = weighted.join(sessions, "session_date").select(
        *keys, "ticker", "weight", "score", F.col("vol_20").alias("volatility"),
        F.concat_ws(",", "etfs").alias("source_etfs"), F.lit(SCORE_INVERSE_VOL).alias("method"),
        F.col("session_date").alias("prices_as_of"), "holdings_as_of", "constraint_note", "source",
    )

    # Sessions with a trending ETF but fewer than min_eligible stocks: the trending ETFs, equally weighted.
    covered = scored.where(F.col("n_eligible") >= rule.min_eligible).select(*keys).distinct()
    etf_fallback = (
        trending_etfs.crossJoin(horizons).join(covered, keys, "left_anti")
        .withColumn("weight", 1 / F.count("*").over(Window.partitionBy(*keys)))
        .select(*keys, "ticker", "weight", (_for_horizon("excess") / F.col("vol_20")).alias("score"),
                F.col("vol_20").alias("volatility"), F.col("ticker").alias("source_etfs"),
                F.lit(FALLBACK_TRENDING_ETFS).alias("method"), F.col("session_date").alias("prices_as_of"),
                F.lit(None).cast("date").alias("holdings_as_of"), F.lit(None).cast("string").alias("constraint_note"),
                "source")
    )
    # Sessions without a trending ETF: the benchmark.
    benchmark_fallback = (
        sessions.join(trending_etfs.select("session_date").distinct(), "session_date", "left_anti").crossJoin(horizons)
        .select(*keys, F.lit(BENCHMARK).alias("ticker"), F.lit(1.0).alias("weight"),
                F.lit(None).cast("double").alias("score"), F.lit(None).cast("double").alias("volatility"),
                F.lit(BENCHMARK).alias("source_etfs"), F.lit(FALLBACK_BENCHMARK).alias("method"),
                F.col("session_date").alias("prices_as_of"), F.lit(None).cast("date").alias("holdings_as_of"),
                F.lit(None).cast("string").alias("constraint_note"), "source")
    )
    return (
        portfolio.unionByName(etf_fallback).unionByName(benchmark_fallback)
        .where(F.col("session_date").between(F.lit(start), F.lit(end)))
        .withColumn("horizon", F.col("horizon").cast("short"))
    )
