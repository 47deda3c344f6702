"""What a collection run has to fetch: only the sessions still missing in PostgreSQL, plus a short trailing window that
is fetched again every night because adjusted closes are rewritten after dividends."""

from __future__ import annotations

import bisect
import datetime as dt

import pandas as pd
import psycopg

from trendfolio import calendar
from trendfolio.tables import BY_NAME

TRAILING_REFETCH_SESSIONS = 5


def price_fetch_start(
    conn: psycopg.Connection, table: str, tickers: list[str], start: dt.date, history_sessions: int
) -> dt.date:
    """The first session to ask the source for, so that every ticker has `history_sessions` before `start`."""
    needed_from = calendar.session_before(start, history_sessions)
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


def previous_closes(conn: psycopg.Connection, table: str, fetched: pd.DataFrame) -> dict[str, float]:
    """The close each ticker's first fetched day is compared with (the 50 % move rule): the stored close of the
    session just before that day, when the day itself is new to the table. Never an older close: after a gap (a range
    never run, a 2025 run over a table holding 2022) there is no reference and the first day is not judged, since
    a move over months is not a one-day glitch. A first day already stored is a re-fetch: the days after it are
    compared with it, from the same download and so adjusted alike (a stored close from before a split is not)."""
    if fetched.empty:
        return {}
    days = fetched[fetched["trade_date"].map(lambda d: type(d) is dt.date and calendar.is_session(d))
                   & fetched["ticker"].map(lambda t: isinstance(t, str))]
    first = days.groupby("ticker")["trade_date"].min()
    if first.empty:
        return {}
    previous = [calendar.session_before(day, 1) for day in first]
    rows = conn.execute(
        f"SELECT w.ticker, before.close FROM unnest(%s::text[], %s::date[], %s::date[]) AS w(ticker, first, previous) "
        f"JOIN {table} AS before ON before.ticker = w.ticker AND before.trade_date = w.previous "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE t.ticker = w.ticker AND t.trade_date = w.first)",
        (list(first.index), list(first), previous),
    ).fetchall()
    return dict(rows)


# Each trending ETF of a session (t) with the date of its latest holdings list on or before the session (latest.as_of,
# null when it has none): the point-in-time list analytics_05 allocates from, if it is recent enough.
_TRENDING_WITH_LATEST_LIST = (
    "FROM analytics_03_trending_etfs AS t "
    "CROSS JOIN LATERAL (SELECT max(as_of_date) AS as_of FROM collected_04_etf_holdings AS l "
    "                    WHERE l.etf_ticker = t.ticker AND l.as_of_date <= t.session_date) AS latest ")


def held_lists(conn: psycopg.Connection, first: dt.date, end: dt.date,
               max_age_days: int) -> list[tuple[dt.date, str, dt.date, str]]:
    """(session, trending ETF, date of its list, stock) for every session in [first, end] and every trending ETF whose
    latest holdings list with as_of_date on or before the session is no more than `max_age_days` older (the same rule
    as analytics_05's universe): a trending ETF without such a list has no row (`stale_lists` names it)."""
    return conn.execute(
        f"SELECT t.session_date, t.ticker, latest.as_of, h.holding_ticker {_TRENDING_WITH_LATEST_LIST}"
        "JOIN collected_04_etf_holdings AS h ON h.etf_ticker = t.ticker AND h.as_of_date = latest.as_of "
        "WHERE t.is_trending AND t.session_date BETWEEN %s AND %s AND latest.as_of >= t.session_date - %s "
        "ORDER BY 1, 2, 4",
        (first, end, max_age_days),
    ).fetchall()


def stale_lists(conn: psycopg.Connection, first: dt.date, end: dt.date,
                max_age_days: int) -> list[tuple[dt.date, str, dt.date | None]]:
    """(session, trending ETF, date of its latest list or None) for the trending ETFs of the sessions in [first, end]
    that `held_lists` leaves out: no list on or before the session, or one more than `max_age_days` older."""
    return conn.execute(
        f"SELECT t.session_date, t.ticker, latest.as_of {_TRENDING_WITH_LATEST_LIST}"
        "WHERE t.is_trending AND t.session_date BETWEEN %s AND %s "
        "AND (latest.as_of IS NULL OR latest.as_of < t.session_date - %s) ORDER BY 1, 2",
        (first, end, max_age_days),
    ).fetchall()


