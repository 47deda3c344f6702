"""The data-quality checks the collection assets attach to every materialization, as SQL over what is in PostgreSQL
after the write: a check reads the table, not the rows the run meant to write."""

from __future__ import annotations

import datetime as dt

import psycopg

from trendfolio.tables import ETF_HOLDINGS, PORTFOLIO_ALLOCATION, TRENDING_ETFS

def tickers_missing_sessions(conn: psycopg.Connection, table: str, wanted: list[tuple[str, dt.date]]) -> list[str]:
    """Tickers without a row for some (ticker, session) of `wanted`: what the run was expected to store (an ETF every
    session, a stock only the sessions a trending ETF holds it)."""
    if not wanted:
        return []
    tickers, days = zip(*wanted)
    return [ticker for (ticker,) in conn.execute(
        f"SELECT DISTINCT w.ticker FROM unnest(%s::text[], %s::date[]) AS w(ticker, day) WHERE NOT EXISTS "
        f"(SELECT 1 FROM {table} t WHERE t.ticker = w.ticker AND t.trade_date = w.day) ORDER BY 1",
        (list(tickers), list(days)),
    ).fetchall()]


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


# The analytics checks: what the trending and allocation rules promise (ARCHITECTURE.md, "Analytics rules").


def sectors_unranked(conn: psycopg.Connection, expected: list[tuple[dt.date, str]]) -> list[str]:
    """`session ticker` of every expected (session, sector ETF) without a row in analytics_03, or with a row but no
    rank although it has the history to be scored (at most 20)."""
    return [f"{day} {ticker}" for day, ticker in conn.execute(
        "SELECT e.day::text, e.ticker FROM unnest(%s::date[], %s::text[]) AS e(day, ticker) "
        f"LEFT JOIN {TRENDING_ETFS.name} a ON a.session_date = e.day AND a.ticker = e.ticker "
        "WHERE a.ticker IS NULL OR (a.score_rank IS NULL AND a.selection <> 'insufficient_history') "
        "ORDER BY 1, 2 LIMIT 20", ([day for day, _ in expected], [ticker for _, ticker in expected])).fetchall()]


def portfolios_without_rows(conn: psycopg.Connection, sessions: list[dt.date], horizons: list[int]) -> list[str]:
    """`session/horizon` of every portfolio analytics_05 has no row for (at most 20)."""
    return [f"{day}/{horizon}" for day, horizon in conn.execute(
        "SELECT s.day::text, h.horizon FROM unnest(%s::date[]) AS s(day) CROSS JOIN unnest(%s::int[]) AS h(horizon) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {PORTFOLIO_ALLOCATION.name} p "
        "WHERE p.session_date = s.day AND p.horizon = h.horizon) ORDER BY 1, 2 LIMIT 20",
        (sessions, horizons)).fetchall()]


def weights_not_summing_to_one(conn: psycopg.Connection, start: dt.date, end: dt.date,
                               tolerance: float = 1e-6) -> list[str]:
    """`session/horizon: sum` of every portfolio in [start, end] whose weights do not sum to 1 (at most 20)."""
    return [f"{day}/{horizon}: {total:.6f}" for day, horizon, total in conn.execute(
        f"SELECT session_date::text, horizon, sum(weight) FROM {PORTFOLIO_ALLOCATION.name} "
        "WHERE session_date BETWEEN %s AND %s GROUP BY 1, 2 HAVING abs(sum(weight) - 1) > %s ORDER BY 1, 2 LIMIT 20",
        (start, end, tolerance)).fetchall()]


def weights_over_stock_cap(conn: psycopg.Connection, start: dt.date, end: dt.date, method: str, cap: float,
                           tolerance: float = 1e-6) -> list[str]:
    """`session/horizon ticker: weight` of every stock of a `method` portfolio above the cap, which the rule relaxes
    to 1/n when n stocks cannot fill 100 % under it (at most 20)."""
    return [f"{day}/{horizon} {ticker}: {weight:.4f}" for day, horizon, ticker, weight in conn.execute(
        "SELECT session_date::text, horizon, ticker, weight FROM ("
        f"  SELECT *, count(*) OVER (PARTITION BY session_date, horizon) AS n FROM {PORTFOLIO_ALLOCATION.name}"
        "  WHERE session_date BETWEEN %s AND %s AND method = %s) p "
        "WHERE weight > greatest(%s, 1.0 / n) + %s ORDER BY 1, 2, 3 LIMIT 20",
        (start, end, method, cap, tolerance)).fetchall()]
