"""The SQL behind each endpoint. Every value reaches PostgreSQL as a parameter; table and column names come only from
the constants below and are quoted with psycopg.sql.Identifier."""

from __future__ import annotations

import datetime as dt

import psycopg
from psycopg import sql

from api.database import Database
from trendfolio import tables
from trendfolio.tables import LOAD_TIME_COLUMNS

TRENDING_TABLE = tables.TRENDING_ETFS.name
PORTFOLIO_TABLE = tables.PORTFOLIO_ALLOCATION.name
HOLDINGS_TABLE = tables.ETF_HOLDINGS.name
ETF_PRICES_TABLE = tables.DAILY_ETF_OHLC.name
STOCK_PRICES_TABLE = tables.DAILY_STOCK_HISTORY.name
# Realized performance: the columns the API serves, in order.
PERFORMANCE_TABLE = tables.PORTFOLIO_PERFORMANCE.name
PERFORMANCE_COLUMNS = (
    "session_date", "horizon", "evaluated_on", "holdings", "portfolio_return", "benchmark_return", "excess_return",
    "hit", "hit_rate", "cumulative_return", "cumulative_benchmark_return", "source",
)
# The tables /api/status reports on, with the column that dates their rows.
STATUS_TABLES = {table.name: table.date_column for table in tables.PIPELINE_TABLES}

TRENDING_COLUMNS = (
    "ticker", "etf_role", "adj_close", "ret_5", "ret_10", "ret_20", "ret_60", "excess_5", "excess_10", "excess_20",
    "excess_60", "vol_20", "ma_50", "above_ma_50", "score", "score_rank", "is_trending", "rule", "source",
)
PORTFOLIO_COLUMNS = (
    "ticker", "weight", "score", "volatility", "source_etfs", "method", "prices_as_of", "holdings_as_of", "source",
)
PRICE_COLUMNS = ("trade_date", "open", "high", "low", "close", "adj_close", "volume", "source")


def _columns(names) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(name) for name in names)


def table_exists(conn: psycopg.Connection, table: str) -> bool:
    return Database.value(conn, "SELECT to_regclass(%s) IS NOT NULL AS present", (table,))


def table_columns(conn: psycopg.Connection, table: str) -> set[str]:
    return {row["column_name"] for row in Database.rows(
        conn, "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
              "AND table_name = %s", (table,))}


def computed_sessions(conn: psycopg.Connection, limit: int, offset: int) -> tuple[int, list[dict]]:
    total = Database.value(conn, "SELECT count(DISTINCT session_date) FROM analytics_03_trending_etfs")
    items = Database.rows(
        conn,
        "SELECT t.session_date, string_agg(DISTINCT t.source, ',' ORDER BY t.source) AS source, "
        "       count(*) FILTER (WHERE t.is_trending) AS trending_count, "
        "       EXISTS (SELECT 1 FROM analytics_05_portfolio_allocation p WHERE p.session_date = t.session_date) "
        "           AS has_portfolios "
        "FROM analytics_03_trending_etfs t GROUP BY t.session_date ORDER BY t.session_date DESC LIMIT %s OFFSET %s",
        (limit, offset),
    )
    return total, items


def latest_date(conn: psycopg.Connection, table: str, column: str) -> dt.date | None:
    return Database.value(conn, sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), sql.Identifier(table)))


def has_date(conn: psycopg.Connection, table: str, column: str, day: dt.date) -> bool:
    return Database.value(conn, sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} = %s)").format(
        sql.Identifier(table), sql.Identifier(column)), (day,))


def trending_etfs(conn, session_date: dt.date, only_trending: bool, limit: int, offset: int) -> tuple[int, list[dict]]:
    where = sql.SQL("session_date = %s") + (sql.SQL(" AND is_trending") if only_trending else sql.SQL(""))
    total = Database.value(conn, sql.SQL("SELECT count(*) FROM analytics_03_trending_etfs WHERE ") + where,
                           (session_date,))
    items = Database.rows(conn, sql.SQL(
        "SELECT {} FROM analytics_03_trending_etfs WHERE {} ORDER BY score_rank NULLS LAST, ticker LIMIT %s OFFSET %s"
    ).format(_columns(TRENDING_COLUMNS), where), (session_date, limit, offset))
    return total, items


