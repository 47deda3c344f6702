"""A universe other than the default, end to end on real PostgreSQL, Kafka broker and Spark: 25 holdings per ETF
from the synthetic source (the default is 10), and a list of four sector ETFs instead of the eleven."""

import datetime as dt

import pytest
from dagster import materialize

from assets import ALL_ASSETS
from resources import MarketDataResource

SESSION = dt.date(2026, 11, 25)
HOLDINGS_PER_ETF = 25

pytestmark = pytest.mark.integration


def test_a_night_collects_and_allocates_over_top_n_holdings_per_trending_etf(warehouse, resources):
    wide = {**resources, "market_data": MarketDataResource(source="synthetic", holdings_per_etf=HOLDINGS_PER_ETF)}
    result = materialize(ALL_ASSETS, resources=wide, partition_key=SESSION.isoformat())
    assert result.success

    trending = [row[0] for row in warehouse.query(
        "SELECT ticker FROM analytics_03_trending_etfs WHERE session_date = %s AND is_trending ORDER BY 1", (SESSION,))]
    assert trending, "the synthetic market should have a trending sector on this date"
    listed = dict(warehouse.query(
        "SELECT etf_ticker, count(*) FROM collected_04_etf_holdings WHERE as_of_date = %s GROUP BY 1", (SESSION,)))
    assert listed == {etf: HOLDINGS_PER_ETF for etf in trending}

    held = {row[0] for row in warehouse.query(
        "SELECT holding_ticker FROM collected_04_etf_holdings WHERE as_of_date = %s", (SESSION,))}
    priced = {row[0] for row in warehouse.query(
        "SELECT DISTINCT ticker FROM collected_06_daily_stock_history WHERE trade_date = %s", (SESSION,))}
    assert priced == held and any("-" in ticker for ticker in held)  # the made-up holdings beyond the tenth too
    allocated = {row[0] for row in warehouse.query(
        "SELECT DISTINCT ticker FROM analytics_05_portfolio_allocation WHERE session_date = %s AND method = %s",
        (SESSION, "score_inv_vol_capped"))}
    assert allocated <= held
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert all(checks.values()), [check for check, passed in checks.items() if not passed]


FOUR_SECTORS = ("XLE", "XLF", "XLK", "XLV")


def test_a_narrower_sector_list_is_the_universe_of_the_checks_and_of_the_sector_baseline(warehouse, resources):
    narrow = {**resources, "market_data": MarketDataResource(source="synthetic", sector_etfs=",".join(FOUR_SECTORS))}
    # Eight sessions: the portfolios of the first three reach their 5-session horizon, so analytics_08 has rows.
    result = materialize(ALL_ASSETS, resources=narrow, tags={
        "dagster/asset_partition_range_start": "2026-11-13", "dagster/asset_partition_range_end": "2026-11-25"})
    assert result.success
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("analytics_03_trending_etfs", "every_sector_ranked")]
    sectors = {row[0] for row in warehouse.query(
        "SELECT DISTINCT ticker FROM analytics_03_trending_etfs WHERE etf_role = 'sector'")}
    assert sectors == set(FOUR_SECTORS)

    baselines = warehouse.query(
        "SELECT session_date, evaluated_on, sector_etfs_return FROM analytics_08_portfolio_baselines")
    assert baselines
    for session, evaluated_on, sector_return in baselines:
        closes = dict(warehouse.query(
            "SELECT ticker, array_agg(adj_close ORDER BY trade_date) FROM collected_01_daily_etf_ohlc "
            "WHERE trade_date IN (%s, %s) AND etf_role = 'sector' GROUP BY ticker", (session, evaluated_on)))
        assert set(closes) == set(FOUR_SECTORS)
        expected = sum(exit_ / entry - 1 for entry, exit_ in closes.values()) / len(closes)
        assert sector_return == pytest.approx(expected, rel=1e-12, abs=1e-15)
