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
TURNOVER_VIEW = tables.PORTFOLIO_TURNOVER_VIEW
TURNOVER_BETWEEN = tables.PORTFOLIO_TURNOVER_BETWEEN
# Realized performance: the columns the API serves, in order.
PERFORMANCE_TABLE = tables.PORTFOLIO_PERFORMANCE.name
BASELINES_TABLE = tables.PORTFOLIO_BASELINES.name
PERFORMANCE_COLUMNS = (
    "session_date", "horizon", "evaluated_on", "holdings", "portfolio_return", "benchmark_return", "excess_return",
    "hit", "hit_rate", "cumulative_return", "cumulative_benchmark_return", "source", "status", "method",
    "unpriced_tickers", "track_start",
)
# The tables /api/status reports on, with the column that dates their rows.
STATUS_TABLES = {table.name: table.date_column for table in tables.PIPELINE_TABLES}
MIGRATIONS_TABLE = "ops_schema_migrations"
# Rows a summary reads at once (the track record: 3 horizons × ~250 sessions a year for 10 years).
MAX_ROWS = 10_000

TRENDING_COLUMNS = (
    "ticker", "etf_role", "adj_close", "ret_5", "ret_10", "ret_20", "ret_60", "excess_5", "excess_10", "excess_20",
    "excess_60", "vol_20", "ma_50", "above_ma_50", "score", "score_rank", "is_trending", "selection", "rule", "source",
)
HISTORY_COLUMNS = ("session_date", "ticker", "etf_role", "score", "score_rank", "is_trending", "selection")
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


# The first session of the unbroken run of computed trending sessions that ends at the row's session.
TRENDING_SINCE = sql.SQL("""CASE WHEN t.is_trending THEN (
    SELECT min(s.session_date) FROM analytics_03_trending_etfs s
    WHERE s.ticker = t.ticker AND s.session_date <= t.session_date AND s.session_date > coalesce((
        SELECT max(n.session_date) FROM analytics_03_trending_etfs n
        WHERE n.ticker = t.ticker AND n.session_date < t.session_date AND NOT n.is_trending), '-infinity'::date))
    END""")


def trending_etfs(conn, session_date: dt.date, only_trending: bool, limit: int, offset: int) -> tuple[int, list[dict]]:
    where = sql.SQL("t.session_date = %s") + (sql.SQL(" AND t.is_trending") if only_trending else sql.SQL(""))
    total = Database.value(conn, sql.SQL("SELECT count(*) FROM analytics_03_trending_etfs t WHERE ") + where,
                           (session_date,))
    items = Database.rows(conn, sql.SQL(
        "SELECT {}, {} AS trending_since FROM analytics_03_trending_etfs t WHERE {} "
        "ORDER BY t.score_rank NULLS LAST, t.ticker LIMIT %s OFFSET %s"
    ).format(sql.SQL(", ").join(sql.Identifier("t", name) for name in TRENDING_COLUMNS), TRENDING_SINCE, where),
        (session_date, limit, offset))
    return total, items


def trending_history(conn, end: dt.date | None, sessions: int, limit: int, offset: int
                     ) -> tuple[list[dt.date], int, list[dict]]:
    """Every ETF's rank and trending flag over the last `sessions` computed sessions up to `end`, oldest first."""
    days = [row["session_date"] for row in Database.rows(
        conn, "SELECT DISTINCT session_date FROM analytics_03_trending_etfs "
              "WHERE %s::date IS NULL OR session_date <= %s::date ORDER BY session_date DESC LIMIT %s",
        (end, end, sessions))][::-1]
    if not days:
        return [], 0, []
    where = "session_date BETWEEN %s AND %s"
    total = Database.value(conn, f"SELECT count(*) FROM analytics_03_trending_etfs WHERE {where}", (days[0], days[-1]))
    items = Database.rows(conn, sql.SQL(
        "SELECT {} FROM analytics_03_trending_etfs WHERE " + where
        + " ORDER BY session_date, etf_role DESC, score_rank NULLS LAST, ticker LIMIT %s OFFSET %s"
    ).format(_columns(HISTORY_COLUMNS)), (days[0], days[-1], limit, offset))
    return days, total, items


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


