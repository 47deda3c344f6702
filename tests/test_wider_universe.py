"""A night on a universe wider than the default, end to end on real PostgreSQL, Kafka broker and Spark: 25 holdings
per ETF from the synthetic source (the default is 10)."""

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
