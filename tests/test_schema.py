"""The schema itself refuses rows that cannot be market data, whatever path they come by."""

import datetime as dt

import psycopg
import pytest

from trendfolio.migrations import migrate
from trendfolio.tables import BY_NAME, LOAD_TIME_COLUMNS, TABLES

pytestmark = pytest.mark.integration

GOOD_OHLC = dict(ticker="SPY", trade_date=dt.date(2026, 11, 25), etf_role="benchmark", open=10.0, high=11.0,
                 low=9.0, close=10.5, adj_close=10.5, volume=100, source="synthetic")


def insert(warehouse, table, row):
    columns = ", ".join(row)
    placeholders = ", ".join(["%s"] * len(row))
    with psycopg.connect(warehouse.database_url) as conn:
        conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", tuple(row.values()))


def test_a_valid_row_is_accepted_once(warehouse):
    insert(warehouse, "collected_01_daily_etf_ohlc", GOOD_OHLC)
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert(warehouse, "collected_01_daily_etf_ohlc", GOOD_OHLC)


@pytest.mark.parametrize(
    "change",
    [dict(open=0.0), dict(close=-1.0), dict(high=8.0), dict(low=10.8), dict(volume=-5), dict(source="made_up"),
     dict(ticker="not a ticker"), dict(etf_role="stock")],
    ids=lambda change: next(iter(change)),
)
def test_invalid_ohlc_rows_are_refused(warehouse, change):
    with pytest.raises(psycopg.errors.CheckViolation):
        insert(warehouse, "collected_01_daily_etf_ohlc", {**GOOD_OHLC, **change})


@pytest.mark.parametrize("weight", [0.0, 1.5, -0.1])
def test_holding_weight_must_be_a_fraction(warehouse, weight):
    with pytest.raises(psycopg.errors.CheckViolation):
        insert(warehouse, "collected_04_etf_holdings", dict(
            etf_ticker="XLK", as_of_date=dt.date(2026, 11, 25), holding_ticker="AAPL", weight=weight,
            source="synthetic"))


@pytest.mark.parametrize("horizon", [1, 15, 60])
def test_portfolio_horizon_is_5_10_or_20(warehouse, horizon):
    with pytest.raises(psycopg.errors.CheckViolation):
        insert(warehouse, "analytics_05_portfolio_allocation", dict(
            session_date=dt.date(2026, 11, 25), horizon=horizon, ticker="AAPL", weight=0.5, source_etfs="XLK",
            method="equal_weight", prices_as_of=dt.date(2026, 11, 25), source="synthetic"))


def test_migrations_apply_once(warehouse):
    assert migrate(warehouse.database_url) == []
    assert warehouse.scalar("SELECT count(*) FROM ops_schema_migrations") >= 1


def test_the_table_registry_describes_every_column_of_every_table(warehouse):
    """trendfolio/tables.py and the migrations in sql/ name the same columns in the same order (load timestamps
    aside), and every table the migrations create is in the registry."""
    for table in TABLES:
        columns = [row[0] for row in warehouse.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
            "ORDER BY ordinal_position", (table.name,))]
        assert [c for c in columns if c not in LOAD_TIME_COLUMNS] == list(table.columns), table.name
        assert set(table.key) <= set(table.columns) and table.date_column in table.columns, table.name
        assert all(column.doc for column in table.schema), table.name
    created = {row[0] for row in warehouse.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' AND table_name <> 'ops_schema_migrations'")}
    assert created == set(BY_NAME)