def trending_tickers(conn, session_date: dt.date) -> list[str]:
    return [row["ticker"] for row in Database.rows(
        conn, "SELECT ticker FROM analytics_03_trending_etfs WHERE session_date = %s AND is_trending "
              "ORDER BY score_rank, ticker", (session_date,))]


def candidate_counts(conn, session_date: dt.date, etfs: list[str]) -> dict:
    """The stocks the trending ETFs hold on the session (their latest snapshot on or before it) and how many of them
    have a price on the session: the universe the weighting could choose from."""
    return Database.rows(conn, f"""
        WITH latest AS (SELECT etf_ticker, max(as_of_date) AS as_of_date FROM {HOLDINGS_TABLE}
                        WHERE etf_ticker = ANY(%s) AND as_of_date <= %s GROUP BY etf_ticker),
             held AS (SELECT DISTINCT h.holding_ticker FROM {HOLDINGS_TABLE} h JOIN latest USING (etf_ticker, as_of_date))
        SELECT count(*) AS held,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM {STOCK_PRICES_TABLE} p
                                              WHERE p.ticker = held.holding_ticker AND p.trade_date = %s)) AS priced
        FROM held""", (etfs, session_date, session_date))[0]


def previous_portfolio_session(conn, session_date: dt.date, horizon: int) -> dt.date | None:
    return Database.value(conn, f"SELECT max(session_date) FROM {PORTFOLIO_TABLE} WHERE horizon = %s "
                                "AND session_date < %s", (horizon, session_date))


CHANGE_ORDER = {"entered": 0, "left": 1, "increased": 2, "decreased": 3, "unchanged": 4}


def portfolio_changes(conn, session_date: dt.date, previous: dt.date | None, horizon: int) -> list[dict]:
    """Each ticker of the session's portfolio or of the previous one, with both weights and what happened to it."""
    rows = Database.rows(conn, f"""
        SELECT coalesce(n.ticker, p.ticker) AS ticker, p.weight AS previous_weight, n.weight AS weight
        FROM (SELECT ticker, weight FROM {PORTFOLIO_TABLE} WHERE session_date = %s AND horizon = %s) n
        FULL JOIN (SELECT ticker, weight FROM {PORTFOLIO_TABLE} WHERE session_date = %s AND horizon = %s) p
          USING (ticker)""", (session_date, horizon, previous, horizon))
    for row in rows:
        before, now = row["previous_weight"] or 0.0, row["weight"] or 0.0
        row["change"] = ("entered" if row["previous_weight"] is None else "left" if row["weight"] is None
                         else "increased" if now > before + 1e-9 else "decreased" if now < before - 1e-9
                         else "unchanged")
        row["weight_change"] = now - before
    return sorted(rows, key=lambda r: (CHANGE_ORDER[r["change"]], -abs(r["weight_change"]), r["ticker"]))


def turnover(conn, horizon: int | None) -> list[dict]:
    """Per (session, horizon) with a previous session's portfolio: the turnover against it and how many tickers
    entered and left (the view over every portfolio, sql/016 and 017), oldest first."""
    return Database.rows(conn, f"""
        SELECT session_date, horizon, previous_session, turnover, entered, left_count FROM {TURNOVER_VIEW}
        WHERE turnover IS NOT NULL AND (%s::smallint IS NULL OR horizon = %s::smallint)
        ORDER BY session_date, horizon""", (horizon, horizon))


def portfolio_turnover(conn, session_date: dt.date, horizon: int) -> float | None:
    """The portfolio's turnover against the previous session's (None when that session has no portfolio), computed
    for its session only (sql/017)."""
    return Database.value(conn, f"SELECT turnover FROM {TURNOVER_BETWEEN}(%s, %s) WHERE horizon = %s",
                          (session_date, session_date, horizon))


