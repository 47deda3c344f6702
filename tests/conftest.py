"""Real services for the integration tests: embedded PostgreSQL and the Tansu broker on free ports in a temporary
folder (or the external ones that DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS name), Spark in local mode.

Each test that asks for `warehouse` gets a database of its own with the schema applied, and a Kafka namespace of its
own, so tests cannot see each other's rows or messages."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from trendfolio import stack

# TRENDFOLIO_SHARED_MARKETDATA overrides ../shared/marketdata (a git worktree sits elsewhere than the main checkout).
SHARED_MARKETDATA = Path(os.environ.get("TRENDFOLIO_SHARED_MARKETDATA")
                         or Path(__file__).resolve().parents[1].parent / "shared" / "marketdata")


@dataclass(frozen=True)
class Services:
    admin_url: str  # a URL to a database we may CREATE DATABASE from
    bootstrap_servers: str


@pytest.fixture(scope="session")
def services(tmp_path_factory) -> Services:
    with stack.private_stack(tmp_path_factory.mktemp("stack")) as (admin_url, bootstrap):
        yield Services(admin_url, bootstrap)


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


@contextmanager
def new_warehouse(services: Services) -> Iterator[Warehouse]:
    """A database of its own with the schema applied, dropped afterwards (for fixtures of any scope)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = stack.create_migrated_database(services.admin_url, name)
    yield Warehouse(url, services.bootstrap_servers, namespace=name)
    stack.drop_database(services.admin_url, url)


@pytest.fixture
def warehouse(services: Services) -> Warehouse:
    with new_warehouse(services) as created:
        yield created


@pytest.fixture(scope="module")
def module_warehouse(services: Services) -> Warehouse:
    """For a module that runs the pipeline once and asserts many things on the result."""
    with new_warehouse(services) as created:
        yield created


def pipeline_resources(warehouse: Warehouse) -> dict:
    """The real resources of the nightly job, pointed at `warehouse`, with the synthetic source."""
    from resources import KafkaResource, MarketDataResource, PostgresResource, SparkResource

    return {
        "postgres": PostgresResource(database_url=warehouse.database_url),
        "kafka": KafkaResource(bootstrap_servers=warehouse.bootstrap_servers, namespace=warehouse.namespace),
        "spark": SparkResource(master_url="local[2]"),
        "market_data": MarketDataResource(source="synthetic"),
    }


@pytest.fixture
def resources(warehouse: Warehouse) -> dict:
    return pipeline_resources(warehouse)


@pytest.fixture(scope="module")
def module_resources(module_warehouse: Warehouse) -> dict:
    return pipeline_resources(module_warehouse)


@pytest.fixture
def spark():
    """The process's one SparkSession, for calling the pure Spark functions on small DataFrames. Asked for per test
    (getOrCreate hands back the running one): a test that stops Spark must not leave later tests a stopped session."""
    from resources import SparkResource

    return SparkResource(master_url="local[2]").session()


@pytest.fixture(scope="session")
def shared_marketdata() -> Path:
    if not SHARED_MARKETDATA.is_dir():
        pytest.skip(f"real market data not found at {SHARED_MARKETDATA} (the ../shared/marketdata folder)")
    return SHARED_MARKETDATA
