"""Which stored close a fetch's first day is compared with (the 50 % move rule), on a real PostgreSQL: issue case 4,
a recent close only."""

import datetime as dt

import pandas as pd
import psycopg
import pytest

from trendfolio.collect import previous_closes

pytestmark = pytest.mark.integration

TABLE = "collected_06_daily_stock_history"


def test_case4_only_the_previous_sessions_close_of_a_new_first_day_is_a_reference(warehouse):
    rows = [("AAPL", dt.date(2022, 3, 9), 160.0), ("AAPL", dt.date(2022, 3, 10), 158.0),  # 03-11 is new: reference
            ("NVDA", dt.date(2022, 3, 10), 900.0), ("NVDA", dt.date(2022, 3, 11), 230.0),  # re-fetched over 03-11
            ("XOM", dt.date(2022, 1, 3), 60.0),  # stored long ago: a gap, no reference
            ("XLK", dt.date(2022, 3, 10), 150.0), ("XLK", dt.date(2022, 3, 14), 151.0)]  # 03-11 missing (refused)
    fetched = pd.DataFrame([(t, dt.date(2022, 3, 11)) for t in ("AAPL", "NVDA", "XOM", "XLK", "MSFT")]
                           + [("AAPL", dt.date(2022, 3, 14))], columns=["ticker", "trade_date"])
    with psycopg.connect(warehouse.database_url) as conn:
        for ticker, day, close in rows:
            conn.execute(f"INSERT INTO {TABLE} (ticker, trade_date, open, high, low, close, adj_close, volume, source)"
                         " VALUES (%s, %s, %s, %s, %s, %s, %s, 1, 'replay')",
                         (ticker, day, close, close, close, close, close))
        closes = previous_closes(conn, TABLE, fetched)
    # NVDA's window starts on a stored day: its download brings its own predecessors (a split would otherwise flag it).
    # XLK's first fetched day 03-11 is new and 03-10 is stored: a glitch on 03-11 would be judged against it.
    assert closes == {"AAPL": 158.0, "XLK": 150.0}
