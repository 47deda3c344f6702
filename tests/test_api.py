"""The read-only API and its dashboard against real PostgreSQL filled by a real pipeline run (synthetic source) over
three sessions: every endpoint, every validation error, the SELECT-only role, a property-based run over the OpenAPI
document, and the dashboard in headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
import schemathesis
import uvicorn
from dagster import materialize
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import queries
from api.app import create_app
from api.database import Database, as_api_role
from assets import ALL_ASSETS
from conftest import new_warehouse, pipeline_resources
from fault_support import record_summary
from headless_chromium import HeadlessChromium, chromium_binary
from trendfolio.stack import free_port, wait_for_port

SESSIONS = [dt.date(2026, 11, 19), dt.date(2026, 11, 20), dt.date(2026, 11, 23)]
NOT_COMPUTED_SESSION = dt.date(2026, 11, 18)
WEEKEND = dt.date(2026, 11, 22)
THANKSGIVING = dt.date(2026, 11, 26)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = pytest.mark.integration


def fill_performance(warehouse) -> list[tuple]:
    """analytics_07 needs horizons that have ended, which three sessions don't give: fill it with rows of its shape
    (its figures are checked against the reference in test_analytics_real_data.py; here only the API is tested)."""
    rows = [(session, horizon, session + dt.timedelta(days=horizon), 10, 0.001 * horizon + 0.01 * index,
             0.002 * horizon, 0.01 * index - 0.001 * horizon, index > 0, 0.5, 0.01 * (index + 1), 0.005 * index,
             "synthetic")
            for index, session in enumerate(SESSIONS) for horizon in (5, 10, 20)]
    with psycopg.connect(warehouse.database_url) as conn:
        conn.execute(f"DELETE FROM {queries.PERFORMANCE_TABLE}")
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {queries.PERFORMANCE_TABLE} ({', '.join(queries.PERFORMANCE_COLUMNS)}, evaluations, hits)"
                f" VALUES ({', '.join(['%s'] * len(queries.PERFORMANCE_COLUMNS))}, 2, 1)", rows)
    return rows


@pytest.fixture(scope="module")
def filled(services):
    """One pipeline run over three sessions (a partition range), then the API's view of that database."""
    with new_warehouse(services) as warehouse:
        result = materialize(ALL_ASSETS, resources=pipeline_resources(warehouse), tags={
            "dagster/asset_partition_range_start": SESSIONS[0].isoformat(),
            "dagster/asset_partition_range_end": SESSIONS[-1].isoformat(),
        })
        assert result.success
        performance = fill_performance(warehouse)
        yield warehouse, performance


@pytest.fixture(scope="module")
def warehouse_url(filled) -> str:
    return filled[0].database_url


@pytest.fixture(scope="module")
def api_url(warehouse_url) -> str:
    return as_api_role(warehouse_url)


@pytest.fixture(scope="module")
def app(api_url):
    return create_app(api_url)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as test_client:
        yield test_client


def query(url: str, statement: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params).fetchall()


