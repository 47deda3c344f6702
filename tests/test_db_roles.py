"""The roles of the embedded server, as an attacker holding each password would try them: the API role reaches the
warehouse only, cannot make TEMP tables, cannot hold more than its share of connections and runs under timeouts; the
warehouse owner is not a superuser (no `COPY … TO PROGRAM`). Real PostgreSQL, set up by the stack's own code."""

from __future__ import annotations

import time
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest

from api.database import as_api_role
from trendfolio import settings

pytestmark = pytest.mark.integration

API_CONNECTION_LIMIT = 40


def other_database(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def test_the_api_role_cannot_create_temp_tables(warehouse):
    with psycopg.connect(as_api_role(warehouse.database_url)) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="temporary tables"):
        conn.execute("CREATE TEMP TABLE hoard AS SELECT repeat('x', 1000) FROM generate_series(1, 56000)")


@pytest.mark.parametrize("database", ["postgres", settings.DAGSTER_DATABASE, "template1"])
def test_the_api_role_reaches_the_warehouse_only(warehouse, database):
    api_url = as_api_role(warehouse.database_url)
    with psycopg.connect(api_url) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "trendfolio_api"
    with pytest.raises(psycopg.OperationalError, match=f'permission denied for database "{database}"'):
        psycopg.connect(other_database(api_url, database), connect_timeout=5)


def test_the_api_role_cannot_take_the_servers_connections(warehouse):
    api_url = as_api_role(warehouse.database_url)
    held = []
    try:
        for _ in range(API_CONNECTION_LIMIT):
            held.append(psycopg.connect(api_url))
        with pytest.raises(psycopg.OperationalError, match='too many connections for role "trendfolio_api"'):
            held.append(psycopg.connect(api_url, connect_timeout=5))
        # The owner still gets in: the nightly run is not starved.
        with psycopg.connect(warehouse.database_url) as owner:
            assert owner.execute("SELECT 1").fetchone() == (1,)
    finally:
        for conn in held:
            conn.close()


def test_the_api_role_runs_under_timeouts(warehouse):
    api_url = as_api_role(warehouse.database_url)
    with psycopg.connect(api_url) as conn:
        shown = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                 for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")}
    assert shown == {"statement_timeout": "15s", "lock_timeout": "5s", "idle_in_transaction_session_timeout": "1min"}
    # A table locked by a writer: the API's query gives up after lock_timeout instead of waiting with it.
    with psycopg.connect(warehouse.database_url) as owner:
        owner.execute("LOCK TABLE collected_01_daily_etf_ohlc IN ACCESS EXCLUSIVE MODE")
        began = time.monotonic()
        with psycopg.connect(api_url) as conn, pytest.raises(psycopg.errors.LockNotAvailable):
            conn.execute("SELECT count(*) FROM collected_01_daily_etf_ohlc")
        assert 4 <= time.monotonic() - began < 15
    with psycopg.connect(api_url) as conn, pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SET statement_timeout = '1s'")  # the role's own setting may be lowered, and still applies
        conn.execute("SELECT pg_sleep(3)")


def test_the_warehouse_owner_is_not_a_superuser(warehouse):
    with psycopg.connect(warehouse.database_url) as conn:
        owner = conn.execute("SELECT current_user").fetchone()[0]
        assert owner == settings.DEFAULT_PG_USER
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("COPY (SELECT 1) TO PROGRAM 'touch /tmp/owner-was-here'")
    with psycopg.connect(warehouse.database_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("ALTER ROLE trendfolio SUPERUSER")
