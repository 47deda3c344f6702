"""What a collection run has to fetch: only the sessions still missing in PostgreSQL, plus a short trailing window that
is fetched again every night because adjusted closes are rewritten after dividends."""

from __future__ import annotations

import datetime as dt

import psycopg

from trendfolio import calendar

TRAILING_REFETCH_SESSIONS = 5


def price_fetch_start(
    conn: psycopg.Connection, table: str, tickers: list[str], start: dt.date, history_sessions: int
) -> dt.date:
    """The first session to ask the source for, so that every ticker has `history_sessions` before `start`."""
    needed_from = calendar.previous_sessions(start, history_sessions + 1)[0]
    rows = conn.execute(
        f"SELECT ticker, min(trade_date), max(trade_date) FROM {table} "
        "WHERE ticker = ANY(%s) AND trade_date >= %s GROUP BY ticker",
        (tickers, needed_from),
    ).fetchall()
    stored = {ticker: (first, last) for ticker, first, last in rows}
    if set(stored) != set(tickers) or any(first > needed_from for first, _ in stored.values()):
        return needed_from
    oldest_last = min(last for _, last in stored.values())
    refetch_from = calendar.previous_sessions(oldest_last, TRAILING_REFETCH_SESSIONS)[0]
    return max(needed_from, min(refetch_from, start))


def previous_closes(conn: psycopg.Connection, table: str, tickers: list[str], before: dt.date) -> dict[str, float]:
    """The stored close the first fetched day of a ticker is compared with (the 50 % move rule), for the tickers that
    have nothing stored from `before` on. A ticker with stored days in the fetch window is re-fetched over them, so
    its new days have predecessors from the same download, adjusted alike: comparing with a close stored before a
    split would flag every later day."""
    rows = conn.execute(
        f"SELECT DISTINCT ON (ticker) ticker, close FROM {table} AS stored WHERE ticker = ANY(%s) AND trade_date < %s "
        f"AND NOT EXISTS (SELECT 1 FROM {table} AS later WHERE later.ticker = stored.ticker AND later.trade_date >= %s) "
        "ORDER BY ticker, trade_date DESC",
        (tickers, before, before),
    ).fetchall()
    return dict(rows)

def held_price_windows(
    held: list[tuple[dt.date, str]], history_sessions: int
) -> dict[str, tuple[dt.date, dt.date]]:
    """Per stock, from the (session, stock) pairs it is held on: the dates whose prices the nightly runs of those
    sessions would store, i.e. from `history_sessions` before the first session it is held to the last one. A backfill
    keeps only these, so a range run leaves the same rows as one run per session."""
    first: dict[str, dt.date] = {}
    last: dict[str, dt.date] = {}
    for session, stock in held:
        first[stock] = min(first.get(stock, session), session)
        last[stock] = max(last.get(stock, session), session)
    return {stock: (calendar.previous_sessions(first[stock], history_sessions + 1)[0], last[stock]) for stock in first}