def portfolio(conn, session_date: dt.date, horizon: int, limit: int, offset: int) -> tuple[int, list[dict]]:
    total = Database.value(
        conn, "SELECT count(*) FROM analytics_05_portfolio_allocation WHERE session_date = %s AND horizon = %s",
        (session_date, horizon))
    items = Database.rows(conn, sql.SQL(
        "SELECT {} FROM analytics_05_portfolio_allocation WHERE session_date = %s AND horizon = %s "
        "ORDER BY weight DESC, ticker LIMIT %s OFFSET %s"
    ).format(_columns(PORTFOLIO_COLUMNS)), (session_date, horizon, limit, offset))
    return total, items


def holdings_date(conn, etf: str, on_or_before: dt.date | None) -> dt.date | None:
    """The latest holdings snapshot of `etf`, at or before `on_or_before` when given."""
    return Database.value(
        conn, "SELECT max(as_of_date) FROM collected_04_etf_holdings "
              "WHERE etf_ticker = %s AND (%s::date IS NULL OR as_of_date <= %s::date)",
        (etf, on_or_before, on_or_before))


def holdings(conn, etf: str, as_of: dt.date, limit: int, offset: int) -> tuple[int, list[dict]]:
    total = Database.value(
        conn, "SELECT count(*) FROM collected_04_etf_holdings WHERE etf_ticker = %s AND as_of_date = %s", (etf, as_of))
    items = Database.rows(
        conn, "SELECT holding_ticker, holding_name, weight, source FROM collected_04_etf_holdings "
              "WHERE etf_ticker = %s AND as_of_date = %s ORDER BY weight DESC, holding_ticker LIMIT %s OFFSET %s",
        (etf, as_of, limit, offset))
    return total, items


def price_table(conn, ticker: str) -> str | None:
    """Which collected table holds `ticker`'s prices: the ETF table first, then the stocks'."""
    for table in (ETF_PRICES_TABLE, STOCK_PRICES_TABLE):
        if Database.value(conn, sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE ticker = %s)").format(
                sql.Identifier(table)), (ticker,)):
            return table
    return None


def prices(conn, table: str, ticker: str, start: dt.date | None, end: dt.date | None, limit: int,
           offset: int) -> tuple[int, list[dict]]:
    where = sql.SQL("ticker = %s AND (%s::date IS NULL OR trade_date >= %s::date) "
                    "AND (%s::date IS NULL OR trade_date <= %s::date)")
    params = (ticker, start, start, end, end)
    total = Database.value(conn, sql.SQL("SELECT count(*) FROM {} WHERE ").format(sql.Identifier(table)) + where,
                           params)
    items = Database.rows(conn, sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY trade_date LIMIT %s OFFSET %s").format(
        _columns(PRICE_COLUMNS), sql.Identifier(table), where), (*params, limit, offset))
    return total, items


def performance(conn, horizon: int | None, limit: int, offset: int) -> tuple[int, list[dict]]:
    where = sql.SQL("(%s::smallint IS NULL OR horizon = %s::smallint)")
    table = sql.Identifier(PERFORMANCE_TABLE)
    total = Database.value(conn, sql.SQL("SELECT count(*) FROM {} WHERE ").format(table) + where, (horizon, horizon))
    items = Database.rows(conn, sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY session_date, horizon LIMIT %s OFFSET %s")
                          .format(_columns(PERFORMANCE_COLUMNS), table, where), (horizon, horizon, limit, offset))
    return total, items


def table_status(conn, table: str, date_column: str) -> dict:
    """What a table holds now: its row count, date range, sources and when its rows were last written."""
    if not table_exists(conn, table):
        return {"table": table, "exists": False, "row_count": 0, "min_date": None, "max_date": None,
                "sources": [], "last_loaded_at": None}
    columns = table_columns(conn, table)
    loaded = next((column for column in LOAD_TIME_COLUMNS if column in columns), None)
    query = sql.SQL("SELECT count(*) AS row_count, min({date}) AS min_date, max({date}) AS max_date, {sources} AS sources, "
                    "{loaded} AS last_loaded_at FROM {table}").format(
        date=sql.Identifier(date_column),
        sources=sql.SQL("coalesce(array_agg(DISTINCT source) FILTER (WHERE source IS NOT NULL), '{}')")
        if "source" in columns else sql.SQL("'{}'::text[]"),
        loaded=sql.SQL("max({})").format(sql.Identifier(loaded)) if loaded else sql.SQL("NULL::timestamptz"),
        table=sql.Identifier(table),
    )
    row = Database.rows(conn, query)[0]
    dead_letters = Database.value(conn, "SELECT count(*) FROM ops_dead_letters WHERE target_table = %s", (table,))
    return {"table": table, "exists": True, **row, "sources": sorted(row["sources"]), "dead_letters": dead_letters}
