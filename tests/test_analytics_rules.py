"""Hand-computed small cases for the pure Spark functions of stages 3 and 5 (no Dagster, no database)."""

import datetime as dt
import math

import numpy as np
import pytest

import analytics_reference as reference
from trendfolio.analytics.allocation import AllocationRule, allocate, capped_weights, water_fill
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


def test_water_fill_caps_the_largest_and_redistributes():
    values = np.array([4.0, 3.0, 2.0, 1.0, 1.0])
    # Normalized 4/11, 3/11 > 0.3 → both capped; 0.4 left over C, D, E in proportion 2:1:1.
    assert water_fill(values, 0.3) == pytest.approx([0.3, 0.3, 0.2, 0.1, 0.1], rel=1e-14)
    # No binding cap: plain normalization.
    assert water_fill(values, 1.0) == pytest.approx(values / 11, rel=1e-14)


def etf_shares(weights, etfs) -> dict[str, float]:
    shares: dict[str, float] = {}
    for weight, held in zip(weights, etfs):
        for etf in held:
            shares[etf] = shares.get(etf, 0.0) + weight / len(held)
    return shares


def test_both_caps_hold_exactly_when_one_etf_dominates():
    # The synthetic market's case: one ETF's stocks have most of the raw weight (XLRE reached 81 % against 50 %).
    raw = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    etfs = [["XLRE"]] * 5 + [["XLU"]] * 5 + [["XLE"]] * 4
    weights, note = capped_weights(raw, etfs, 0.10, 0.50)
    assert note is None and weights.sum() == pytest.approx(1, abs=1e-12)
    assert weights.max() <= 0.10 + 1e-12
    shares = etf_shares(weights, etfs)
    assert shares["XLRE"] == pytest.approx(0.5, abs=1e-12) and max(shares.values()) <= 0.5 + 1e-12
    # XLRE's five stocks all sit at the 10 % cap; the other ETFs' stocks keep their raw proportions.
    assert weights[:5] == pytest.approx([0.1] * 5, abs=1e-12)
    assert weights[5:] / raw[5:] == pytest.approx([weights[5] / raw[5]] * 9, rel=1e-12)
    reference_weights, reference_note = reference.both_caps(dict(zip("ABCDEFGHIJKLMN", raw)),
                                                            dict(zip("ABCDEFGHIJKLMN", etfs)), 0.10, 0.50)
    assert list(reference_weights.values()) == pytest.approx(weights, abs=1e-12) and reference_note is None


def test_infeasible_caps_relax_in_the_documented_order_and_say_so():
    # 12 stocks, 8 of them XLE's: at 10 % per stock the other ETF holds at most 40 %, so XLE must hold 60 %.
    raw = np.linspace(1, 2, 12)
    etfs = [["XLE"]] * 8 + [["XLK"]] * 4
    weights, note = capped_weights(raw, etfs, 0.10, 0.50)
    assert note == "etf cap 0.5 -> 0.6 (the stocks cannot fill 100 % under it)"
    assert etf_shares(weights, etfs) == pytest.approx({"XLE": 0.6, "XLK": 0.4}, abs=1e-12)
    assert weights.max() <= 0.1 + 1e-12 and weights.sum() == pytest.approx(1, abs=1e-12)
    # Four stocks: 10 % is infeasible, 1/4 each; one ETF alone: its cap is 100 %.
    weights, note = capped_weights(np.array([4.0, 3.0, 2.0, 1.0]), [["XLK"]] * 4, 0.10, 0.50)
    assert note == "stock cap 0.1 -> 1/4; etf cap 0.5 -> 1/1" and weights == pytest.approx([0.25] * 4, abs=1e-15)


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

    vol = {t: s * math.sqrt(20 / 19) * math.sqrt(252) for t, (_, s) in stocks.items()}
    held_by = {"AAA": ["XLK"], "BBB": ["XLK"], "SHR": ["XLF", "XLK"], "CCC": ["XLF"], "DDD": ["XLF"]}

    def raw(h: int) -> dict[str, float]:
        return {t: (closes[t][-1] / closes[t][-1 - h] - 1) / vol[t] / vol[t] for t in stocks}

    rule = AllocationRule(max_stock_weight=0.35, max_etf_weight=0.5, min_eligible=5)
    rows = allocate(trending, holdings, prices, benchmark, D, D, rule).collect()
    by = {(r.horizon, r.ticker): r for r in rows}
    assert {t for (_, t) in by} == set(stocks)  # EEE (no prices) and ZZZ (fetched after D) are out
    for h in (5, 10, 20):
        got = {t: by[(h, t)].weight for t in stocks}
        assert sum(got.values()) == pytest.approx(1, abs=1e-12)
        assert max(got.values()) <= 0.35 + 1e-12
        # XLF would get about 60 % by raw weight: it sits exactly on its 50 % cap (SHR counts half to each ETF).
        shares = etf_shares([got[t] for t in stocks], [held_by[t] for t in stocks])
        assert shares["XLF"] == pytest.approx(0.5, abs=1e-12) and shares["XLK"] == pytest.approx(0.5, abs=1e-12)
        want, note = reference.both_caps(raw(h), held_by, 0.35, 0.5)
        assert got == pytest.approx(want, abs=1e-12), h
        assert note is None and by[(h, "AAA")].constraint_note is None
    assert by[(10, "SHR")].source_etfs == "XLF,XLK" and by[(10, "AAA")].source_etfs == "XLK"
    assert by[(10, "SHR")].holdings_as_of == D - dt.timedelta(days=1)  # the later of its two lists
    assert by[(10, "AAA")].method == "score_inv_vol_capped" and by[(10, "AAA")].prices_as_of == D
    # DDD's 10-session return is exp(0.02) - 1 (an even lag cancels the swing); on h = 5 its weight binds the 35 % cap.
    assert by[(10, "DDD")].score == pytest.approx((math.exp(0.02) - 1) / (0.005 * math.sqrt(20 / 19 * 252)), rel=1e-12)
    assert by[(5, "DDD")].weight == pytest.approx(0.35, rel=1e-15)

    # A sixth eligible stock is required: the trending ETFs themselves, equally weighted, with their own score.
    rows = allocate(trending, holdings, prices, benchmark, D, D, AllocationRule(min_eligible=6)).collect()
    assert sorted((r.horizon, r.ticker, r.weight, r.method) for r in rows) == [
        (h, t, 0.5, "fallback_trending_etfs") for h in (5, 10, 20) for t in ("XLF", "XLK")]
    xlf_20 = next(r for r in rows if r.ticker == "XLF" and r.horizon == 20)
    assert xlf_20.score == pytest.approx(0.04 / 0.1, rel=1e-15) and xlf_20.source_etfs == "XLF"


