"""The yfinance adapter offline: real yfinance 1.7 (its curl_cffi requests, cookie and crumb handshake, and JSON parsing)
talks to a local HTTP server that answers with the recorded Yahoo responses in
../shared/marketdata/gadicc_node-yahoo-finance2. Our rows must carry the numbers of those files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from trendfolio.devtools.yahoo_recorded_server import (
    NEW_YORK,
    QUOTE_SUMMARY,
    RECORDINGS,
    RecordedYahoo,
    serve,
)
from trendfolio.sources.yahoo import (
    RedirectedSession,
    Throttle,
    YahooRateLimited,
    YahooSource,
    all_nan_tickers,
    backoff_seconds,
)

@pytest.fixture
def recorded_yahoo(shared_marketdata):
    yahoo = RecordedYahoo(shared_marketdata)
    with serve(yahoo) as base:
        yield yahoo, base


@pytest.fixture
def yahoo(recorded_yahoo, tmp_path, monkeypatch):
    import yfinance as yf

    server, base = recorded_yahoo
    yf.set_tz_cache_location(str(tmp_path / "yf-cache"))  # no cookie or time zone from an earlier run
    pauses: list[float] = []
    source = YahooSource(requests_per_second=1000, max_retries=3, backoff_base_s=0.01, backoff_cap_s=0.05,
                         session=RedirectedSession(base), sleep=pauses.append, seed=1)
    return source, server, pauses


def recorded_rows(folder: Path, symbol: str) -> dict[dt.date, dict]:
    result = json.loads((folder / RECORDINGS[symbol]).read_text())["response"]["bodyJson"]["chart"]["result"][0]
    quote, adjclose = result["indicators"]["quote"][0], result["indicators"]["adjclose"][0]["adjclose"]
    rows = {}
    for i, ts in enumerate(result["timestamp"]):
        day = dt.datetime.fromtimestamp(ts, NEW_YORK).date()
        rows[day] = {"open": quote["open"][i], "high": quote["high"][i], "low": quote["low"][i],
                     "close": quote["close"][i], "adj_close": adjclose[i], "volume": quote["volume"][i]}
    return rows


def assert_rows_match(frame, symbol, expected):
    rows = frame[frame.ticker == symbol].set_index("trade_date")
    assert sorted(rows.index) == sorted(expected)
    for day, values in expected.items():
        for field, value in values.items():
            assert rows.loc[day, field] == pytest.approx(value, rel=1e-9), (symbol, day, field)


def test_one_download_gives_close_and_adjusted_close_per_ticker(yahoo, shared_marketdata):
    source, server, _ = yahoo
    folder = shared_marketdata / "gadicc_node-yahoo-finance2"
    frame = source.daily_ohlc(["AAPL", "QQQ"], dt.date(2020, 1, 2), dt.date(2020, 11, 6))
    assert_rows_match(frame, "AAPL", recorded_rows(folder, "AAPL"))
    assert_rows_match(frame, "QQQ", recorded_rows(folder, "QQQ"))
    aapl = frame[frame.ticker == "AAPL"]
    assert len(aapl) == 49
    assert (aapl.close != aapl.adj_close).all()  # auto_adjust=False keeps both
    assert source.last_missing == []


def test_dividends_show_in_adjusted_close_only(yahoo, shared_marketdata):
    source, _, _ = yahoo
    folder = shared_marketdata / "gadicc_node-yahoo-finance2"
    expected = recorded_rows(folder, "MSFT")
    frame = source.daily_ohlc(["MSFT"], dt.date(2021, 2, 1), dt.date(2022, 1, 31))
    assert len(frame) == 252
    assert_rows_match(frame, "MSFT", expected)
    # The adjustment factor steps up exactly on the recorded ex-dividend dates, and nowhere else.
    recorded = json.loads((folder / RECORDINGS["MSFT"]).read_text())["response"]["bodyJson"]["chart"]["result"][0]
    ex_dates = {dt.datetime.fromtimestamp(int(ts), NEW_YORK).date() for ts in recorded["events"]["dividends"]}
    assert len(ex_dates) == 4
    msft = frame.sort_values("trade_date")
    ratio = (msft.adj_close / msft.close).round(5).tolist()
    steps = {day for day, prev, now in zip(msft.trade_date.iloc[1:], ratio, ratio[1:]) if now != prev}
    assert steps == ex_dates


def test_the_nvda_split_is_in_the_prices_as_yahoo_recorded_them(yahoo, shared_marketdata):
    source, _, _ = yahoo
    folder = shared_marketdata / "gadicc_node-yahoo-finance2"
    frame = source.daily_ohlc(["NVDA"], dt.date(2021, 2, 1), dt.date(2022, 1, 31))
    assert_rows_match(frame, "NVDA", recorded_rows(folder, "NVDA"))
    nvda = frame.set_index("trade_date")
    before, after = nvda.loc[dt.date(2021, 7, 19)], nvda.loc[dt.date(2021, 7, 20)]
    assert abs(after.close / before.close - 1) < 0.1  # split-adjusted: no 4x jump across 2021-07-20


def test_only_the_asked_sessions_are_returned(yahoo, shared_marketdata):
    source, server, _ = yahoo
    frame = source.daily_ohlc(["MSFT"], dt.date(2022, 1, 24), dt.date(2022, 1, 28))
    assert sorted(frame.trade_date) == [dt.date(2022, 1, d) for d in (24, 25, 26, 27, 28)]


def test_a_failed_ticker_is_reported_missing(yahoo):
    source, _, _ = yahoo
    frame = source.daily_ohlc(["AAPL", "NOPE"], dt.date(2020, 8, 31), dt.date(2020, 11, 6))
    assert set(frame.ticker) == {"AAPL"}
    assert source.last_missing == ["NOPE"]


def test_rate_limits_are_retried_with_backoff_then_succeed(yahoo, shared_marketdata):
    source, server, pauses = yahoo
    server.rate_limit_next = 2  # yfinance tries twice (a second cookie strategy) before raising YFRateLimitError
    frame = source.daily_ohlc(["AAPL"], dt.date(2020, 9, 1), dt.date(2020, 11, 6))  # a window no test asked yet:
    assert len(frame) == 48  # yfinance caches answered requests
    assert len(pauses) == 1 and 0 <= pauses[0] <= 0.05  # one jittered backoff, within the cap


def test_rate_limits_beyond_the_cap_fail_naming_the_tickers(yahoo):
    source, server, _ = yahoo
    server.rate_limit_forever = True
    with pytest.raises(YahooRateLimited, match="AAPL") as error:
        source.daily_ohlc(["AAPL", "MSFT"], dt.date(2021, 3, 1), dt.date(2021, 3, 5))
    assert error.value.tickers == ["AAPL", "MSFT"]


def test_top_holdings_of_qqq_are_fractions(yahoo, shared_marketdata):
    source, _, _ = yahoo
    recorded = json.loads((shared_marketdata / "gadicc_node-yahoo-finance2" / QUOTE_SUMMARY["QQQ"]).read_text())
    top = recorded["response"]["bodyJson"]["quoteSummary"]["result"][0]["topHoldings"]["holdings"]
    holdings = source.etf_holdings("QQQ", dt.date(2025, 2, 21))
    assert list(holdings.holding_ticker) == [h["symbol"] for h in top]
    assert list(holdings.weight) == pytest.approx([h["holdingPercent"] for h in top])
    assert list(holdings.holding_name) == [h["holdingName"] for h in top]
    assert holdings.etf_ticker.eq("QQQ").all() and 0 < holdings.weight.sum() <= 1


# --- pure pieces ------------------------------------------------------------------------------------------------


def test_throttle_spaces_requests():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(2.0, clock=lambda: now[0], sleep=sleep)
    throttle.wait(1)
    throttle.wait(4)  # a 4-ticker download
    throttle.wait(1)
    assert slept == [0.5, 2.0]


def test_backoff_is_exponential_jittered_and_capped():
    import random

    rng = random.Random(3)
    draws = [backoff_seconds(attempt, 1.0, 10.0, rng) for attempt in range(8)]
    assert all(0 <= d <= min(10.0, 2 ** a) for a, d in enumerate(draws))
    assert len(set(draws)) == len(draws)


def test_all_nan_tickers():
    import numpy as np
    import pandas as pd

    columns = pd.MultiIndex.from_product([["AAPL", "BAD"], ["Open", "Close"]])
    data = pd.DataFrame([[1.0, 2.0, np.nan, np.nan]], columns=columns)
    assert all_nan_tickers(data, ["AAPL", "BAD", "ABSENT"]) == ["ABSENT", "BAD"]
    assert all_nan_tickers(pd.DataFrame(), ["AAPL"]) == ["AAPL"]


# --- through the asset ------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_the_etf_asset_on_recorded_yahoo_lands_qqq_and_lists_the_tickers_yahoo_failed_on(
    recorded_yahoo, warehouse, resources, tmp_path, shared_marketdata
):
    """QQQ is the only ETF with a recording (2020-01-02): the 14 others come back all-NaN, as a failed ticker does. QQQ
    is stored, and the night fails its blocking check naming the ETFs left without a row."""
    import yfinance as yf
    from dagster import materialize

    from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
    from resources import MarketDataResource
    from trendfolio.failures import run_failure
    from trendfolio.universe import ALL_ETFS

    _, base = recorded_yahoo
    yf.set_tz_cache_location(str(tmp_path / "yf-cache"))

    class RecordedYahooResource(MarketDataResource):
        def client(self):
            return YahooSource(requests_per_second=1000, session=RedirectedSession(base))

    result = materialize([collected_01_daily_etf_ohlc], partition_key="2020-01-02",
                         resources={**resources, "market_data": RecordedYahooResource(source="yfinance")},
                         raise_on_error=False)
    assert not result.success
    assert run_failure(result.all_events) == (
        "collected_01_daily_etf_ohlc: check every_ticker_has_a_row failed (ERROR): tickers_without_rows: DIA, IWM, SPY, "
        "XLB, XLC and 9 more; tickers: 15")
    stored = warehouse.query("SELECT ticker, trade_date, open, close, adj_close, volume, source "
                             "FROM collected_01_daily_etf_ohlc")
    assert len(stored) == 1
    ticker, day, open_, close, adj_close, volume, source = stored[0]
    assert (ticker, day, source) == ("QQQ", dt.date(2020, 1, 2), "yfinance")
    recorded = recorded_rows(shared_marketdata / "gadicc_node-yahoo-finance2", "QQQ")[day]
    assert (open_, close, adj_close, volume) == pytest.approx(
        (recorded["open"], recorded["close"], recorded["adj_close"], recorded["volume"]), rel=1e-9)
    meta = result.asset_materializations_for_node("collected_01_daily_etf_ohlc")[0].metadata
    assert meta["tickers_missing"].value == sorted(set(ALL_ETFS) - {"QQQ"})
    assert meta["source"].value == "yfinance"


def test_the_replay_backed_server_answers_any_universe_ticker_with_the_real_prices(shared_marketdata, tmp_path):
    """The server as benchmark 7 and the Yahoo fault tests use it: MSFT's recording ends 2022-01-31, so a window
    reaching 2022-03-14 comes from the replay data like the ETFs' (one chart request per ticker)."""
    import yfinance as yf
    from yfinance.data import YfData

    from trendfolio.devtools.yahoo_recorded_server import CHART, QUOTE_SUMMARY_KIND
    from trendfolio.sources.replay import ReplaySource

    night, tickers = dt.date(2022, 3, 14), ["MSFT", "SPY", "XLK"]
    replay = ReplaySource(shared_marketdata)
    server = RecordedYahoo(shared_marketdata, replay=replay, holdings_as_of=night)
    yf.set_tz_cache_location(str(tmp_path / "yf-cache"))
    # yfinance keeps responses in memory by Yahoo's URL, not the server's: an earlier test's "no time zone" for SPY
    # and XLK (a server without replay data) would answer here.
    YfData.cache_get.cache_clear()
    with serve(server) as base:
        source = YahooSource(requests_per_second=1000, base_url=base)
        frame = source.daily_ohlc(tickers, dt.date(2021, 12, 1), night)
        holdings = source.etf_holdings("XLK", night)
    expected = replay.daily_ohlc(tickers, dt.date(2021, 12, 1), night)
    got = frame.set_index(["ticker", "trade_date"]).sort_index()
    want = expected.set_index(["ticker", "trade_date"]).sort_index()
    assert list(got.index) == list(want.index) and (night in {day for _, day in got.index})
    for field in ("open", "high", "low", "close", "adj_close", "volume"):
        assert list(got[field]) == pytest.approx(list(want[field]), rel=1e-9), field
    snapshot = replay.etf_holdings("XLK", night)
    assert list(holdings.holding_ticker) == list(snapshot.holding_ticker)
    assert list(holdings.weight) == pytest.approx(list(snapshot.weight))
    assert server.counts[CHART] == len(tickers) and server.counts[QUOTE_SUMMARY_KIND] == 1
