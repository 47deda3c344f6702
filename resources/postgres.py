"""PostgreSQL through psycopg 3: the warehouse every asset writes to. A thin client: what it writes and how lives in
`trendfolio.warehouse`."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg
from dagster import ConfigurableResource

from trendfolio import warehouse
from trendfolio.migrations import migrate
from trendfolio.preflight import check_database


class PostgresResource(ConfigurableResource):
    """`database_url` is a libpq URL, e.g. postgresql://user:password@host:5432/trendfolio."""

    database_url: str

    def setup_for_execution(self, context) -> None:
        """A wrong DATABASE_URL fails the run at resource start, in one line, not in the middle of an asset."""
        check_database(self.database_url)

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        with warehouse.connect(self.database_url) as conn:
            yield conn

    def migrate(self) -> list[str]:
        return migrate(self.database_url)
