"""Hand-computed small cases for the pure Spark functions of stages 3 and 5 (no Dagster, no database)."""

import datetime as dt
import math

import pytest

from trendfolio.analytics.allocation import AllocationRule, allocate, water_fill
from trendfolio.analytics.trending import TrendRule, trend_metrics

pytestmark = pytest.mark.integration

DAYS = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(61)]  # 61 rows: the 60-session return's minimum
D = DAYS[-1]


def etf_frame(spark, closes: dict[str, list[float]]):
    rows = [(ticker, day, "benchmark" if ticker == "SPY" else "sector", price, "synthetic")
            for ticker, series in closes.items() for day, price in zip(DAYS, series)]
    return spark.createDataFrame(rows, "ticker string, trade_date date, etf_role string, adj_close double, source string")


def flat_then(last: float) -> list[float]:
    """100 for 60 sessions, then `last` on D: every h-session return on D is last/100 - 1."""
    return [100.0] * 60 + [float(last)]


def trend_on_d(spark, closes, rule=TrendRule()):
    rows = trend_metrics(etf_frame(spark, closes), D, D, rule).collect()
    return {row.ticker: row for row in rows}


def test_three_sectors_tie_break_rank_and_ma_filter(spark):
    # SPY flat: excess = own return. XLF and XLK both +10 % (a tie), XLE -5 %.
    rows = trend_on_d(spark, {"SPY": flat_then(100), "XLK": flat_then(110), "XLF": flat_then(110),
                              "XLE": flat_then(95)}, TrendRule(top_n=1))
    ten = 110 / 100 - 1
    for h in (5, 10, 20, 60):
        assert rows["XLK"][f"ret_{h}"] == ten and rows["XLK"][f"excess_{h}"] == ten
        assert rows["XLE"][f"excess_{h}"] == 95 / 100 - 1
    assert rows["XLK"].score == pytest.approx(0.1 * ten + 0.2 * ten + 0.3 * ten + 0.4 * ten, rel=1e-15)
    assert rows["XLK"].ma_50 == pytest.approx((49 * 100 + 110) / 50, rel=1e-15)  # 100.2
    assert rows["XLE"].ma_50 == pytest.approx((49 * 100 + 95) / 50, rel=1e-15)  # 99.9 > 95: below
    # Equal scores: the alphabetically first ticker ranks first.
    assert (rows["XLF"].score_rank, rows["XLK"].score_rank, rows["XLE"].score_rank) == (1, 2, 3)
    assert [t for t, r in rows.items() if r.is_trending] == ["XLF"]
    assert (rows["XLF"].selection, rows["XLK"].selection, rows["XLE"].selection) == (
        "trending", "not_top_n", "not_top_n")
    assert rows["SPY"].selection == "benchmark" and rows["SPY"].vol_20 == 0.0
    assert rows["SPY"].score_rank == 1 and not rows["SPY"].is_trending
    assert rows["XLK"].rule == "faber_rs_top1_ma50;w5/10/20/60=0.1/0.2/0.3/0.4"

    # With N = 3 the top three pass except XLE, which is below its moving average.
    rows = trend_on_d(spark, {"SPY": flat_then(100), "XLK": flat_then(110), "XLF": flat_then(110),
                              "XLE": flat_then(95)})
    assert sorted(t for t, r in rows.items() if r.is_trending) == ["XLF", "XLK"]
    assert rows["XLE"].selection == "below_ma_50" and rows["XLE"].above_ma_50 is False


