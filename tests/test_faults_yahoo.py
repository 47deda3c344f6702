"""Yahoo misbehaving, through the recorded-response server (trendfolio.devtools.yahoo_recorded_server) and the real
yfinance: 429s that stop, 429s that never stop, and requests that time out. The night is 2022-03-14, inside the real
data the server answers with."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from dagster import materialize

from assets import ALL_ASSETS
from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
from fault_support import record_summary
from resources import MarketDataResource
from trendfolio.devtools.yahoo_recorded_server import CHART, RecordedYahoo, serve
from trendfolio.sources.replay import ReplaySource
from trendfolio.sources.yahoo import YahooSource
from trendfolio.universe import ALL_ETFS

pytestmark = pytest.mark.integration

NIGHT = dt.date(2022, 3, 14)
MAX_RETRIES = 3
BACKOFF_CAP_S = 0.2


class FastRetryYahoo(MarketDataResource):
    """yfinance against the local server, with backoffs short enough for a test (the retry logic is the real one)."""

    timeout_s: float = 10.0

    def client(self) -> YahooSource:
        return YahooSource(requests_per_second=1000, max_retries=MAX_RETRIES, backoff_base_s=0.05,
                           backoff_cap_s=BACKOFF_CAP_S, base_url=self.yahoo_base_url, timeout_s=self.timeout_s)


@pytest.fixture(scope="module")
def replay(shared_marketdata):
    return ReplaySource(shared_marketdata)


@pytest.fixture
def yahoo(shared_marketdata, replay, tmp_path):
    import yfinance as yf
    from yfinance.data import YfData

    yf.set_tz_cache_location(str(tmp_path / "yf-cache"))  # no time zone or cookie from an earlier test
    YfData.cache_get.cache_clear()  # nor a chart answered to an earlier test: yfinance keeps past windows in memory
    server = RecordedYahoo(shared_marketdata, replay=replay, holdings_as_of=NIGHT)
    with serve(server) as base:
        yield server, base


def failure_message(result, step: str) -> str:
    failures = [event for event in result.all_events
                if event.event_type_value == "STEP_FAILURE" and event.step_key == step]
    assert failures, f"{step} did not fail"
    error, messages = failures[0].event_specific_data.error, []
    while error is not None:  # Dagster's step error wraps the asset's own exception as its cause
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def test_429_then_recovery_backs_off_and_stores_the_real_rows(yahoo, resources, warehouse, replay):
    server, base = yahoo
    server.rate_limit_next = 6
    result = materialize([collected_01_daily_etf_ohlc], partition_key=NIGHT.isoformat(),
                         resources={**resources, "market_data": FastRetryYahoo(source="yfinance",
                                                                               yahoo_base_url=base)})
    assert result.success
    assert server.faults["429"] == 6
    assert server.counts[CHART] > len(ALL_ETFS)  # the refused tickers were asked again
    stored = {ticker: (open_, close, adj_close, volume) for ticker, open_, close, adj_close, volume in warehouse.query(
        "SELECT ticker, open, close, adj_close, volume FROM collected_01_daily_etf_ohlc WHERE trade_date = %s",
        (NIGHT,))}
    expected = replay.daily_ohlc(list(ALL_ETFS), NIGHT, NIGHT).set_index("ticker")
    assert sorted(stored) == sorted(ALL_ETFS)
    for ticker, values in stored.items():
        row = expected.loc[ticker]
        assert values == pytest.approx((row.open, row.close, row.adj_close, row.volume), rel=1e-9), ticker
    meta = result.asset_materializations_for_node("collected_01_daily_etf_ohlc")[0].metadata
    assert meta["tickers_missing"].value == []
    requests_first_run, refused, charts = sum(server.counts.values()), server.faults["429"], server.counts[CHART]

    # The same night again: everything it needs was fetched after the close by a completed run, so Yahoo is not asked.
    server.reset_counts()
    again = materialize([collected_01_daily_etf_ohlc], partition_key=NIGHT.isoformat(),
                        resources={**resources, "market_data": FastRetryYahoo(source="yfinance", yahoo_base_url=base)})
    assert again.success and sum(server.counts.values()) == 0, dict(server.counts)
    assert again.asset_materializations_for_node("collected_01_daily_etf_ohlc")[0].metadata[
        "already_collected"].value is True
    assert warehouse.scalar("SELECT count(*) FROM collected_01_daily_etf_ohlc WHERE trade_date = %s", (NIGHT,)) == 15
    record_summary("yahoo_429_then_recovery", {
        "fault": "Yahoo answers HTTP 429 to the first 6 data requests of a collected_01 run, then recovers",
        "trials": 1, "outcome": "succeeded after backoff", "http_429_served": refused, "chart_requests": charts,
        "requests_first_run": requests_first_run, "requests_rerun": 0, "rows_stored_for_night": len(stored),
        "rows_lost": 0, "duplicates": 0,
    })


def test_429_forever_fails_naming_the_tickers_and_no_analytics_runs(yahoo, resources, warehouse):
    server, base = yahoo
    server.rate_limit_forever = True
    began = time.monotonic()
    result = materialize(ALL_ASSETS, partition_key=NIGHT.isoformat(), raise_on_error=False,
                         resources={**resources, "market_data": FastRetryYahoo(source="yfinance",
                                                                               yahoo_base_url=base)})
    elapsed = time.monotonic() - began
    assert not result.success
    message = failure_message(result, "collected_01_daily_etf_ohlc")
    assert "YahooRateLimited" in message and all(f"'{ticker}'" in message for ticker in ALL_ETFS), message
    ran = {event.step_key for event in result.all_events if event.event_type_value == "STEP_START"}
    assert "analytics_03_trending_etfs" not in ran and "analytics_05_portfolio_allocation" not in ran, sorted(ran)
    for table, column in (("collected_01_daily_etf_ohlc", "trade_date"), ("analytics_03_trending_etfs", "session_date"),
                          ("analytics_05_portfolio_allocation", "session_date")):
        assert warehouse.scalar(f"SELECT count(*) FROM {table} WHERE {column} = %s", (NIGHT,)) == 0, table
    record_summary("yahoo_429_forever", {
        "fault": "Yahoo answers HTTP 429 to every data request during a daily_pipeline run",
        "trials": 1, "outcome": "collected_01 failed with YahooRateLimited naming the 15 ETFs; no analytics step "
                                "started; nothing stored for the night",
        "attempts": MAX_RETRIES + 1, "http_429_served": server.faults["429"], "seconds": round(elapsed, 1),
        "rows_lost": 0, "duplicates": 0,
    })


def test_timeouts_fail_within_a_bound_naming_the_tickers(yahoo, resources, warehouse):
    server, base = yahoo
    timeout_s = 0.5
    server.delay_s = 3 * timeout_s
    began = time.monotonic()
    result = materialize([collected_01_daily_etf_ohlc], partition_key=NIGHT.isoformat(), raise_on_error=False,
                         resources={**resources, "market_data": FastRetryYahoo(
                             source="yfinance", yahoo_base_url=base, timeout_s=timeout_s)})
    elapsed = time.monotonic() - began
    assert not result.success
    message = failure_message(result, "collected_01_daily_etf_ohlc")
    assert "YahooUnavailable" in message and "timed out" in message, message
    assert all(f"'{ticker}'" in message for ticker in ALL_ETFS), message
    # Each attempt asks every ticker once (one timeout each); the backoffs are capped. The slack covers the
    # handshake, the time-zone probes and the run's own start on a loaded machine.
    bound = (MAX_RETRIES + 1) * len(ALL_ETFS) * timeout_s * 2 + MAX_RETRIES * BACKOFF_CAP_S + 60
    assert elapsed < bound, (elapsed, bound)
    assert warehouse.scalar("SELECT count(*) FROM collected_01_daily_etf_ohlc") == 0
    record_summary("yahoo_timeouts", {
        "fault": f"every Yahoo data request answered only after {server.delay_s} s, with yfinance's timeout at "
                 f"{timeout_s} s",
        "trials": 1, "outcome": "collected_01 failed with YahooUnavailable naming the 15 ETFs",
        "attempts": MAX_RETRIES + 1, "delayed_requests": server.faults["delayed"], "seconds": round(elapsed, 1),
        "bound_seconds": round(bound, 1), "rows_lost": 0, "duplicates": 0,
    })
