"""Stage 3 in Spark: multi-horizon performance of each ETF against SPY, and which sector ETFs are trending.

The rule is relative-strength sector rotation (Faber, "Relative Strength Strategies for Investing", 2010: rank the
sectors by trailing return and hold the top N) gated by a trend filter (Faber, "A Quantitative Approach to Tactical
Asset Allocation", 2007: hold only while the price is above its moving average), adapted to daily horizons: the
trailing return is a weighted composite of the 5/10/20/60-session excess returns over SPY and the average is the
50-session one. ARCHITECTURE.md gives every formula.

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

# Why each row is or is not trending (column `selection`).
TRENDING = "trending"
NOT_TOP_N = "not_top_n"
BELOW_MA = "below_ma_50"
NO_SCORE = "insufficient_history"
BENCHMARK_HELD = "benchmark_held"  # SPY on a session where no sector passed: the portfolio holds the benchmark
BENCHMARK_ROLE = "benchmark"


@dataclass(frozen=True)
class TrendRule:
    """Top `top_n` sector ETFs by composite score, each only while above its 50-session moving average."""

    top_n: int = 3
    # Weights of the 5-, 10-, 20- and 60-session excess returns in the composite score.
    horizon_weights: tuple[float, float, float, float] = (0.1, 0.2, 0.3, 0.4)

    def __post_init__(self):
        if self.top_n < 1:
            raise ValueError("top_n must be at least 1")
        if len(self.horizon_weights) != len(HORIZONS) or any(w < 0 for w in self.horizon_weights):
            raise ValueError(f"horizon_weights needs {len(HORIZONS)} non-negative numbers")

    @property
    def name(self) -> str:
        weights = "/".join(f"{w:g}" for w in self.horizon_weights)
        return f"faber_rs_top{self.top_n}_ma{MA_WINDOW};w5/10/20/60={weights}"


def with_session_returns(frame: DataFrame, horizons, calendar_no: str = "session_no") -> DataFrame:
    """ret_h = adj_close / adj_close h sessions earlier - 1, null unless that row is exactly h sessions back
    (`calendar_no` numbers the benchmark's sessions, so a gap in a ticker's series gives null, not a longer return)."""
    by_ticker = Window.partitionBy("ticker").orderBy("trade_date")

    def ret(h: int):
        exact = F.lag(calendar_no, h).over(by_ticker) == F.col(calendar_no) - h
        return F.when(exact, F.col("adj_close") / F.lag("adj_close", h).over(by_ticker) - 1)

    # One projection for every horizon: a chain of withColumn calls is analysed once per call.
    return frame.withColumns({f"ret_{h}": ret(h) for h in horizons})


def with_volatility(frame: DataFrame, calendar_no: str = "session_no") -> DataFrame:
    """vol_20: sample standard deviation of the last 20 daily log returns × sqrt(252), null with fewer than 20."""
    by_ticker = Window.partitionBy("ticker").orderBy("trade_date")
    consecutive = F.lag(calendar_no, 1).over(by_ticker) == F.col(calendar_no) - 1
    frame = frame.withColumn(
        "log_ret", F.when(consecutive, F.log(F.col("adj_close") / F.lag("adj_close", 1).over(by_ticker)))
    )
    vol_window = by_ticker.rowsBetween(-(VOL_WINDOW - 1), 0)
    return frame.withColumn(
        "vol_20",
        F.when(F.count("log_ret").over(vol_window) == VOL_WINDOW,
               F.stddev_samp("log_ret").over(vol_window) * F.sqrt(F.lit(float(TRADING_DAYS_PER_YEAR)))),
    )


def session_numbers(benchmark_prices: DataFrame) -> DataFrame:
    """The benchmark's sessions numbered 1, 2, … in date order: the calendar every lag is counted on."""
    return benchmark_prices.select("trade_date").distinct().withColumn(
        "session_no", F.row_number().over(Window.orderBy("trade_date"))
    )


def trend_metrics(prices: DataFrame, start: dt.date, end: dt.date, rule: TrendRule = TrendRule()) -> DataFrame:
    """`prices`: ticker, trade_date, etf_role, adj_close, source (with LOOKBACK_SESSIONS of history before `start`).
    Returns one row per ETF and session in [start, end] with the analytics_03 columns."""
    by_ticker = Window.partitionBy("ticker").orderBy("trade_date")
    numbered = prices.join(session_numbers(prices.where(F.col("ticker") == BENCHMARK)), "trade_date")
    frame = with_volatility(with_session_returns(numbered, HORIZONS))
    ma_window = by_ticker.rowsBetween(-(MA_WINDOW - 1), 0)
    ma_span = F.col("session_no") - F.first("session_no").over(ma_window) == MA_WINDOW - 1
    frame = (
        frame.withColumn("ma_50", F.when((F.count("adj_close").over(ma_window) == MA_WINDOW) & ma_span,
                                         F.avg("adj_close").over(ma_window)))
        .withColumn("above_ma_50", F.when(F.col("ma_50").isNotNull(), F.col("adj_close") > F.col("ma_50")))
    )
    benchmark = frame.where(F.col("ticker") == BENCHMARK).select(
        "trade_date", *[F.col(f"ret_{h}").alias(f"bench_ret_{h}") for h in HORIZONS]
    )
    frame = frame.join(benchmark, "trade_date", "left")
    frame = frame.withColumns({f"excess_{h}": F.col(f"ret_{h}") - F.col(f"bench_ret_{h}") for h in HORIZONS})
    score = sum(F.col(f"excess_{h}") * w for h, w in zip(HORIZONS, rule.horizon_weights))
    frame = frame.withColumn("score", score)
    # Rank within the role (sectors among sectors); equal scores break by ticker, alphabetically first ranks higher.
    role_rank = Window.partitionBy("trade_date", "etf_role").orderBy(F.col("score").desc_nulls_last(), F.col("ticker"))
    is_sector = F.col("etf_role") == "sector"
    frame = frame.withColumn("score_rank", F.when(F.col("score").isNotNull(), F.row_number().over(role_rank)))
    frame = frame.withColumn(
        "is_trending",
        is_sector & F.coalesce((F.col("score_rank") <= rule.top_n) & F.col("above_ma_50"), F.lit(False)),
    )
    any_trending = F.max(F.col("is_trending").cast("int")).over(Window.partitionBy("trade_date")) == 1
    frame = frame.withColumn(
        "selection",
        F.when(F.col("is_trending"), F.lit(TRENDING))
        .when(is_sector & F.col("score").isNull(), F.lit(NO_SCORE))
        .when(is_sector & (F.col("score_rank") > rule.top_n), F.lit(NOT_TOP_N))
        .when(is_sector, F.lit(BELOW_MA))
        .when((F.col("ticker") == BENCHMARK) & ~any_trending, F.lit(BENCHMARK_HELD))
        .otherwise(F.lit(BENCHMARK_ROLE)),
    ).withColumn("rule", F.lit(rule.name))
    return frame.where(F.col("trade_date").between(F.lit(start), F.lit(end))).select(
        F.col("trade_date").alias("session_date"), "ticker", "etf_role", "adj_close",
        *[f"ret_{h}" for h in HORIZONS], *[f"excess_{h}" for h in HORIZONS],
        "vol_20", "ma_50", "above_ma_50", "score", F.col("score_rank").cast("int").alias("score_rank"),
        "is_trending", "selection", "rule", "source",
    )