def test_no_sector_passes_the_filter_so_the_benchmark_is_held(spark):
    rows = trend_on_d(spark, {"SPY": flat_then(100), "XLK": flat_then(99), "XLF": flat_then(98),
                              "XLE": flat_then(97)})
    assert not any(r.is_trending for r in rows.values())
    assert rows["SPY"].selection == "benchmark_held"
    assert {rows[t].selection for t in ("XLK", "XLF", "XLE")} == {"below_ma_50"}
    # The allocation then holds SPY alone, for every horizon.
    trending = spark.createDataFrame(
        [(D, t, False, 0.0, 0.0, 0.0, 0.1, "synthetic") for t in ("SPY", "XLK")],
        "session_date date, ticker string, is_trending boolean, excess_5 double, excess_10 double, "
        "excess_20 double, vol_20 double, source string")
    empty_holdings = spark.createDataFrame([], "etf_ticker string, as_of_date date, holding_ticker string")
    empty_prices = spark.createDataFrame([], "ticker string, trade_date date, adj_close double")
    rows = allocate(trending, empty_holdings, empty_prices, empty_prices, D, D).collect()
    assert sorted((r.horizon, r.ticker, r.weight, r.method) for r in rows) == [
        (h, "SPY", 1.0, "fallback_benchmark") for h in (5, 10, 20)]


def test_water_fill_caps_the_largest_and_redistributes(spark):
    from pyspark.sql import functions as F

    frame = spark.createDataFrame([("g", t, v) for t, v in (("A", 4.0), ("B", 3.0), ("C", 2.0), ("D", 1.0),
                                                           ("E", 1.0))], "g string, t string, v double")
    filled = {r.t: r.filled for r in water_fill(frame, ["g"], "t", "v", F.lit(0.3)).collect()}
    # Normalized 4/11, 3/11 > 0.3 → both capped; 0.4 left over C, D, E in proportion 2:1:1.
    assert filled == pytest.approx({"A": 0.3, "B": 0.3, "C": 0.2, "D": 0.1, "E": 0.1}, rel=1e-14)
    # No binding cap: plain normalization.
    filled = {r.t: r.filled for r in water_fill(frame, ["g"], "t", "v", F.lit(1.0)).collect()}
    assert filled == pytest.approx({"A": 4 / 11, "B": 3 / 11, "C": 2 / 11, "D": 1 / 11, "E": 1 / 11}, rel=1e-14)


STOCK_DAYS = DAYS[-21:]  # 21 prices: 20 log returns for the volatility


def zigzag(base: float, drift: float, swing: float) -> list[float]:
    """log price = drift·t + swing·(t mod 2): daily log returns alternate drift ± swing (sample sd swing·√(20/19))."""
    return [base * math.exp(drift * t + swing * (t % 2)) for t in range(21)]