def held_stocks(conn: psycopg.Connection, first: dt.date, end: dt.date, max_age_days: int) -> list[tuple[dt.date, str]]:
    """(session, stock) for every session in [first, end] and every stock of the holdings list each trending ETF of
    that session is allocated from (`held_lists`), by stock and session."""
    return sorted({(session, stock) for session, _, _, stock in held_lists(conn, first, end, max_age_days)},
                  key=lambda pair: (pair[1], pair[0]))


def ranked_sessions(conn: psycopg.Connection, first: dt.date, last: dt.date) -> list[dt.date]:
    """The sessions in [first, last] some run of the pipeline has been through: analytics_03 ranks every session of
    every run, before any stock is collected for it."""
    return [day for day, in conn.execute(
        "SELECT DISTINCT session_date FROM analytics_03_trending_etfs WHERE session_date BETWEEN %s AND %s ORDER BY 1",
        (first, last)).fetchall()]


def held_price_windows(
    held: list[tuple[dt.date, str]], history_sessions: int, horizon_sessions: int, ran: list[dt.date]
) -> dict[str, list[tuple[dt.date, dt.date]]]:
    """Per stock, the dates whose prices are kept: for each session D it is held on, from `history_sessions` before D
    (its measures) to `horizon_sessions` after D (the end of the longest horizon of a portfolio built on D, so the
    portfolio can be evaluated), cut at the latest session of `ran` in that horizon; overlapping spans merged.
    `ran`: the sessions runs have been through (the running one's included, so every D is one of them). This is what
    the nightly runs of `ran` keep together (the night of E keeps the spans of the sessions held up to E, cut at E),
    whatever order they, or backfills over them, ran in: a range run after a later one extends its stocks' spans
    into the later range's sessions, as that range's run would have had it run second."""
    spans: dict[str, list[tuple[dt.date, dt.date]]] = {}
    if not held:
        return spans
    ran = sorted(ran)
    every = calendar.sessions_between(calendar.session_before(min(d for d, _ in held), history_sessions),
                                      ran[-1])
    position = {day: i for i, day in enumerate(every)}
    for session, stock in sorted(held, key=lambda pair: (pair[1], pair[0])):
        i = position[session]
        horizon_end = every[min(i + horizon_sessions, len(every) - 1)]
        span = (every[i - history_sessions], ran[bisect.bisect_right(ran, horizon_end) - 1])
        merged = spans.setdefault(stock, [])
        if merged and position[span[0]] <= position[merged[-1][1]] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], span[1]))
        else:
            merged.append(span)
    return spans


def stock_price_windows(
    conn: psycopg.Connection, sessions: list[dt.date], history_sessions: int, horizon_sessions: int, max_age_days: int
) -> tuple[dict[str, list[tuple[dt.date, dt.date]]], list[dt.date]]:
    """The spans of prices collected_06 keeps when running over `sessions` (`held_price_windows`), for the stocks held
    on them and on the `horizon_sessions` before them (their portfolios' horizons have not all elapsed), and the
    sessions runs have been through from the first of them on: the running ones and those a later range already ran
    within the horizon, which that range's run could not know this range's stocks would need."""
    first = calendar.session_before(sessions[0], horizon_sessions)
    held = held_stocks(conn, first, sessions[-1], max_age_days)
    ran = sorted(set(sessions).union(
        ranked_sessions(conn, first, calendar.session_after(sessions[-1], horizon_sessions))))
    return held_price_windows(held, history_sessions, horizon_sessions, ran), ran


def windows_end(windows: dict[str, list[tuple[dt.date, dt.date]]], end: dt.date) -> dt.date:
    """The last date any span reaches, or `end`: how far the fetch goes (never past the last session run)."""
    return max([end] + [last for spans in windows.values() for _, last in spans])


def in_windows(windows: dict[str, list[tuple[dt.date, dt.date]]], ticker: str, day: dt.date) -> bool:
    return any(first <= day <= last for first, last in windows.get(ticker, ()))


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
