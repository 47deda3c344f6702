"""Real services for the integration tests: embedded PostgreSQL and the Tansu broker on free ports in a temporary
folder (or the external ones that DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS name), Spark in local mode.

Each test that asks for `warehouse` gets a database of its own with the schema applied, and a Kafka namespace of its
own, so tests cannot see each other's rows or messages."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest

from trendfolio import settings, stack
from trendfolio.migrations import migrate

# ../shared/marketdata next to the repository; TRENDFOLIO_SHARED_MARKETDATA points elsewhere (e.g. from a worktree).
SHARED_MARKETDATA = Path(
    os.environ.get("TRENDFOLIO_SHARED_MARKETDATA")
    or Path(__file__).resolve().parents[1].parent / "shared" / "marketdata"
)


@dataclass(frozen=True)
class Services:
    admin_url: str  # a URL to a database we may CREATE DATABASE from
    bootstrap_servers: str


def _with_database(url: str, database: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def services(tmp_path_factory) -> Services:
    pg = broker = None
    admin_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    root = tmp_path_factory.mktemp("stack")
    if not admin_url:
        paths = settings.LocalStackPaths(root)
        pg = stack.embedded_postgres(paths, port=stack.free_port())
        pg.start()
        admin_url = settings.local_database_url("postgres", pg.port)
    if not bootstrap:
        broker = stack.embedded_broker(settings.LocalStackPaths(root), port=stack.free_port())
        broker.start()
        bootstrap = f"127.0.0.1:{broker.port}"
    yield Services(admin_url, bootstrap)
    if broker:
        broker.stop()
    if pg:
        pg.stop()


@dataclass(frozen=True)
class Warehouse:
    database_url: str
    bootstrap_servers: str
    namespace: str

    def query(self, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params=()):
        return self.query(sql, params)[0][0]


@pytest.fixture
def warehouse(services: Services) -> Warehouse:
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(services.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(services.admin_url, name)
    migrate(url)
    yield Warehouse(url, services.bootstrap_servers, namespace=name)
    with psycopg.connect(services.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def resources(warehouse: Warehouse) -> dict:
    from resources import KafkaResource, MarketDataResource, PostgresResource, SparkResource

    return {
        "postgres": PostgresResource(database_url=warehouse.database_url),
        "kafka": KafkaResource(bootstrap_servers=warehouse.bootstrap_servers, namespace=warehouse.namespace),
        "spark": SparkResource(master_url="local[2]"),
        "market_data": MarketDataResource(source="synthetic"),
    }


@pytest.fixture
def shared_marketdata() -> Path:
    if not SHARED_MARKETDATA.is_dir():
        pytest.skip(f"real market data not found at {SHARED_MARKETDATA} (the ../shared/marketdata folder)")
    return SHARED_MARKETDATA
