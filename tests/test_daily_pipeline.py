"""The nightly job end to end on real PostgreSQL, Kafka broker and Spark, with the synthetic source."""

import datetime as dt

import pytest
from dagster import materialize

from assets import ALL_ASSETS
from trendfolio.tables import PIPELINE_TABLES, PORTFOLIO_BASELINES, PORTFOLIO_PERFORMANCE

SESSION = dt.date(2026, 11, 25)
TABLES_BY_DATE_COLUMN = {table.name: table.date_column for table in PIPELINE_TABLES}
# Its rows start once a horizon (5 sessions) has elapsed after the first allocation: empty after a run or two.
FILLED_AFTER_A_HORIZON = {PORTFOLIO_PERFORMANCE.name, PORTFOLIO_BASELINES.name}

pytestmark = pytest.mark.integration


def run_pipeline(resources, session=SESSION):
    result = materialize(ALL_ASSETS, resources=resources, partition_key=session.isoformat())
    assert result.success
    return result


def snapshot(warehouse):
    """Every table's full content, minus the load timestamps, in a stable order."""
    tables = {}
    for table in TABLES_BY_DATE_COLUMN:
        columns = [row[0] for row in warehouse.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND column_name NOT IN ('collected_at', 'computed_at') ORDER BY ordinal_position", (table,))]
        tables[table] = warehouse.query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1, 2, 3")
    return tables


def test_one_session_fills_the_tables(warehouse, resources):
    result = run_pipeline(resources)

    etfs = warehouse.query(
        "SELECT ticker, etf_role, source, open, high, low, close FROM collected_01_daily_etf_ohlc "
        "WHERE trade_date = %s", (SESSION,))
    assert len(etfs) == 15
    assert {row[2] for row in etfs} == {"synthetic"}
    assert all(row[4] >= max(row[3], row[6]) and row[5] <= min(row[3], row[6]) for row in etfs)

    trending = warehouse.query(
        "SELECT ticker, etf_role, excess_20, is_trending, score_rank, above_ma_50 FROM analytics_03_trending_etfs "
        "WHERE session_date = %s", (SESSION,))
    assert len(trending) == 15
    spy = next(row for row in trending if row[0] == "SPY")
    assert spy[2] == pytest.approx(0.0, abs=1e-12)  # SPY's excess over itself
    trending_etfs = sorted(row[0] for row in trending if row[3])
    # The default rule: the top 3 sectors by composite score, each only while above its 50-session average.
    assert trending_etfs == sorted(row[0] for row in trending if row[1] == "sector" and row[4] <= 3 and row[5])
    assert trending_etfs, "the synthetic market should have a leading sector on this date"

    held_by = warehouse.query(
        "SELECT DISTINCT etf_ticker FROM collected_04_etf_holdings WHERE as_of_date = %s", (SESSION,))
    assert sorted(row[0] for row in held_by) == trending_etfs

    stocks = warehouse.scalar(
        "SELECT count(DISTINCT ticker) FROM collected_06_daily_stock_history WHERE trade_date = %s", (SESSION,))
    holdings = warehouse.scalar(
        "SELECT count(DISTINCT holding_ticker) FROM collected_04_etf_holdings WHERE as_of_date = %s", (SESSION,))
    assert stocks == holdings > 0

    held = {row[0] for row in warehouse.query(
        "SELECT holding_ticker FROM collected_04_etf_holdings WHERE as_of_date = %s", (SESSION,))}
    for horizon, total, tickers, methods in warehouse.query(
        "SELECT horizon, sum(weight), array_agg(ticker), array_agg(DISTINCT method) "
        "FROM analytics_05_portfolio_allocation WHERE session_date = %s GROUP BY horizon ORDER BY horizon",
        (SESSION,)):
        assert total == pytest.approx(1.0, abs=1e-9)
        # Either the eligible holdings (positive score) or, too few of them, the trending ETFs themselves.
        assert set(tickers) <= held if methods == ["score_inv_vol_capped"] else sorted(tickers) == trending_etfs
    assert warehouse.scalar(
        "SELECT count(DISTINCT horizon) FROM analytics_05_portfolio_allocation WHERE session_date = %s",
        (SESSION,)) == 3

    # Every asset check ran and passed, the analytics' among them.
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert {("analytics_03_trending_etfs", "every_sector_ranked"),
            ("analytics_05_portfolio_allocation", "weights_sum_to_one"),
            ("analytics_05_portfolio_allocation", "stock_cap_holds"),
            ("analytics_05_portfolio_allocation", "no_portfolio_without_rows")} <= set(checks)
    assert all(checks.values()), [check for check, passed in checks.items() if not passed]

    ohlc = result.asset_materializations_for_node("collected_01_daily_etf_ohlc")[0].metadata
    assert ohlc["rows_written"].value >= 15
    assert ohlc["kafka_topic"].value.endswith("collected_01_daily_etf_ohlc")


def test_second_run_of_the_same_session_changes_nothing(warehouse, resources):
    run_pipeline(resources)
    first = snapshot(warehouse)
    run_pipeline(resources)
    second = snapshot(warehouse)
    for table in TABLES_BY_DATE_COLUMN:
        assert first[table] or table in FILLED_AFTER_A_HORIZON, f"{table} is empty"
        assert second[table] == first[table], f"{table} changed on a re-run"