def problem(response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


# --- the role ---------------------------------------------------------------------------------------------------

def test_the_api_role_can_read_but_not_write(api_url, warehouse_url):
    assert query(api_url, "SELECT current_user")[0][0] == "trendfolio_api"
    assert query(api_url, "SELECT count(*) FROM collected_01_daily_etf_ohlc")[0][0] > 0
    with psycopg.connect(api_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "INSERT INTO collected_01_daily_etf_ohlc (ticker, trade_date, etf_role, open, high, low, close, "
            "adj_close, volume, source) VALUES ('SPY', '2026-11-24', 'benchmark', 1, 1, 1, 1, 1, 1, 'synthetic')")
    owner = sql.Identifier(query(warehouse_url, "SELECT current_user")[0][0])
    with psycopg.connect(warehouse_url) as owner_conn:
        owner_pid = owner_conn.info.backend_pid
        # Writing, and the ways out of the role: becoming the owner, signalling its backends, reading or running
        # files on the server.
        for statement in ("DELETE FROM analytics_03_trending_etfs",
                          "UPDATE analytics_05_portfolio_allocation SET weight = 0",
                          "CREATE TABLE api_was_here (x int)",
                          "TRUNCATE collected_01_daily_etf_ohlc",
                          "TRUNCATE analytics_03_trending_etfs CASCADE",
                          sql.SQL("SET ROLE {}").format(owner),
                          sql.SQL("SET SESSION AUTHORIZATION {}").format(owner),
                          "ALTER ROLE trendfolio_api SUPERUSER",
                          f"SELECT pg_terminate_backend({owner_pid})",
                          f"SELECT pg_cancel_backend({owner_pid})",
                          "SELECT pg_read_file('/etc/passwd')",
                          "COPY (SELECT 1) TO PROGRAM 'touch /tmp/api-was-here'"):
            with psycopg.connect(api_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        assert owner_conn.execute("SELECT count(*) FROM collected_01_daily_etf_ohlc").fetchone()[0] > 0
    # The API's own connections are read-only transactions on top of that.
    with Database(api_url).connect() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("CREATE TEMP TABLE scratch (x int)")
    assert query(warehouse_url, "SELECT count(*) FROM collected_01_daily_etf_ohlc WHERE trade_date = '2026-11-24'") \
        == [(0,)]


# --- endpoints -------------------------------------------------------------------------------------------------

def test_docs_and_openapi(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert sorted(paths) == sorted(OPERATIONS)
    assert all(list(operations) == ["get"] for operations in paths.values())  # read-only: GET only


def test_sessions_newest_first_with_their_source(client, warehouse_url):
    body = client.get("/api/sessions").json()
    assert body["total"] == 3
    assert [item["session_date"] for item in body["items"]] == [d.isoformat() for d in reversed(SESSIONS)]
    assert {item["source_label"] for item in body["items"]} == {"SYNTHETIC"}
    assert all(item["has_portfolios"] for item in body["items"])
    trending = dict(query(warehouse_url, "SELECT session_date::text, count(*) FILTER (WHERE is_trending) "
                                         "FROM analytics_03_trending_etfs GROUP BY 1"))
    assert {item["session_date"]: item["trending_count"] for item in body["items"]} == trending
    page = client.get("/api/sessions", params={"limit": 1, "offset": 1}).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
    assert [item["session_date"] for item in page["items"]] == [SESSIONS[1].isoformat()]
    assert client.get("/api/sessions", params={"offset": 3}).json()["items"] == []


def test_trending_etfs_ranked_with_metrics(client, warehouse_url):
    session = SESSIONS[-1]
    body = client.get(f"/api/sessions/{session}/trending-etfs").json()
    assert body["total"] == 15 and len(body["items"]) == 15
    ranks = [item["score_rank"] for item in body["items"] if item["score_rank"] is not None]
    assert ranks == sorted(ranks)
    stored = dict(query(warehouse_url, "SELECT ticker, excess_20 FROM analytics_03_trending_etfs "
                                       "WHERE session_date = %s", (session,)))
    assert {item["ticker"]: item["excess_20"] for item in body["items"]} == pytest.approx(stored)
    expected_trending = sorted(row[0] for row in query(
        warehouse_url, "SELECT ticker FROM analytics_03_trending_etfs WHERE session_date = %s AND is_trending",
        (session,)))
    only = client.get(f"/api/sessions/{session}/trending-etfs", params={"only_trending": True}).json()
    assert sorted(item["ticker"] for item in only["items"]) == expected_trending
    assert only["total"] == len(expected_trending) > 0
    page = client.get(f"/api/sessions/{session}/trending-etfs", params={"limit": 5, "offset": 5}).json()
    assert [item["ticker"] for item in page["items"]] == [item["ticker"] for item in body["items"][5:10]]


@pytest.mark.parametrize("horizon", [5, 10, 20])
def test_portfolio_for_each_horizon(client, warehouse_url, horizon):
    session = SESSIONS[0]
    body = client.get(f"/api/sessions/{session}/portfolios/{horizon}").json()
    stored = dict(query(warehouse_url, "SELECT ticker, weight FROM analytics_05_portfolio_allocation "
                                       "WHERE session_date = %s AND horizon = %s", (session, horizon)))
    assert body["total"] == len(stored) > 0
    assert {item["ticker"]: item["weight"] for item in body["items"]} == pytest.approx(stored)
    assert sum(item["weight"] for item in body["items"]) == pytest.approx(1.0)
    weights = [item["weight"] for item in body["items"]]
    assert weights == sorted(weights, reverse=True)


def test_etf_holdings_latest_and_as_of(client, warehouse_url):
    etf, as_of, count = query(warehouse_url, "SELECT etf_ticker, as_of_date, count(*) FROM collected_04_etf_holdings "
                                             "GROUP BY 1, 2 ORDER BY 2, 1 LIMIT 1")[0]
    body = client.get(f"/api/etfs/{etf.lower()}/holdings", params={"as_of": as_of.isoformat()}).json()
    assert (body["etf_ticker"], body["as_of_date"], body["total"]) == (etf, as_of.isoformat(), count)
    assert abs(sum(item["weight"] for item in body["items"])) <= 1.0 + 1e-9
    latest = query(warehouse_url, "SELECT max(as_of_date) FROM collected_04_etf_holdings WHERE etf_ticker = %s",
                   (etf,))[0][0]
    assert client.get(f"/api/etfs/{etf}/holdings").json()["as_of_date"] == latest.isoformat()
    page = client.get(f"/api/etfs/{etf}/holdings", params={"limit": 2}).json()
    assert len(page["items"]) == min(2, page["total"])


def test_price_history_of_an_etf_and_of_a_stock(client, warehouse_url):
    spy = client.get("/api/tickers/SPY/prices", params={"start": SESSIONS[0].isoformat(),
                                                        "end": SESSIONS[-1].isoformat()}).json()
    assert spy["table"] == "collected_01_daily_etf_ohlc"
    assert [item["trade_date"] for item in spy["items"]] == [d.isoformat() for d in SESSIONS]
    assert all(item["source"] == "synthetic" and item["low"] <= item["close"] <= item["high"] for item in spy["items"])
    stock = query(warehouse_url, "SELECT ticker, count(*) FROM collected_06_daily_stock_history "
                                 "GROUP BY 1 ORDER BY 1 LIMIT 1")[0]
    body = client.get(f"/api/tickers/{stock[0]}/prices", params={"limit": 1000}).json()
    assert (body["table"], body["total"], len(body["items"])) == ("collected_06_daily_stock_history", stock[1],
                                                                   stock[1])
    dates = [item["trade_date"] for item in body["items"]]
    assert dates == sorted(dates)
    last_two = client.get(f"/api/tickers/{stock[0]}/prices", params={"limit": 2, "offset": stock[1] - 2}).json()
    assert [item["trade_date"] for item in last_two["items"]] == dates[-2:]


def test_realized_performance_per_horizon(client, filled):
    _, rows = filled
    body = client.get("/api/performance").json()
    assert body["total"] == len(rows) == 9
    ten = client.get("/api/performance", params={"horizon": 10}).json()
    assert [(item["session_date"], item["portfolio_return"], item["benchmark_return"]) for item in ten["items"]] == [
        (row[0].isoformat(), pytest.approx(row[4]), pytest.approx(row[5])) for row in rows if row[1] == 10]


def test_performance_is_503_with_a_reason_until_its_table_exists(services):
    with new_warehouse(services) as warehouse:
        with psycopg.connect(warehouse.database_url) as conn:  # after the merge, its migration creates the table
            conn.execute(f"DROP TABLE IF EXISTS {queries.PERFORMANCE_TABLE}")
        with TestClient(create_app(as_api_role(warehouse.database_url))) as empty:
            assert "does not exist" in problem(empty.get("/api/performance"), 503)
            status = empty.get("/api/status").json()
            assert status["data_source"] == "NO DATA" and status["latest_session"] is None
            assert empty.get("/api/sessions").json() == {"total": 0, "limit": 100, "offset": 0, "items": []}
            assert "nothing has been computed yet" in problem(
                empty.get(f"/api/sessions/{SESSIONS[0]}/trending-etfs"), 404)


def test_status_reads_each_table(client, warehouse_url):
    body = client.get("/api/status").json()
    assert body["data_source"] == "SYNTHETIC"
    assert body["latest_session"] == SESSIONS[-1].isoformat()
    tables = {table["table"]: table for table in body["tables"]}
    assert set(tables) == set(queries.STATUS_TABLES)
    for name, column in queries.STATUS_TABLES.items():
        count, latest = query(warehouse_url, f"SELECT count(*), max({column}) FROM {name}")[0]
        assert tables[name]["exists"]
        assert (tables[name]["row_count"], tables[name]["max_date"]) == (count, latest.isoformat()), name
    assert tables["analytics_05_portfolio_allocation"]["sources"] == ["synthetic"]
    assert tables["collected_01_daily_etf_ohlc"]["last_loaded_at"] is not None


def test_trendfolio_api_command_serves_the_api_and_the_dashboard(warehouse_url, api_url):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": warehouse_url, "API_DATABASE_URL": api_url}
    server = subprocess.Popen([sys.executable, "-m", "trendfolio_app.cli", "api", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for_port(port, timeout_s=60), "`trendfolio api` did not open its port"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sessions") as response:
            assert json.load(response)["total"] == 3
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:  # / opens the dashboard
            assert response.url.endswith("/dashboard") and "session-select" in response.read().decode()
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    assert f"http://127.0.0.1:{port}/dashboard" in output


# --- validation ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    f"/api/sessions/{WEEKEND}/trending-etfs",
    f"/api/sessions/{THANKSGIVING}/portfolios/5",
    f"/api/etfs/XLK/holdings?as_of={WEEKEND}",
])
def test_a_date_that_is_not_a_session_is_422(client, path):
    assert "is not an NYSE session" in problem(client.get(path), 422)


@pytest.mark.parametrize("path", [
    f"/api/sessions/{NOT_COMPUTED_SESSION}/trending-etfs",
    f"/api/sessions/{NOT_COMPUTED_SESSION}/portfolios/10",
])
def test_a_session_not_computed_yet_is_404_naming_the_latest(client, path):
    detail = problem(client.get(path), 404)
    assert "has not been computed yet" in detail and SESSIONS[-1].isoformat() in detail


@pytest.mark.parametrize("path", ["/api/sessions/2026-13-01/trending-etfs", "/api/sessions/yesterday/portfolios/5"])
def test_a_malformed_date_is_422(client, path):
    assert "session_date" in problem(client.get(path), 422)


@pytest.mark.parametrize("horizon", [0, 7, 60, -5])
def test_a_horizon_other_than_5_10_20_is_422(client, horizon):
    assert "horizon must be one of 5, 10, 20" in problem(
        client.get(f"/api/sessions/{SESSIONS[0]}/portfolios/{horizon}"), 422)
    assert "horizon must be one of" in problem(client.get("/api/performance", params={"horizon": horizon}), 422)


@pytest.mark.parametrize(("path", "fragment"), [
    ("/api/etfs/ZZZZ/holdings", "unknown ETF ZZZZ"),
    ("/api/tickers/ZZZZ/prices", "unknown ticker ZZZZ"),
])
def test_an_unknown_ticker_is_404(client, path, fragment):
    assert fragment in problem(client.get(path), 404)


def test_an_etf_without_holdings_is_404_saying_why(client, warehouse_url):
    held = {row[0] for row in query(warehouse_url, "SELECT DISTINCT etf_ticker FROM collected_04_etf_holdings")}
    never_held = "SPY"  # a benchmark is never trending, so its holdings are never collected
    assert never_held not in held
    assert "only on sessions where the ETF is trending" in problem(client.get(f"/api/etfs/{never_held}/holdings"), 404)
    etf = sorted(held)[0]
    assert "on or before" in problem(client.get(f"/api/etfs/{etf}/holdings",
                                                params={"as_of": NOT_COMPUTED_SESSION.isoformat()}), 404)


@pytest.mark.parametrize("path", ["/api/tickers/not a ticker/prices", "/api/etfs/TOOLONGTICKER/holdings",
                                  "/api/tickers/%00/prices"])
def test_a_malformed_ticker_is_422(client, path):
    assert "ticker" in problem(client.get(path), 422)


def test_start_after_end_is_422(client):
    assert "is after end" in problem(client.get("/api/tickers/SPY/prices",
                                                params={"start": "2026-11-23", "end": "2026-11-19"}), 422)


@pytest.mark.parametrize(("params", "fragment"), [
    ({"limit": 0}, "limit: Input should be greater than or equal to 1"),
    ({"limit": 1001}, "limit: Input should be less than or equal to 1000"),
    ({"offset": -1}, "offset: Input should be greater than or equal to 0"),
    ({"offset": 1_000_001}, "offset: Input should be less than or equal to 1000000"),
    ({"limit": "many"}, "limit: Input should be a valid integer"),
])
@pytest.mark.parametrize("path", ["/api/sessions", f"/api/sessions/{SESSIONS[0]}/trending-etfs",
                                  f"/api/sessions/{SESSIONS[0]}/portfolios/5", "/api/etfs/XLK/holdings",
                                  "/api/tickers/SPY/prices", "/api/performance"])
def test_limits_out_of_range_are_422(client, path, params, fragment):
    assert fragment in problem(client.get(path, params=params), 422)


# --- abuse: hostile values in every parameter (issue 9) ----------------------------------------------------------

# Each parameter of the API, as a request that puts a raw value in it; path values are percent-encoded whole, so a
# "/" or "%" in the value stays inside the parameter.
def _in_path(template: str):
    return lambda value: (template.format(quote(value, safe="")), {})


def _in_query(path: str, name: str):
    return lambda value: (path, {name: value})


SESSION_PATH = f"/api/sessions/{SESSIONS[0]}"
PARAMETERS = {
    "ticker (prices)": _in_path("/api/tickers/{}/prices"),
    "ticker (holdings)": _in_path("/api/etfs/{}/holdings"),
    "session_date (trending)": _in_path("/api/sessions/{}/trending-etfs"),
    "session_date (portfolio)": _in_path("/api/sessions/{}/portfolios/5"),
    "horizon (portfolio)": _in_path(SESSION_PATH + "/portfolios/{}"),
    "horizon (performance)": _in_query("/api/performance", "horizon"),
    "only_trending": _in_query(SESSION_PATH + "/trending-etfs", "only_trending"),
    "as_of": _in_query("/api/etfs/XLK/holdings", "as_of"),
    "start": _in_query("/api/tickers/SPY/prices", "start"),
    "end": _in_query("/api/tickers/SPY/prices", "end"),
    "limit (sessions)": _in_query("/api/sessions", "limit"),
    "offset (sessions)": _in_query("/api/sessions", "offset"),
    "limit (prices)": _in_query("/api/tickers/SPY/prices", "limit"),
    "offset (holdings)": _in_query("/api/etfs/XLK/holdings", "offset"),
}
NUMBERS = [name for name in PARAMETERS if name.startswith(("horizon", "limit", "offset"))]
DATES = ["session_date (trending)", "session_date (portfolio)", "as_of", "start", "end"]
TICKERS = ["ticker (prices)", "ticker (holdings)"]

ABUSE = {
    "SQL injection": (list(PARAMETERS), [
        "' OR '1'='1", "SPY' OR 1=1 --", "1; DROP TABLE collected_01_daily_etf_ohlc; --",
        "2026-11-19'; TRUNCATE analytics_03_trending_etfs; --", "5 UNION SELECT usename, passwd FROM pg_shadow",
        "1); DELETE FROM collected_04_etf_holdings; --", "$$; SELECT pg_terminate_backend(pg_backend_pid()); $$",
        "SPY%' OR ticker LIKE '%", "true; SET ROLE trendfolio", "0/**/OR/**/1=1",
    ]),
    "huge, negative and malformed numbers": (NUMBERS, [
        str(10**30), "-1", "-2147483649", "1e3", "", "１２", "٣", "0x10", "NaN", "inf", "1.5", "- 5",
        str(2**63), "5" * 5000,
    ]),
    "malformed dates": (DATES, [
        "2026-02-30", "2026-13-01", "99999-01-01", "2026-11-23T00:00", "../../etc/passwd", "2026-11-23\x00",
        "20261123", "1e9", "2026-1-5", "２０２６-１１-２３", "-2026-11-23", "0000-00-00", "2026-11-23 ", "today",
    ]),
    "unicode garbage and long strings": (TICKERS + DATES, [
        "ＡＡＰＬ", "A" * 10000, "SP\u200dY", "\u200b", "SPY\x00", "\x00", "📉😀", "\u202eYPS", "SPY\u200f",
        "A B", "SPY\n", "é" * 300, "\ufeffSPY", "\U0010ffff",
    ]),
}


def table_fingerprints(warehouse_url: str) -> dict[str, tuple[int, str]]:
    """Row count and a digest of the contents of every table, read through the owner's connection."""
    with psycopg.connect(warehouse_url) as conn:
        tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {table: conn.execute(sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), "
                                            "'')) FROM {} t").format(sql.Identifier(table))).fetchone()
                for table in tables}


@pytest.mark.parametrize("category", list(ABUSE))
def test_hostile_values_in_every_parameter_are_4xx_and_change_nothing(client, warehouse_url, category):
    """Each value in each parameter it applies to: a 4xx with a readable JSON `detail`, never a 5xx, and no table
    changed. Also writes the counts for RELIABILITY.md."""
    names, values = ABUSE[category]
    before = table_fingerprints(warehouse_url)
    statuses: dict[int, int] = {}
    wrong = []
    for name in names:
        for value in values:
            path, params = PARAMETERS[name](value)
            response = client.get(path, params=params)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            detail = response.json().get("detail") if "json" in response.headers.get("content-type", "") else None
            if not 400 <= response.status_code < 500 or not isinstance(detail, str) or not detail:
                wrong.append((name, value[:40], response.status_code, response.text[:200]))
    after = table_fingerprints(warehouse_url)
    changed = sorted(table for table in before if before[table] != after.get(table))
    record_summary(f"api_abuse_{category.split()[0].lower().strip(',')}", {
        "category": category, "parameters": len(names), "values": len(values), "requests": len(names) * len(values),
        "statuses": statuses, "server_errors": sum(n for status, n in statuses.items() if status >= 500),
        "tables_checked": len(before), "tables_changed": changed})
    assert wrong == []
    assert changed == [] and set(after) == set(before)
    assert before[queries.TRENDING_TABLE][0] > 0  # the fingerprints read real rows


@pytest.mark.parametrize(("path", "fragment"), [
    ("/api/sessions/2026-11-23T00:00/trending-etfs", "session_date: Value error, a date is written YYYY-MM-DD"),
    ("/api/tickers/SPY/prices?start=2026-02-30", "start: Input should be a valid date"),
    ("/api/etfs/XLK/holdings?as_of=99999-01-01", "as_of: Value error, a date is written YYYY-MM-DD"),
    (f"/api/tickers/{'A' * 10000}/prices", "ticker: String should match pattern"),
    ("/api/tickers/%EF%BC%A1%EF%BC%A1%EF%BC%B0%EF%BC%AC/prices", "ticker: String should match pattern"),
    ("/api/sessions/..%2F..%2Fetc%2Fpasswd/trending-etfs", "no such path '/api/sessions/../../etc/passwd/"),
    (f"/api/sessions?limit={10**30}", "limit: Input should be less than or equal to 1000"),
    ("/api/sessions?offset=%EF%BC%91%EF%BC%92", "offset: Input should be a valid integer"),
])
def test_a_hostile_value_is_named_in_the_detail(client, path, fragment):
    response = client.get(path)
    assert fragment in problem(response, 404 if "no such path" in fragment else 422)


# Arbitrary text (hypothesis) in the path parameters, percent-encoded whole: whatever it is, no 5xx.
FUZZED_PATHS = ["/api/tickers/{}/prices", "/api/etfs/{}/holdings", "/api/sessions/{}/trending-etfs",
                "/api/sessions/{}/portfolios/10", SESSION_PATH + "/portfolios/{}"]


@pytest.mark.parametrize("template", FUZZED_PATHS)
def test_arbitrary_text_in_a_path_parameter_never_gets_a_server_error(client, template):
    statuses: dict[int, int] = {}

    @given(text=st.text())
    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def answers_without_a_server_error(text):
        response = client.get(template.format(quote(text, safe="")))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (text, response.text)
        assert isinstance(response.json()["detail" if response.status_code >= 400 else "total"], (str, int))

    answers_without_a_server_error()
    record_summary(f"api_fuzz_{FUZZED_PATHS.index(template)}", {"path": template, "requests": sum(statuses.values()),
                                                                 "statuses": statuses})


# --- property-based run over the OpenAPI document -------------------------------------------------------------------

# The API's operations, one test each; test_docs_and_openapi checks the list covers the document.
OPERATIONS = ["/api/sessions", "/api/sessions/{session_date}/trending-etfs",
              "/api/sessions/{session_date}/portfolios/{horizon}", "/api/etfs/{ticker}/holdings",
              "/api/tickers/{ticker}/prices", "/api/performance", "/api/status"]


@pytest.fixture(scope="module")
def api_schema(app):
    # Loaded in process: schemathesis calls the ASGI app directly, no server or port.
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("path", OPERATIONS)
def test_no_request_the_schema_allows_gets_a_server_error(api_schema, path):
    """No 5xx, and every answer (4xx included) has a status, content type and body the document declares."""
    # schemathesis' own pytest loader (from_fixture) does not run on pytest 9, so drive its strategy with hypothesis.
    @given(case=api_schema[path]["GET"].as_strategy())
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def conforms(case):
        case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                       response_schema_conformance])

    conforms()


