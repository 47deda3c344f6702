"""The stack of a test session or a benchmark: PostgreSQL and the broker on free ports under a folder of its own (or
the external ones), a Spark Connect server when asked, and databases made and dropped on it."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse, urlunparse

import psycopg

from trendfolio import settings
from trendfolio.stack.broker import embedded_broker
from trendfolio.stack.host import free_port
from trendfolio.stack.postgres import embedded_postgres
from trendfolio.stack.spark import SparkConnectServer, spark_connect_server

@contextmanager
def private_stack(root: Path) -> Iterator[tuple[str, str]]:
    """PostgreSQL and the broker on free ports with their data under `root` — or the external ones DATABASE_URL and
    KAFKA_BOOTSTRAP_SERVERS name — for a test session or a benchmark, stopped afterwards.
    Yields (a URL of a database to CREATE DATABASE from, the bootstrap servers)."""
    pg = broker = None
    admin_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    paths = settings.LocalStackPaths(root)
    try:
        if not admin_url:
            pg = embedded_postgres(paths, port=free_port())
            pg.start()
            admin_url = settings.local_database_url("postgres", pg.port)
        if not bootstrap:
            broker = embedded_broker(paths, port=free_port())
            broker.start()
            bootstrap = f"127.0.0.1:{broker.port}"
        yield admin_url, bootstrap
    finally:
        if broker:
            broker.stop()
        if pg:
            pg.stop()


@contextmanager
def private_spark_connect(root: Path) -> Iterator[SparkConnectServer]:
    """A Spark Connect server on a free port with its files under `root` (the stack's), stopped afterwards."""
    server = spark_connect_server(settings.LocalStackPaths(root), port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def create_migrated_database(admin_url: str, name: str) -> str:
    """A new database on the server of `admin_url`, with the schema applied; its URL."""
    from trendfolio.migrations import migrate

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
    migrate(url)
    return url


def drop_database(admin_url: str, url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{urlparse(url).path.lstrip("/")}" WITH (FORCE)')
