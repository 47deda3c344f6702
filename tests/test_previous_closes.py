"""Which stored close a fetch's first day is compared with (the 50 % move rule), on a real PostgreSQL."""

import datetime as dt

import psycopg
import pytest

from trendfolio.collect import previous_closes

pytestmark = pytest.mark.integration

TABLE = "collected_06_daily_stock_history"


def test_only_tickers_without_stored_days_in_the_window_use_the_stored_close(warehouse):
    rows = [("AAPL", dt.date(2022, 3, 9), 160.0), ("AAPL", dt.date(2022, 3, 10), 158.0),  # behind: a gap to fill
            ("NVDA", dt.date(2022, 3, 9), 900.0), ("NVDA", dt.date(2022, 3, 11), 230.0)]  # re-fetched over 03-11
    with psycopg.connect(warehouse.database_url) as conn:
        for ticker, day, close in rows:
            conn.execute(f"INSERT INTO {TABLE} (ticker, trade_date, open, high, low, close, adj_close, volume, source)"
                         " VALUES (%s, %s, %s, %s, %s, %s, %s, 1, 'replay')",
                         (ticker, day, close, close, close, close, close))
        closes = previous_closes(conn, TABLE, ["AAPL", "NVDA", "MSFT"], dt.date(2022, 3, 11))
    # NVDA's window starts on a stored day: its download brings its own predecessors (a split would otherwise flag it).
    assert closes == {"AAPL": 158.0}
