"""validate_ohlc's vectorized pre-check must give exactly the answers of the per-row rules: the same rows kept, the
same rejections (key, rule, reason, payload) in the same order, whatever mix of good and bad rows comes in."""

import datetime as dt
import json

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from trendfolio.validation import Rejection, _payload, ohlc_row_problem, validate_ohlc

PARTITION = dt.date(2026, 11, 25)
SESSIONS = [dt.date(2026, 11, 20), dt.date(2026, 11, 24), dt.date(2026, 11, 25)]


def per_row_reference(frame: pd.DataFrame, partition_date: dt.date):
    """The rules one row at a time, as validate_ohlc applied them before the pre-check existed."""
    rejected, keep, seen = [], [], set()
    for position, row in enumerate(frame.to_dict("records")):
        problem = ohlc_row_problem(row, partition_date)
        if problem is None and (row["ticker"], row["trade_date"]) in seen:
            problem = ("duplicate_key", f"a second row for {row['ticker']} on {row['trade_date']}")
        if problem:
            rejected.append(Rejection(f"{row.get('ticker')}|{row.get('trade_date')}", *problem, _payload(row)))
            continue
        seen.add((row["ticker"], row["trade_date"]))
        keep.append(position)
    return frame.iloc[keep].reset_index(drop=True), rejected


tickers = st.sampled_from(["SPY", "XLK", "BRK.B", "spy", "", "TOO-LONG-TICKER", None])
dates = st.sampled_from([*SESSIONS, dt.date(2026, 11, 26), dt.date(2026, 11, 22), dt.date(2026, 11, 27), None])
prices = st.one_of(st.floats(min_value=-5, max_value=200), st.sampled_from([0.0, np.inf, np.nan, 100.0]))
rows = st.lists(st.tuples(tickers, dates, prices, prices, prices, prices, st.integers(-3, 10**9)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_same_verdicts_as_the_per_row_rules(records):
    frame = pd.DataFrame(records, columns=["ticker", "trade_date", "open", "high", "low", "close", "volume"])
    frame["adj_close"] = frame["close"]
    expected_valid, expected_rejected = per_row_reference(frame, PARTITION)
    checked = validate_ohlc(frame, PARTITION)
    assert checked.rejected == expected_rejected
    if not expected_valid.empty:
        expected_valid = expected_valid.assign(volume=expected_valid["volume"].astype("int64"))
    pd.testing.assert_frame_equal(checked.valid, expected_valid)


def test_clean_rows_all_pass_and_a_repeated_key_is_refused_once():
    frame = pd.DataFrame({
        "ticker": ["SPY", "SPY", "XLK", "SPY"], "trade_date": [SESSIONS[0], SESSIONS[1], SESSIONS[1], SESSIONS[1]],
        "open": [10.0, 11.0, 20.0, 11.0], "high": [12.0, 12.0, 21.0, 12.0], "low": [9.0, 10.0, 19.0, 10.0],
        "close": [11.0, 11.5, 20.5, 11.5], "adj_close": [11.0, 11.5, 20.5, 11.5], "volume": [100, 200, 300, 200],
    })
    checked = validate_ohlc(frame, PARTITION)
    assert len(checked.valid) == 3
    assert [(r.record_key, r.rule) for r in checked.rejected] == [("SPY|2026-11-24", "duplicate_key")]
    assert json.loads(checked.rejected[0].payload)["volume"] == 200


def test_an_empty_frame_gives_nothing():
    assert validate_ohlc(pd.DataFrame(), PARTITION).valid.empty
