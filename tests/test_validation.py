"""The row rules as plain calls: each bad row is refused with its rule, the good ones pass untouched."""

import datetime as dt

import pandas as pd
import pytest

from trendfolio.validation import validate_holdings, validate_ohlc

PARTITION = dt.date(2022, 3, 14)  # a Monday
FRIDAY = dt.date(2022, 3, 11)
THURSDAY = dt.date(2022, 3, 10)


def ohlc(ticker="SPY", day=FRIDAY, open_=100.0, high=101.0, low=99.0, close=100.5, volume=1000, adj=None):
    return {"ticker": ticker, "trade_date": day, "open": open_, "high": high, "low": low, "close": close,
            "adj_close": close if adj is None else adj, "volume": volume}


@pytest.mark.parametrize("row, rule", [
    (ohlc(close=float("nan")), "missing_value"),
    (ohlc(low=-1.0), "non_positive_price"),
    (ohlc(high=99.5), "high_below_open_close"),
    (ohlc(low=100.2), "low_above_open_close"),
    (ohlc(volume=-1), "bad_volume"),
    (ohlc(volume=1.5), "bad_volume"),
    (ohlc(day=dt.date(2022, 3, 12)), "not_a_session"),  # Saturday
    (ohlc(day=dt.date(2022, 2, 21)), "not_a_session"),  # Presidents' Day
    (ohlc(day=dt.date(2022, 3, 15)), "future_date"),
    (ohlc(ticker="spy"), "ticker_format"),
    (ohlc(ticker="ZZZZ"), "unknown_ticker"),
    (ohlc(day="2022-03-11"), "date_type"),
])
def test_each_bad_price_row_is_refused_with_its_rule(row, rule):
    checked = validate_ohlc(pd.DataFrame([row, ohlc(ticker="QQQ")]), PARTITION, universe=["SPY", "QQQ"])
    assert [(r.rule, r.record_key) for r in checked.rejected] == [(rule, f"{row['ticker']}|{row['trade_date']}")]
    assert list(checked.valid.ticker) == ["QQQ"]


def test_a_second_row_for_a_key_is_a_duplicate():
    checked = validate_ohlc(pd.DataFrame([ohlc(), ohlc(close=100.7)]), PARTITION)
    assert [r.rule for r in checked.rejected] == ["duplicate_key"]
    assert checked.valid.close.tolist() == [100.5]


def test_a_100x_glitch_is_held_for_review_and_the_next_day_compares_with_the_last_good_close():
    rows = [ohlc(day=dt.date(2022, 3, 9)), ohlc(day=THURSDAY, open_=10_000, high=10_100, low=9_900, close=10_050),
            ohlc(day=FRIDAY), ohlc(day=PARTITION, open_=101, high=102, low=100, close=101.5)]
    checked = validate_ohlc(pd.DataFrame(rows), PARTITION)
    assert [(r.rule, r.record_key) for r in checked.rejected] == [("suspicious_move", f"SPY|{THURSDAY}")]
    assert checked.valid.trade_date.tolist() == [dt.date(2022, 3, 9), FRIDAY, PARTITION]


def test_the_first_fetched_day_is_compared_with_the_stored_close():
    checked = validate_ohlc(pd.DataFrame([ohlc(open_=40, high=41, low=39, close=40)]), PARTITION,
                            previous_close={"SPY": 100.0})
    assert [r.rule for r in checked.rejected] == ["suspicious_move"]
    assert validate_ohlc(pd.DataFrame([ohlc()]), PARTITION, previous_close={"SPY": 99.0}).rejected == []


def holding(etf="XLK", ticker="AAPL", weight=0.2, as_of=PARTITION):
    return {"etf_ticker": etf, "holding_ticker": ticker, "holding_name": None, "weight": weight, "as_of_date": as_of}


def test_holdings_rules():
    rows = [holding(), holding(ticker="MSFT", weight=0.3), holding(ticker="n/a", weight=0.01),
            holding(ticker="BIG", weight=1.2), holding(ticker="ZERO", weight=0.0), holding(ticker="AAPL", weight=0.1),
            holding(etf="QQQ"), holding(etf="XLF", ticker="JPM", weight=0.7), holding(etf="XLF", ticker="BAC", weight=0.4)]
    checked = validate_holdings(pd.DataFrame(rows), requested=[("XLK", PARTITION), ("XLF", PARTITION),
                                                               ("XLE", PARTITION)])
    assert sorted((r.rule, r.record_key) for r in checked.rejected) == sorted([
        ("ticker_format", f"XLK|{PARTITION}|n/a"),
        ("weight_range", f"XLK|{PARTITION}|BIG"),
        ("weight_range", f"XLK|{PARTITION}|ZERO"),
        ("duplicate_key", f"XLK|{PARTITION}|AAPL"),
        ("unknown_ticker", f"QQQ|{PARTITION}|AAPL"),
        ("weights_sum_above_one", f"XLF|{PARTITION}|JPM"),
        ("weights_sum_above_one", f"XLF|{PARTITION}|BAC"),
        ("empty_holdings", f"XLE|{PARTITION}"),
    ])
    assert checked.valid[["etf_ticker", "holding_ticker", "weight"]].values.tolist() == [
        ["XLK", "AAPL", 0.2], ["XLK", "MSFT", 0.3]]


def test_weights_add_up_per_list_not_across_dates():
    rows = [holding(weight=0.6, as_of=FRIDAY), holding(weight=0.6, as_of=PARTITION)]
    checked = validate_holdings(pd.DataFrame(rows), requested=[("XLK", FRIDAY), ("XLK", PARTITION)])
    assert checked.rejected == [] and len(checked.valid) == 2