# --- the dashboard in a real browser ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(app):
    """The app on a free port, served by uvicorn in a background thread."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("Chromium is not installed: `bash scripts/setup.sh` installs Debian's chromium")
    chromium = HeadlessChromium(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


# What the dashboard drew: bars per chart, the ranking's trending trace, performance lines, the banner.
RENDERED = """(() => {
  const chart = id => document.getElementById(id);
  const bars = id => document.querySelectorAll(`#${id} .barlayer .point`).length;
  return {
    session: document.body.dataset.session,
    banner_source: chart("source-banner").dataset.source,
    banner_text: chart("source-banner").textContent,
    ranking_bars: bars("chart-ranking"),
    trending_x: chart("chart-ranking").data[0].x,
    portfolio_bars: [5, 10, 20].map(h => bars(`chart-portfolio-${h}`)),
    performance_lines: document.querySelectorAll("#chart-performance .scatterlayer .trace").length,
    empty_charts: [...document.querySelectorAll(".chart.empty")].map(e => e.id + ": " + e.textContent),
    errors: chart("errors").textContent,
    resources: performance.getEntriesByType("resource").map(entry => entry.name),
  };
})()"""


def expected_view(client, session: dt.date) -> dict:
    ranking = client.get(f"/api/sessions/{session}/trending-etfs").json()["items"]
    return {
        "ranking_bars": sum(item["score"] is not None for item in ranking),
        "trending_x": [item["ticker"] for item in ranking if item["is_trending"]],
        "portfolio_bars": [client.get(f"/api/sessions/{session}/portfolios/{h}").json()["total"] for h in (5, 10, 20)],
    }


def test_dashboard_renders_the_charts_and_switches_date_in_headless_chromium(served, browser, client):
    browser.navigate(f"{served}/dashboard")
    state = browser.wait_for("document.body.dataset.state !== 'loading' && document.body.dataset.state")
    assert state == "ready", browser.evaluate("document.getElementById('errors').textContent")
    assert browser.evaluate("typeof Plotly") == "object"

    for session in (SESSIONS[-1], SESSIONS[0]):
        if browser.evaluate("document.body.dataset.session") != session.isoformat():
            browser.evaluate(f"(() => {{ const select = document.getElementById('session-select'); "
                             f"select.value = '{session}'; select.dispatchEvent(new Event('change')); }})()")
            browser.wait_for(f"document.body.dataset.session === '{session}' && document.body.dataset.state === 'ready'")
        view = browser.evaluate(RENDERED)
        browser.screenshot(ARTIFACTS / f"dashboard-{session}.png")
        assert view["session"] == session.isoformat()
        assert view["banner_source"] == "SYNTHETIC" and "SYNTHETIC DATA" in view["banner_text"]
        assert view["empty_charts"] == [] and view["errors"] == ""
        expected = expected_view(client, session)
        assert view["ranking_bars"] == expected["ranking_bars"] > 0
        assert view["trending_x"] == expected["trending_x"]
        assert view["portfolio_bars"] == expected["portfolio_bars"] and min(view["portfolio_bars"]) > 0
        assert view["performance_lines"] == 6  # portfolio and SPY for each horizon
        assert all(url.startswith(served) for url in view["resources"]), view["resources"]
    assert browser.exceptions == []
    assert (ARTIFACTS / f"dashboard-{SESSIONS[0]}.png").stat().st_size > 10_000


def test_api_docs_render_offline_in_headless_chromium(served, browser):
    browser.navigate(f"{served}/docs")
    browser.wait_for(f"document.querySelectorAll('.opblock').length === {len(OPERATIONS)}")
    browser.screenshot(ARTIFACTS / "api-docs.png")
    resources = browser.evaluate("performance.getEntriesByType('resource').map(entry => entry.name)")
    assert resources and all(url.startswith(served) for url in resources), resources