BASELINE_COLUMNS = (
    "evaluated_on", "session_date", "horizon", "method", "portfolio_return", "trending_etfs_return",
    "sector_etfs_return", "spy_return", "excess_vs_trending_etfs", "excess_vs_sector_etfs", "excess_vs_spy",
    "turnover", "cost_per_turnover", "net_return", "evaluations", "hit_rate_vs_trending_etfs", "hit_rate_vs_sector_etfs",
    "hit_rate_vs_spy", "cumulative_return", "cumulative_net_return", "cumulative_trending_etfs_return",
    "cumulative_sector_etfs_return", "cumulative_spy_return", "max_drawdown", "annualized_volatility",
)


def baselines(conn) -> list[dict]:
    """analytics_08: each scored portfolio against the trending ETFs, the 11 sectors and SPY, oldest first."""
    return Database.rows(conn, sql.SQL("SELECT {} FROM {} ORDER BY evaluated_on, horizon LIMIT %s").format(
        _columns(BASELINE_COLUMNS), sql.Identifier(BASELINES_TABLE)), (MAX_ROWS,))


WEIGHT_HISTORY_COLUMNS = ("session_date", "horizon", "weight", "score", "method", "source_etfs", "evaluated_on",
                          "ticker_return", "contribution", "portfolio_return")


def weight_history(conn, ticker: str, horizon: int | None, limit: int, offset: int) -> tuple[int, list[dict]]:
    """Every portfolio that held `ticker`: its weight, and once the horizon ended the ticker's return over it and its
    contribution (weight × return) to the portfolio's return."""
    where = "a.ticker = %s AND (%s::smallint IS NULL OR a.horizon = %s::smallint)"
    params = (ticker, horizon, horizon)
    total = Database.value(conn, f"SELECT count(*) FROM {PORTFOLIO_TABLE} a WHERE {where}", params)
    items = Database.rows(conn, f"""
        WITH prices AS (SELECT ticker, trade_date, adj_close FROM {STOCK_PRICES_TABLE} WHERE ticker = %s
                        UNION ALL
                        SELECT ticker, trade_date, adj_close FROM {ETF_PRICES_TABLE} WHERE ticker = %s)
        SELECT a.session_date, a.horizon, a.weight, a.score, a.method, a.source_etfs, f.evaluated_on,
               p1.adj_close / p0.adj_close - 1 AS ticker_return,
               a.weight * (p1.adj_close / p0.adj_close - 1) AS contribution, f.portfolio_return
        FROM {PORTFOLIO_TABLE} a
        LEFT JOIN {PERFORMANCE_TABLE} f ON f.session_date = a.session_date AND f.horizon = a.horizon
        LEFT JOIN prices p0 ON p0.trade_date = a.session_date
        LEFT JOIN prices p1 ON p1.trade_date = f.evaluated_on
        WHERE {where} ORDER BY a.session_date, a.horizon LIMIT %s OFFSET %s""",
        (ticker, ticker, *params, limit, offset))
    return total, items


def portfolio_methods(conn) -> dict[tuple[int, str], int]:
    """How many (session) portfolios each method built, per horizon."""
    return {(row["horizon"], row["method"]): row["portfolios"] for row in Database.rows(
        conn, f"SELECT horizon, method, count(DISTINCT session_date) AS portfolios FROM {PORTFOLIO_TABLE} "
              "GROUP BY 1, 2")}


def portfolio_positions(conn, session_date: dt.date, horizon: int) -> list[dict]:
    return Database.rows(conn, f"SELECT ticker, weight, method, source_etfs, holdings_as_of, constraint_note "
                               f"FROM {PORTFOLIO_TABLE} "
                               "WHERE session_date = %s AND horizon = %s", (session_date, horizon))
