"""Stage 3 in Spark: multi-horizon performance of each ETF against SPY, and which sector ETFs are trending.

Pure DataFrame functions (window functions, no UDFs): the asset reads and writes, these only compute.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from trendfolio.universe import BENCHMARK

HORIZONS = (5, 10, 20, 60)
VOL_WINDOW = 20
MA_WINDOW = 50
TRADING_DAYS_PER_YEAR = 252
# Sessions of history one result needs: the longest lookback (60-session return, 50-session MA) plus slack.
LOOKBACK_SESSIONS = max(max(HORIZONS), MA_WINDOW, VOL_WINDOW) + 1


@dataclass(frozen=True)
class TrendRule:
    """The skeleton rule: a sector ETF trends when its 20-session return beats SPY's."""

    horizon_weights: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.25)

    @property
    def name(self) -> str:
        return "excess_20>0"


def trend_metrics(prices: DataFrame, start: dt.date, end: dt.date, rule: TrendRule = TrendRule()) -> DataFrame:
    """`prices`: ticker, trade_date, etf_role, adj_close, source (with LOOKBACK_SESSIONS of history before `start`).
    Returns one row per ETF and session in [start, end] with the analytics_03 columns."""
    by_ticker = Window.partitionBy("ticker").orderBy("trade_date")
    frame = prices.withColumn("log_ret", F.log(F.col("adj_close") / F.lag("adj_close", 1).over(by_ticker)))
    for h in HORIZONS:
        frame = frame.withColumn(f"ret_{h}", F.col("adj_close") / F.lag("adj_close", h).over(by_ticker) - 1)
    vol_window = by_ticker.rowsBetween(-(VOL_WINDOW - 1), 0)
    ma_window = by_ticker.rowsBetween(-(MA_WINDOW - 1), 0)
    frame = (
        frame.withColumn(
            "vol_20",
            F.when(F.count("log_ret").over(vol_window) == VOL_WINDOW,
                   F.stddev_samp("log_ret").over(vol_window) * F.sqrt(F.lit(float(TRADING_DAYS_PER_YEAR)))),
        )
        .withColumn("ma_50", F.when(F.count("adj_close").over(ma_window) == MA_WINDOW,
                                    F.avg("adj_close").over(ma_window)))
        .withColumn("above_ma_50", F.when(F.col("ma_50").isNotNull(), F.col("adj_close") > F.col("ma_50")))
    )
    benchmark = frame.where(F.col("ticker") == BENCHMARK).select(
        "trade_date", *[F.col(f"ret_{h}").alias(f"bench_ret_{h}") for h in HORIZONS]
    )
    frame = frame.join(benchmark, "trade_date", "left")
    for h in HORIZONS:
        frame = frame.withColumn(f"excess_{h}", F.col(f"ret_{h}") - F.col(f"bench_ret_{h}"))
    score = sum(F.col(f"excess_{h}") * w for h, w in zip(HORIZONS, rule.horizon_weights))
    frame = frame.withColumn("score", score)
    sector_rank = Window.partitionBy("trade_date", "etf_role").orderBy(
        F.col("score").desc_nulls_last(), F.col("ticker")
    )
    frame = (
        frame.withColumn("score_rank", F.when(F.col("score").isNotNull(), F.row_number().over(sector_rank)))
        .withColumn(
            "is_trending",
            (F.col("etf_role") == "sector") & F.coalesce(F.col("excess_20") > 0, F.lit(False)),
        )
        .withColumn("rule", F.lit(rule.name))
    )
    return frame.where(F.col("trade_date").between(F.lit(start), F.lit(end))).select(
        F.col("trade_date").alias("session_date"), "ticker", "etf_role", "adj_close",
        *[f"ret_{h}" for h in HORIZONS], *[f"excess_{h}" for h in HORIZONS],
        "vol_20", "ma_50", "above_ma_50", "score", F.col("score_rank").cast("int").alias("score_rank"),
        "is_trending", "rule", "source",
    )
