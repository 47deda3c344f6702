"""The SQL behind the asset checks, on rows written straight into a real PostgreSQL warehouse: each check finds the
fault it is for and passes the rows that keep the rule."""

import datetime as dt

import psycopg
import pytest

from trendfolio import quality

pytestmark = pytest.mark.integration

D1, D2 = dt.date(2026, 11, 23), dt.date(2026, 11, 24)


def insert(warehouse, sql: str, rows: list[tuple]) -> None:
    with psycopg.connect(warehouse.database_url) as conn:
        conn.cursor().executemany(sql, rows)


def stock_rows(warehouse, rows: list[tuple[str, dt.date]]) -> None:
    insert(warehouse, "INSERT INTO collected_06_daily_stock_history (ticker, trade_date, open, high, low, close, "
                      "adj_close, volume, source) VALUES (%s, %s, 10, 11, 9, 10, 10, 100, 'synthetic')", rows)


def test_a_stock_is_expected_only_on_the_sessions_it_is_held(warehouse):
    # AAPL is held on D1 only, MSFT on D2 only: each has the row of its own session, none of the other one.
    stock_rows(warehouse, [("AAPL", D1), ("MSFT", D2)])
    wanted = [("AAPL", D1), ("MSFT", D2)]
    with psycopg.connect(warehouse.database_url) as conn:
        assert quality.tickers_missing_sessions(conn, "collected_06_daily_stock_history", wanted) == []
        assert quality.tickers_missing_sessions(
            conn, "collected_06_daily_stock_history", [*wanted, ("MSFT", D1), ("NVDA", D2)]) == ["MSFT", "NVDA"]


def allocation(warehouse, rows: list[tuple]) -> None:
    insert(warehouse, "INSERT INTO analytics_05_portfolio_allocation (session_date, horizon, ticker, weight, "
                      "source_etfs, method, prices_as_of, source) VALUES (%s, %s, %s, %s, 'XLK', %s, %s, 'synthetic')",
           [(day, horizon, ticker, weight, method, day) for day, horizon, ticker, weight, method in rows])


def test_allocation_checks_find_a_bad_sum_a_broken_cap_and_a_missing_portfolio(warehouse):
    capped = "score_inv_vol_capped"
    good = [(D1, h, f"S{i}", 0.1, capped) for h in (5, 10, 20) for i in range(10)]  # 10 × 10 %: at the cap
    few = [(D2, 5, "A", 0.5, capped), (D2, 5, "B", 0.5, capped)]  # 2 stocks: the cap relaxes to 1/2
    bad = [(D2, 10, "A", 0.6, capped), (D2, 10, "B", 0.3, capped), (D2, 10, "C", 0.05, capped)]  # sums to 0.95
    allocation(warehouse, good + few + bad)
    with psycopg.connect(warehouse.database_url) as conn:
        assert quality.weights_not_summing_to_one(conn, D1, D2) == [f"{D2}/10: 0.950000"]
        assert quality.weights_over_stock_cap(conn, D1, D2, capped, 0.10) == [f"{D2}/10 A: 0.6000"]
        assert quality.portfolios_without_rows(conn, [D1, D2], [5, 10, 20]) == [f"{D2}/20"]
        assert quality.weights_not_summing_to_one(conn, D1, D1) == []
        assert quality.weights_over_stock_cap(conn, D1, D1, capped, 0.10) == []


def test_every_sector_ranked_finds_a_missing_and_an_unranked_sector(warehouse):
    rows = [(D1, "XLK", 1, "trending"), (D1, "XLF", None, "insufficient_history"), (D1, "XLE", None, "not_top_n")]
    insert(warehouse, "INSERT INTO analytics_03_trending_etfs (session_date, ticker, etf_role, adj_close, score_rank, "
                      "is_trending, rule, source, selection) VALUES (%s, %s, 'sector', 10, %s, false, 'r', 'synthetic', %s)",
           rows)
    with psycopg.connect(warehouse.database_url) as conn:
        assert quality.sectors_unranked(conn, [(D1, t) for t in ("XLK", "XLF", "XLE", "XLV")]) == [f"{D1} XLE", f"{D1} XLV"]
