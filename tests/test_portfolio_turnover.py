"""The bounded turnover function (sql/017) against sql/016's view as it was, on a database with history and gaps:
over any range it returns exactly the rows the old view returned for that range, and the view, now defined through
the function, still returns every row the old one did."""

import datetime as dt

import psycopg
import pytest

from bench.common import copy_frame
from bench.pipeline import history_frames
from trendfolio import calendar
from trendfolio.migrations import SQL_DIR
from trendfolio.tables import PORTFOLIO_TURNOVER_BETWEEN, PORTFOLIO_TURNOVER_VIEW

FIRST, LAST = dt.date(2026, 6, 1), dt.date(2026, 11, 24)
SESSIONS = calendar.sessions_between(FIRST, LAST)
OLD_VIEW = "turnover_as_in_016"
COLUMNS = "session_date, horizon, previous_session, turnover, entered, left_count"


@pytest.fixture(scope="module")
def history(module_warehouse):
    """Six months of the bench's history (prices, equal-weight portfolios that change with the trending ETFs), with
    gaps: sessions without any portfolio, one horizon missing on a session, a session missing from SPY's calendar;
    and sql/016's view, as it was, under another name."""
    url = module_warehouse.database_url
    frames = history_frames(FIRST, LAST)
    copy_frame(url, "collected_01_daily_etf_ohlc", frames["collected_01_daily_etf_ohlc"])
    copy_frame(url, "analytics_05_portfolio_allocation", frames["analytics_05_portfolio_allocation"])
    old_view = (SQL_DIR / "016_portfolio_turnover_view.sql").read_text().split("GRANT")[0]
    with psycopg.connect(url) as conn:
        conn.execute(old_view.replace(PORTFOLIO_TURNOVER_VIEW, OLD_VIEW))
        conn.execute("DELETE FROM analytics_05_portfolio_allocation WHERE session_date = ANY(%s)",
                     (SESSIONS[40:43] + [SESSIONS[90]],))
        conn.execute("DELETE FROM analytics_05_portfolio_allocation WHERE session_date = %s AND horizon = 10",
                     (SESSIONS[60],))
        conn.execute("DELETE FROM collected_01_daily_etf_ohlc WHERE ticker = 'SPY' AND trade_date = %s",
                     (SESSIONS[70],))
    return url


def rows(url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def old_view(url: str, first: dt.date, last: dt.date) -> list[tuple]:
    return rows(url, f"SELECT {COLUMNS} FROM {OLD_VIEW} WHERE session_date BETWEEN %s AND %s ORDER BY 1, 2",
                (first, last))


def function(url: str, first: dt.date, last: dt.date) -> list[tuple]:
    return rows(url, f"SELECT {COLUMNS} FROM {PORTFOLIO_TURNOVER_BETWEEN}(%s, %s) ORDER BY 1, 2", (first, last))


@pytest.mark.parametrize("first, last", [
    (SESSIONS[0], SESSIONS[-1]),  # the whole history: the first portfolio has no previous one
    (SESSIONS[30], SESSIONS[50]),  # across the sessions without portfolios
    (SESSIONS[43], SESSIONS[43]),  # the first portfolio after them: no previous portfolio
    (SESSIONS[44], SESSIONS[44]),  # one session, its previous one outside the range
    (SESSIONS[61], SESSIONS[75]),  # starts after the missing horizon, spans the session missing from SPY's calendar
    (SESSIONS[71], SESSIONS[71]),  # its previous SPY session is two sessions back
    (SESSIONS[60], SESSIONS[60]),
    (FIRST - dt.timedelta(days=400), SESSIONS[5]),  # starts before the history
    (dt.date(2026, 8, 1), dt.date(2026, 8, 2)),  # a weekend: nothing
])
def test_the_function_over_a_range_equals_the_old_view_filtered(history, first, last):
    assert function(history, first, last) == old_view(history, first, last)


def test_the_history_has_what_the_comparison_needs(history):
    every = old_view(history, FIRST, LAST)
    assert {h for _, h, *_ in every} == {5, 10, 20}
    assert sum(previous is None for _, _, previous, *_ in every) >= 3 * 2 + 1  # history start, after the gaps
    assert sum(turnover is not None and turnover > 0 for *_, turnover, _, _ in every) > 100
    assert not [row for row in every if row[0] == SESSIONS[70]]  # not an SPY session: no turnover
    assert [row[2] for row in every if row[0] == SESSIONS[71]] == [SESSIONS[69]] * 3


def test_the_view_defined_through_the_function_returns_every_row_the_old_one_did(history):
    assert rows(history, f"SELECT {COLUMNS} FROM {PORTFOLIO_TURNOVER_VIEW} ORDER BY 1, 2") == \
        rows(history, f"SELECT {COLUMNS} FROM {OLD_VIEW} ORDER BY 1, 2")