def test_no_etf_and_no_stock_above_its_cap_on_synthetic_data(spark):
    """The synthetic market around 2024-04-30, where XLRE once took 81 % of an h5 portfolio against its 50 % cap."""
    from trendfolio import calendar
    from trendfolio.analytics.trending import LOOKBACK_SESSIONS as ETF_LOOKBACK
    from trendfolio.sources.synthetic import SECTOR_HOLDINGS, SyntheticSource
    from trendfolio.universe import ALL_ETFS, etf_role

    sessions = calendar.sessions_between(dt.date(2024, 4, 15), dt.date(2024, 5, 10))
    first = calendar.previous_sessions(sessions[0], ETF_LOOKBACK + 1)[0]
    source = SyntheticSource()
    etfs = source.daily_ohlc(list(ALL_ETFS), first, sessions[-1]).assign(source="synthetic")
    etfs["etf_role"] = etfs["ticker"].map(etf_role)
    stocks = source.daily_ohlc(sorted({s for held in SECTOR_HOLDINGS.values() for s in held}), first, sessions[-1])
    holdings = [(etf, sessions[0], stock) for etf, held in SECTOR_HOLDINGS.items() for stock in held]
    price_schema = "ticker string, trade_date date, adj_close double"
    trending = trend_metrics(spark.createDataFrame(
        etfs[["ticker", "trade_date", "etf_role", "adj_close", "source"]],
        "ticker string, trade_date date, etf_role string, adj_close double, source string"), sessions[0], sessions[-1])
    rows = allocate(
        trending, spark.createDataFrame(holdings, "etf_ticker string, as_of_date date, holding_ticker string"),
        spark.createDataFrame(stocks[["ticker", "trade_date", "adj_close"]], price_schema),
        spark.createDataFrame(etfs.loc[etfs.ticker == "SPY", ["ticker", "trade_date", "adj_close"]], price_schema),
        sessions[0], sessions[-1]).collect()
    portfolios: dict = {}
    for row in rows:
        portfolios.setdefault((row.session_date, row.horizon), []).append(row)
    weighted = {key: held for key, held in portfolios.items() if held[0].method == "score_inv_vol_capped"}
    assert len(weighted) >= 10, "the synthetic market should have stock portfolios in these weeks"
    feasible = 0
    for key, held in weighted.items():
        weights = [row.weight for row in held]
        assert sum(weights) == pytest.approx(1, abs=1e-9), key
        if held[0].constraint_note is None:
            feasible += 1
            assert max(weights) <= 0.10 + 1e-9, key
            assert max(etf_shares(weights, [row.source_etfs.split(",") for row in held]).values()) <= 0.5 + 1e-9, key
        else:  # relaxed: the note says to what, and the relaxed caps hold
            assert "cap" in held[0].constraint_note
    assert feasible >= len(weighted) // 2
