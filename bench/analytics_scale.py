"""Benchmark 5: the analytics at scale. A synthetic universe of 200 ETFs and 5,000 stocks over 10 years (≈ 13 M rows)
computed in Spark on 2 cores (trend_metrics over the ETFs, stock_metrics over the stocks: the code the assets run),
against a single-process pandas computation of the same columns on the same data. Targets: Spark's process tree
(driver and JVM) stays within 4 GiB, and takes at most 4 × the pandas time.

    uv run python -m bench.analytics_scale [--etfs 200 --stocks 5000 --years 10]

Both sides generate the same prices from a closed formula of (ticker number, session number) in their own process,
cache them, and only then start the clock; Spark's result is forced with the `noop` sink, so neither side pays for
input or output. The pandas side is this module's own reference (issue 4's analytics tests bring the official one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time

import numpy as np
import pandas as pd

from bench.common import GIB, Outcome, Services, gib, run_main, seconds, within
from trendfolio import calendar

MEMORY_TARGET_GIB = 4.0
SPEED_TARGET = 4.0
LAST_SESSION = dt.date(2026, 11, 25)
HORIZONS = (5, 10, 20, 60)
STOCK_HORIZONS = (5, 10, 20)
VOL_WINDOW, MA_WINDOW, YEAR = 20, 50, 252


# --- the same data on both sides ----------------------------------------------------------------------------------
def log_price(i, d, sin, log):
    """log adjusted close of ticker number i on session number d; `sin`/`log` are numpy's or Spark's."""
    drift = 0.0004 * (((i * 37) % 11) - 5) / 5
    return (log(50 + (i % 50)) + drift * d + 0.1 * sin((0.05 + (i % 7) * 0.01) * d + (i % 13) * 0.5)
            + 0.02 * sin(d * 1.7 + i))


def etf_name(i: int) -> str:
    return "SPY" if i == 0 else f"E{i:03d}"


def session_list(years: int) -> list[dt.date]:
    return calendar.previous_sessions(LAST_SESSION, years * YEAR)


def pandas_universe(etfs: int, stocks: int, years: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    sessions = np.array(session_list(years), dtype="datetime64[D]")
    days = len(sessions)

    def frame(count: int, offset: int, names) -> pd.DataFrame:
        i = np.repeat(np.arange(offset, offset + count), days)
        d = np.tile(np.arange(days), count)
        return pd.DataFrame({
            "ticker": np.repeat(np.array([names(k) for k in range(count)], dtype=object), days),
            "trade_date": np.tile(sessions, count),
            "adj_close": np.exp(log_price(i, d, np.sin, np.log)),
        })

    etf_frame = frame(etfs, 0, etf_name).assign(etf_role=lambda f: np.where(f.ticker == "SPY", "benchmark", "sector"))
    return etf_frame, frame(stocks, etfs, lambda k: f"S{k:04d}")


def spark_universe(spark, etfs: int, stocks: int, years: int):
    from pyspark.sql import functions as F

    sessions = spark.createDataFrame([(d, day) for d, day in enumerate(session_list(years))], "d long, trade_date date")
    days = sessions.count()

    def frame(count: int, offset: int, name):
        ids = spark.range(count * days).select((F.col("id") / days).cast("long").alias("k"),
                                               (F.col("id") % days).alias("d"))
        i = F.col("k") + offset
        return ids.join(F.broadcast(sessions), "d").select(
            name(F.col("k")).alias("ticker"), "trade_date",
            F.exp(log_price(i, F.col("d"), F.sin, F.log)).alias("adj_close"))

    etf_frame = frame(etfs, 0, lambda k: F.when(k == 0, F.lit("SPY")).otherwise(F.format_string("E%03d", k)))
    etf_frame = etf_frame.withColumn(
        "etf_role", F.when(F.col("ticker") == "SPY", "benchmark").otherwise("sector")).withColumn(
        "source", F.lit("synthetic"))
    stock_frame = frame(stocks, etfs, lambda k: F.format_string("S%04d", k))
    return etf_frame, stock_frame


# --- the pandas reference ----------------------------------------------------------------------------------------
def _returns(frame: pd.DataFrame, horizons) -> pd.DataFrame:
    by_ticker = frame.groupby("ticker", sort=False)["adj_close"]
    for h in horizons:
        frame[f"ret_{h}"] = frame["adj_close"] / by_ticker.shift(h) - 1
    frame["log_ret"] = np.log(frame["adj_close"] / by_ticker.shift(1))
    rolling = frame.groupby("ticker", sort=False)["log_ret"].rolling(VOL_WINDOW, min_periods=VOL_WINDOW)
    frame["vol_20"] = rolling.std().reset_index(level=0, drop=True) * math.sqrt(YEAR)
    return frame


def _excess(frame: pd.DataFrame, bench: pd.DataFrame, horizons) -> pd.DataFrame:
    bench = bench[["trade_date", *[f"ret_{h}" for h in horizons]]].rename(
        columns={f"ret_{h}": f"bench_ret_{h}" for h in horizons})
    frame = frame.merge(bench, on="trade_date", how="left")
    for h in horizons:
        frame[f"excess_{h}"] = frame[f"ret_{h}"] - frame[f"bench_ret_{h}"]
    return frame


def pandas_trend_metrics(prices: pd.DataFrame) -> pd.DataFrame:
    frame = _returns(prices.sort_values(["ticker", "trade_date"]).reset_index(drop=True), HORIZONS)
    ma = frame.groupby("ticker", sort=False)["adj_close"].rolling(MA_WINDOW, min_periods=MA_WINDOW).mean()
    frame["ma_50"] = ma.reset_index(level=0, drop=True)
    frame["above_ma_50"] = frame["adj_close"] > frame["ma_50"]
    frame = _excess(frame, frame[frame.ticker == "SPY"], HORIZONS)
    frame["score"] = sum(frame[f"excess_{h}"] * 0.25 for h in HORIZONS)
    frame = frame.sort_values(["trade_date", "etf_role", "score", "ticker"], ascending=[True, True, False, True])
    frame["score_rank"] = frame.groupby(["trade_date", "etf_role"]).cumcount() + 1
    frame["is_trending"] = (frame.etf_role == "sector") & (frame.excess_20 > 0)
    return frame


def pandas_stock_metrics(prices: pd.DataFrame, benchmark: pd.DataFrame) -> pd.DataFrame:
    frame = _returns(prices.sort_values(["ticker", "trade_date"]).reset_index(drop=True), STOCK_HORIZONS)
    bench = _returns(benchmark.sort_values("trade_date").reset_index(drop=True), STOCK_HORIZONS)
    return _excess(frame, bench, STOCK_HORIZONS)


# --- the two timed sides (each in its own process, see bench.child) ----------------------------------------------
def time_pandas(etfs: int, stocks: int, years: int) -> float:
    etf_prices, stock_prices = pandas_universe(etfs, stocks, years)
    began = time.perf_counter()
    trend = pandas_trend_metrics(etf_prices)
    metrics = pandas_stock_metrics(stock_prices, etf_prices[etf_prices.ticker == "SPY"][["ticker", "trade_date",
                                                                                          "adj_close"]])
    elapsed = time.perf_counter() - began
    assert len(trend) == len(etf_prices) and len(metrics) == len(stock_prices)
    return elapsed


def time_spark(etfs: int, stocks: int, years: int) -> float:
    import os

    from pyspark.sql import functions as F

    from resources import SparkResource
    from trendfolio.analytics.allocation import stock_metrics
    from trendfolio.analytics.trending import trend_metrics

    spark = SparkResource(master_url=os.environ.get("SPARK_MASTER_URL", "local[2]")).session()
    etf_prices, stock_prices = spark_universe(spark, etfs, stocks, years)
    etf_prices, stock_prices = etf_prices.cache(), stock_prices.cache()
    assert etf_prices.count() + stock_prices.count() > 0  # materializes the cache before the clock starts
    sessions = session_list(years)
    began = time.perf_counter()
    trend_metrics(etf_prices, sessions[0], sessions[-1]).write.format("noop").mode("overwrite").save()
    spy = etf_prices.where(F.col("ticker") == "SPY").select("ticker", "trade_date", "adj_close")
    stock_metrics(stock_prices, spy).write.format("noop").mode("overwrite").save()
    elapsed = time.perf_counter() - began
    spark.stop()
    return elapsed


def measure(services: Services, etfs: int, stocks: int, years: int) -> list[Outcome]:
    from bench.pipeline import run_child

    args = ("--etfs", str(etfs), "--stocks", str(stocks), "--years", str(years))
    rows = (etfs + stocks) * years * YEAR
    pandas_run = run_child(services, services.admin_url, "analytics-pandas", *args, with_services=False)
    spark_run = run_child(services, services.admin_url, "analytics-spark", *args, with_services=False)
    ratio = spark_run.seconds / pandas_run.seconds
    fits = spark_run.peak_rss / GIB <= MEMORY_TARGET_GIB
    details = {
        "rows": f"{rows:,} ({etfs} ETFs + {stocks:,} stocks × {years * YEAR} sessions)",
        "Spark (local[2], trend_metrics + stock_metrics)": seconds(spark_run.seconds),
        "pandas reference, one process": seconds(pandas_run.seconds),
        "Spark peak memory (driver + JVM, sum of RSS)": gib(spark_run.peak_rss),
        "pandas peak memory": gib(pandas_run.peak_rss),
    }
    return [Outcome(
        5, "analytics at scale",
        f"synthetic universe of {etfs} ETFs and {stocks:,} stocks over {years} years computed in Spark on 2 cores, "
        "against a single-process pandas computation of the same columns on the same data",
        ratio, f"≤ {SPEED_TARGET} × pandas, within {MEMORY_TARGET_GIB:.0f} GiB",
        within(ratio, SPEED_TARGET) and fits, details,
        [f"memory {'within' if fits else 'ABOVE'} {MEMORY_TARGET_GIB:.0f} GiB; the peak includes the cached input",
         "the pandas side is bench/analytics_scale.py's reference, not yet issue 4's from the analytics tests"],
    )]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--etfs", type=int, default=200)
    parser.add_argument("--stocks", type=int, default=5000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--no-record", action="store_true", help="print only, do not append to RESULTS.md")
    args = parser.parse_args()
    run_main(lambda services: measure(services, args.etfs, args.stocks, args.years), record=not args.no_record)


if __name__ == "__main__":
    main()
