"""What a collection run has to fetch: only the sessions still missing in PostgreSQL, plus a short trailing window that
is fetched again every night because adjusted closes are rewritten after dividends."""

from __future__ import annotations

import datetime as dt

import psycopg

from trendfolio import calendar
from trendfolio.tables import BY_NAME

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


def session_close(session: dt.date) -> dt.datetime:
    return calendar.nyse().session_close(session).to_pydatetime()


def _unsettled(conn: psycopg.Connection, table: str, wanted: list[tuple[str, dt.date]]) -> list[tuple[str, dt.date]]:
    """The (ticker, session) pairs of `wanted` without a completed fetch after the session's close whose stored row
    (if it stored one) is still there."""
    key, day = BY_NAME[table].ticker_column, BY_NAME[table].date_column
    pairs = sorted(set(wanted))
    rows = conn.execute(
        "SELECT w.key, w.day FROM unnest(%s::text[], %s::date[], %s::timestamptz[]) AS w(key, day, closed_at) "
        "WHERE NOT EXISTS (SELECT 1 FROM ops_collection_fetches AS f WHERE f.table_name = %s AND f.ticker = w.key "
        "                  AND f.session_date = w.day AND f.fetched_at >= w.closed_at "
        f"                 AND (NOT f.stored OR EXISTS (SELECT 1 FROM {table} AS t "
        f"                                              WHERE t.{key} = w.key AND t.{day} = w.day))) ORDER BY 1, 2",
        ([k for k, _ in pairs], [d for _, d in pairs], [session_close(d) for _, d in pairs], table),
    ).fetchall()
    return [(k, d) for k, d in rows]


def already_collected(conn: psycopg.Connection, table: str, wanted: list[tuple[str, dt.date]]) -> bool:
    """True when a re-run has nothing to ask the source for: every (ticker, session) of `wanted` was fetched after the
    session's close by a run whose ingest completed (that run fetched the trailing re-fetch window up to the session in
    the same download), and the row it stored, if any, is still there. A night that ran once, and its re-runs, cost
    the source one set of requests, not one per run. A run that failed half-way recorded nothing: its re-run fetches."""
    return bool(wanted) and not _unsettled(conn, table, wanted)


class NothingCollected(RuntimeError):
    """A collection run stored no row at all for a session it had tickers to collect for: the source did not answer
    (or answered nothing usable), and a run that wrote nothing must not pass for one that worked."""


def require_rows(conn: psycopg.Connection, table: str, wanted: list[tuple[str, dt.date]], source: str) -> None:
    """Raise `NothingCollected` naming the sessions of `wanted` for which none of their tickers has a stored row."""
    key, day = BY_NAME[table].ticker_column, BY_NAME[table].date_column
    pairs = sorted(set(wanted))
    empty = conn.execute(
        "SELECT w.day FROM unnest(%s::text[], %s::date[]) AS w(key, day) GROUP BY w.day "
        f"HAVING NOT bool_or(EXISTS (SELECT 1 FROM {table} AS t WHERE t.{key} = w.key AND t.{day} = w.day)) "
        "ORDER BY 1",
        ([k for k, _ in pairs], [d for _, d in pairs]),
    ).fetchall()
    if empty:
        days = [str(d) for d, in empty]
        tickers = sorted({k for k, d in pairs if str(d) in days})
        raise NothingCollected(
            f"{table}: source {source!r} gave no usable row for session(s) {', '.join(days[:10])}"
            f"{' …' if len(days) > 10 else ''} (tickers asked: {', '.join(tickers[:20])}"
            f"{' …' if len(tickers) > 20 else ''}); the partition is not materialized")


def record_fetches(conn: psycopg.Connection, table: str, wanted: list[tuple[str, dt.date]], source: str) -> None:
    """After a completed ingest: every pair of `wanted` was fetched now, with whether a row for it is stored."""
    key, day = BY_NAME[table].ticker_column, BY_NAME[table].date_column
    pairs = sorted(set(wanted))
    conn.execute(
        "INSERT INTO ops_collection_fetches (table_name, ticker, session_date, source, stored) "
        f"SELECT %s, w.key, w.day, %s, EXISTS (SELECT 1 FROM {table} AS t WHERE t.{key} = w.key AND t.{day} = w.day) "
        "FROM unnest(%s::text[], %s::date[]) AS w(key, day) "
        "ON CONFLICT (table_name, ticker, session_date) DO UPDATE "
        "SET source = excluded.source, stored = excluded.stored, fetched_at = now()",
        (table, source, [k for k, _ in pairs], [d for _, d in pairs]),
    )
