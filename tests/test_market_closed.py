"""A date without an NYSE session (here Presidents' Day 2022, which the partitions exclude, invoked directly as a
calendar change or a closure would make it happen) gives no rows and a clear "market closed" result, not a failure:
nothing is fetched, produced or written."""

import pytest
from dagster import build_asset_context

from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
from assets.collected_04_etf_holdings import collected_04_etf_holdings
from assets.collected_06_daily_stock_history import collected_06_daily_stock_history
from resources import MarketDataResource

HOLIDAY = "2022-02-21"


@pytest.mark.parametrize("asset", [collected_01_daily_etf_ohlc, collected_04_etf_holdings,
                                   collected_06_daily_stock_history])
@pytest.mark.integration
def test_a_non_session_date_is_market_closed(asset, warehouse, resources):
    result = asset(
        context=build_asset_context(partition_key=HOLIDAY),
        market_data=MarketDataResource(source="synthetic"),
        kafka=resources["kafka"],
        postgres=resources["postgres"],
    )
    assert result.metadata["market_closed"] is True
    assert result.metadata["rows_written"] == 0
    assert "no NYSE session" in result.metadata["reason"]
    assert {c.check_name for c in result.check_results} == {spec.name for spec in asset.check_specs}
    assert all(c.passed for c in result.check_results)
    for table in ("collected_01_daily_etf_ohlc", "collected_04_etf_holdings", "collected_06_daily_stock_history",
                  "ops_dead_letters"):
        assert warehouse.scalar(f"SELECT count(*) FROM {table}") == 0, table
