"""The data-quality checks the collection assets attach to every materialization, as SQL over what is in PostgreSQL
after the write: a check reads the table, not the rows the run meant to write."""

from __future__ import annotations

import datetime as dt

import psycopg

from trendfolio import calendar
from trendfolio.tables import ETF_HOLDINGS


def tickers_missing_sessions(
    conn: psycopg.Connection, table: str, tickers: list[str], start: dt.date, end: dt.date
) -> list[str]:
    """Tickers without a row for every session in [start, end]."""
    sessions = len(calendar.sessions_between(start, end))
    counts = dict(conn.execute(
        f"SELECT ticker, count(*) FROM {table} WHERE ticker = ANY(%s) AND trade_date BETWEEN %s AND %s GROUP BY ticker",
        (tickers, start, end),
    ).fetchall())
    return sorted(t for t in tickers if counts.get(t, 0) < sessions)


def tickers_without_rows(
    conn: psycopg.Connection, table: str, tickers: list[str], start: dt.date, end: dt.date
) -> list[str]:
    """Tickers without a single row in [start, end]."""
    present = {t for t, in conn.execute(
        f"SELECT DISTINCT ticker FROM {table} WHERE ticker = ANY(%s) AND trade_date BETWEEN %s AND %s",
        (tickers, start, end)).fetchall()}
    return sorted(set(tickers) - present)


def ohlc_violations(conn: psycopg.Connection, table: str, start: dt.date, end: dt.date) -> list[tuple]:
    """Rows in [start, end] whose prices contradict each other or are not positive (at most 20)."""
    return conn.execute(
        f"SELECT ticker, trade_date::text FROM {table} WHERE trade_date BETWEEN %s AND %s AND NOT ("
        "open > 0 AND close > 0 AND adj_close > 0 AND volume >= 0 AND low > 0 "
        "AND high >= greatest(open, close) AND low <= least(open, close)) ORDER BY 1, 2 LIMIT 20",
        (start, end),
    ).fetchall()


def latest_session_stored(conn: psycopg.Connection, table: str, tickers: list[str]) -> dt.date | None:
    """The newest trade date any of `tickers` has, for the freshness check."""
    return conn.execute(f"SELECT max(trade_date) FROM {table} WHERE ticker = ANY(%s)", (tickers,)).fetchone()[0]


def holdings_over_one(conn: psycopg.Connection, start: dt.date, end: dt.date) -> list[tuple]:
    """(ETF, as-of date, total) for every holdings list in [start, end] whose weights sum to more than 1."""
    return conn.execute(
        "SELECT etf_ticker, as_of_date::text, round(sum(weight)::numeric, 6)::float "
        f"FROM {ETF_HOLDINGS.name} "
        "WHERE as_of_date BETWEEN %s AND %s GROUP BY 1, 2 HAVING sum(weight) > 1 + 1e-9 ORDER BY 1, 2",
        (start, end),
    ).fetchall()