def test_allocation_shared_stock_etf_cap_stock_cap_and_fallback(spark):
    # XLK holds AAA, BBB, SHR; XLF holds SHR, CCC, DDD (SHR: held by both, counts once). EEE is held but has no
    # prices: it drops out. SPY is flat, so every excess return is the stock's own return.
    stocks = {"AAA": (0.010, 0.02), "BBB": (0.004, 0.01), "SHR": (0.006, 0.02), "CCC": (0.003, 0.01),
              "DDD": (0.002, 0.005)}
    closes = {t: zigzag(50.0, *p) for t, p in stocks.items()}
    prices = spark.createDataFrame([(t, day, p) for t, series in closes.items() for day, p in zip(STOCK_DAYS, series)],
                                   "ticker string, trade_date date, adj_close double")
    benchmark = spark.createDataFrame([("SPY", day, 100.0) for day in STOCK_DAYS],
                                      "ticker string, trade_date date, adj_close double")
    holdings = spark.createDataFrame(
        [("XLK", D - dt.timedelta(days=3), t) for t in ("AAA", "BBB", "SHR", "EEE")]
        + [("XLF", D - dt.timedelta(days=1), t) for t in ("SHR", "CCC", "DDD")]
        + [("XLF", D + dt.timedelta(days=1), "ZZZ")],  # fetched after D: invisible on D
        "etf_ticker string, as_of_date date, holding_ticker string")
    trending = spark.createDataFrame(
        [(D, "XLK", True, 0.01, 0.02, 0.03, 0.2, "synthetic"), (D, "XLF", True, 0.02, 0.01, 0.04, 0.1, "synthetic"),
         (D, "SPY", False, 0.0, 0.0, 0.0, 0.1, "synthetic")],
        "session_date date, ticker string, is_trending boolean, excess_5 double, excess_10 double, "
        "excess_20 double, vol_20 double, source string")

    def expected(h: int, max_stock: float, max_etf: float) -> dict[str, float]:
        """The ARCHITECTURE.md scheme by hand: raw = score/vol, ETF shares capped, then stock weights capped."""
        vol = {t: s * math.sqrt(20 / 19) * math.sqrt(252) for t, (_, s) in stocks.items()}
        ret = {t: closes[t][-1] / closes[t][-1 - h] - 1 for t in stocks}
        raw = {t: ret[t] / vol[t] / vol[t] for t in stocks}
        parts = {"XLK": {"AAA": raw["AAA"], "BBB": raw["BBB"], "SHR": raw["SHR"] / 2},
                 "XLF": {"SHR": raw["SHR"] / 2, "CCC": raw["CCC"], "DDD": raw["DDD"]}}
        totals = {e: sum(p.values()) for e, p in parts.items()}
        share = {e: v / sum(totals.values()) for e, v in totals.items()}
        # The ETF cap binds (XLF would get about 60 %): it is cut to the cap, XLK gets the rest.
        assert share["XLF"] > max_etf
        share = {"XLF": max_etf, "XLK": 1 - max_etf}
        pre = {t: sum(share[e] * p[t] / totals[e] for e, p in parts.items() if t in p) for t in stocks}
        weights, capped = dict(pre), set()
        while True:  # cap-and-redistribute
            free = {t: pre[t] for t in stocks if t not in capped}
            budget = 1 - max_stock * len(capped)
            weights = {t: max_stock if t in capped else pre[t] * budget / sum(free.values()) for t in stocks}
            over = {t for t in free if weights[t] > max_stock}
            if not over:
                return weights
            capped |= over

    rule = AllocationRule(max_stock_weight=0.3, max_etf_weight=0.55, min_eligible=5)
    rows = allocate(trending, holdings, prices, benchmark, D, D, rule).collect()
    by = {(r.horizon, r.ticker): r for r in rows}
    assert {t for (_, t) in by} == set(stocks)  # EEE (no prices) and ZZZ (fetched after D) are out
    for h in (5, 10, 20):
        want = expected(h, 0.3, 0.55)
        got = {t: by[(h, t)].weight for t in stocks}
        assert got == pytest.approx(want, rel=1e-12), h
        assert sum(got.values()) == pytest.approx(1, abs=1e-12)
        assert max(got.values()) <= 0.3 + 1e-15
    assert by[(10, "SHR")].source_etfs == "XLF,XLK" and by[(10, "AAA")].source_etfs == "XLK"
    assert by[(10, "SHR")].holdings_as_of == D - dt.timedelta(days=1)  # the later of its two lists
    assert by[(10, "AAA")].method == "score_inv_vol_capped" and by[(10, "AAA")].prices_as_of == D
    # DDD's 10-session return is exp(0.02) - 1 (an even lag cancels the swing); its weight binds the 30 % cap.
    assert by[(10, "DDD")].score == pytest.approx((math.exp(0.02) - 1) / (0.005 * math.sqrt(20 / 19 * 252)), rel=1e-12)
    assert by[(10, "DDD")].weight == pytest.approx(0.3, rel=1e-15)

    # A sixth eligible stock is required: the trending ETFs themselves, equally weighted, with their own score.
    rows = allocate(trending, holdings, prices, benchmark, D, D, AllocationRule(min_eligible=6)).collect()
    assert sorted((r.horizon, r.ticker, r.weight, r.method) for r in rows) == [
        (h, t, 0.5, "fallback_trending_etfs") for h in (5, 10, 20) for t in ("XLF", "XLK")]
    xlf_20 = next(r for r in rows if r.ticker == "XLF" and r.horizon == 20)
    assert xlf_20.score == pytest.approx(0.04 / 0.1, rel=1e-15) and xlf_20.source_etfs == "XLF"
