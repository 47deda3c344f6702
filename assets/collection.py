"""The skeleton every collection asset runs: skip a night already collected, fetch the window, validate, ingest
through Kafka, record what was fetched, check. An asset says only what differs: what it wants, how it fetches, its
checks and its metadata (a `Collection` subclass)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from dagster import AssetCheckResult, AssetExecutionContext, MaterializeResult

from assets.collection_checks import already_collected_metadata, market_closed
from assets.partitions import partition_sessions
from resources import KafkaResource, MarketDataResource, PostgresResource
from trendfolio.collect import already_collected, record_fetches, require_rows
from trendfolio.ingest import IngestReport, ingest
from trendfolio.sources import MarketDataSource
from trendfolio.tables import Table
from trendfolio.validation import Rejection


@dataclass
class Fetched:
    """What a run asked its source for, after validation: the rows to write and the rows refused."""

    rows: pd.DataFrame
    rejected: list[Rejection] = field(default_factory=list)


class Collection:
    """One run of a collection asset over the sessions [start, end]. Subclasses fill in the hooks; `run` is the
    order they are called in, the same for every collected table."""

    table: Table
    check_names: list[str]
    stores_every_session = True  # a session for which no wanted pair stored a row fails the run (`require_rows`)

    refused_by_validation: list[Rejection] = []  # what `fetch` refused, out of `fetched_rows`, for the checks
    fetched_rows = 0

    def __init__(self, start: dt.date, end: dt.date, sessions: list[dt.date], source: MarketDataSource,
                 postgres: PostgresResource, **options) -> None:
        """`options`: the asset's run config and the run's `universe` (trendfolio.universe.Universe), as attributes."""
        self.start, self.end, self.sessions, self.source, self.postgres = start, end, sessions, source, postgres
        for name, value in options.items():
            setattr(self, name, value)

    def wanted(self, conn) -> list[tuple[str, dt.date]]:
        """Every (ticker, session) the run must settle, read before the source is asked anything."""
        raise NotImplementedError

    def prepare(self, conn) -> None:
        """What the fetch needs from PostgreSQL (its window, the previous closes), read when the run is not skipped."""

    def fetch(self) -> Fetched:
        """Ask the source and validate what it gave."""
        raise NotImplementedError

    def checks(self, conn) -> list[AssetCheckResult]:
        raise NotImplementedError

    def skipped_metadata(self, checks: list[AssetCheckResult]) -> dict:
        """Metadata a skipped run adds to `already_collected_metadata`."""
        return {}

    def metadata(self, fetched: Fetched, checks: list[AssetCheckResult]) -> dict:
        """Metadata a run that wrote adds to the ingest report's."""
        return {}

    @classmethod
    def run(cls, context: AssetExecutionContext, market_data: MarketDataResource, kafka: KafkaResource,
            postgres: PostgresResource, **options) -> MaterializeResult:
        start, end, sessions = partition_sessions(context)
        source = market_data.client()
        if not sessions:
            return market_closed(start, end, cls.check_names, source.name)
        night = cls(start, end, sessions, source, postgres, universe=market_data.universe(), **options)
        with postgres.connect() as conn:
            wanted = night.wanted(conn)
            if already_collected(conn, cls.table.name, wanted):
                checks = night.checks(conn)
                return MaterializeResult(
                    metadata={**already_collected_metadata(source.name, len(wanted)), **night.skipped_metadata(checks)},
                    check_results=checks)
            night.prepare(conn)
        fetched = night.fetch()
        report: IngestReport = ingest(
            cls.table, fetched.rows, fetched.rejected, kafka=kafka, database_url=postgres.database_url,
            partition_date=end, source=source.name, run_id=context.run.run_id)
        with postgres.connect() as conn:
            if cls.stores_every_session:
                require_rows(conn, cls.table.name, wanted, source.name)
            record_fetches(conn, cls.table.name, wanted, source.name)
            checks = night.checks(conn)
        return MaterializeResult(
            metadata={**report.metadata(), "source": source.name, **night.metadata(fetched, checks)},
            check_results=checks)
