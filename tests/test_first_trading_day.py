"""An ETF is expected from its first trading day (trendfolio.universe.FIRST_SESSIONS): a session before XLRE and XLC
existed is complete with the 13 ETFs that traded, every check passes, and the trend rule ranks the nine sectors that
existed. The sources agree: the replay's real prices and the synthetic source start on those days."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import materialize

from assets.analytics_03_trending_etfs import analytics_03_trending_etfs
from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
from resources import MarketDataResource
from trendfolio.failures import run_failure
from trendfolio.sources.synthetic import SyntheticSource
from trendfolio.universe import ALL_ETFS, FIRST_SESSIONS, SECTOR_ETFS, listed_on

BEFORE_XLRE = dt.date(2015, 3, 2)


def test_an_etf_is_listed_from_its_first_trading_day_and_an_unknown_ticker_always():
    assert not listed_on("XLC", dt.date(2018, 6, 18)) and listed_on("XLC", dt.date(2018, 6, 19))
    assert not listed_on("XLRE", BEFORE_XLRE) and listed_on("XLRE", dt.date(2015, 10, 8))
    assert listed_on("SPY", dt.date(1998, 12, 22)) and listed_on("XBI", dt.date(1998, 12, 22))
    assert [etf for etf in ALL_ETFS if not listed_on(etf, BEFORE_XLRE)] == ["XLRE", "XLC"]


def test_the_synthetic_source_has_no_price_before_an_etfs_first_trading_day():
    prices = SyntheticSource().daily_ohlc(["XLC", "XLK"], dt.date(2018, 6, 1), dt.date(2018, 6, 29))
    first = prices.groupby("ticker")["trade_date"].min()
    assert first["XLC"] == FIRST_SESSIONS["XLC"] and first["XLK"] == dt.date(2018, 6, 1)


@pytest.mark.integration
def test_a_session_before_xlre_and_xlc_existed_is_complete_without_them(resources, warehouse, shared_marketdata):
    replay = MarketDataResource(source="replay", replay_dir=str(shared_marketdata / "phainia_notification"))
    result = materialize([collected_01_daily_etf_ohlc, analytics_03_trending_etfs],
                         partition_key=BEFORE_XLRE.isoformat(), resources={**resources, "market_data": replay},
                         raise_on_error=False)
    assert result.success, run_failure(result.all_events)
    checks = {check.check_name: check for check in result.get_asset_check_evaluations()}
    assert checks["every_ticker_has_a_row"].passed and checks["every_sector_ranked"].passed
    assert checks["every_ticker_has_a_row"].metadata["tickers"].value == 13
    stored = {ticker for (ticker,) in warehouse.query(
        "SELECT ticker FROM collected_01_daily_etf_ohlc WHERE trade_date = %s", (BEFORE_XLRE,))}
    assert stored == set(ALL_ETFS) - {"XLRE", "XLC"}
    ranked = {ticker for (ticker,) in warehouse.query(
        "SELECT ticker FROM analytics_03_trending_etfs WHERE session_date = %s AND etf_role = 'sector' "
        "AND score_rank IS NOT NULL", (BEFORE_XLRE,))}
    assert ranked == set(SECTOR_ETFS) - {"XLRE", "XLC"}
