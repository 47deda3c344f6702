"""Stages 1 and 2: daily OHLC of the benchmark and sector ETFs, through Kafka into PostgreSQL."""

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset

from assets.collection import Collection, Fetched
from assets.collection_checks import ohlc_check_results, ohlc_check_specs
from assets.partitions import nyse_sessions
from assets.table_metadata import table_metadata
from resources import KafkaResource, MarketDataResource, PostgresResource
from trendfolio.analytics.trending import LOOKBACK_SESSIONS
from trendfolio.collect import previous_closes, price_fetch_start
from trendfolio.sources import refused_by_source
from trendfolio.tables import DAILY_ETF_OHLC
from trendfolio.universe import listed_on
from trendfolio.validation import validate_ohlc

CHECKS = ohlc_check_specs("collected_01_daily_etf_ohlc")


class EtfPrices(Collection):
    """Every ETF of the universe on every session it trades, with the history the trend rule needs before the first
    one."""

    table = DAILY_ETF_OHLC
    check_names = [c.name for c in CHECKS]

    @property
    def tickers(self) -> list[str]:
        """The ETFs trading by the run's last session."""
        return [ticker for ticker in self.universe.etfs if listed_on(ticker, self.end)]

    def wanted(self, conn):
        return [(ticker, session) for ticker in self.tickers for session in self.sessions if listed_on(ticker, session)]

    def prepare(self, conn):
        self.fetch_from = price_fetch_start(conn, self.table.name, self.tickers, self.start, LOOKBACK_SESSIONS)

    def fetch(self):
        fetched = self.source.daily_ohlc(self.tickers, self.fetch_from, self.end)
        refused, self.unreadable = refused_by_source(self.source)
        with self.postgres.connect() as conn:
            before = previous_closes(conn, self.table.name, fetched)
        checked = validate_ohlc(fetched, partition_date=self.end, universe=self.tickers, previous_close=before)
        self.refused_by_validation, self.fetched_rows = checked.rejected, len(fetched)
        rows = checked.valid.assign(etf_role=checked.valid["ticker"].map(self.universe.role), source=self.source.name)
        return Fetched(rows, checked.rejected + refused)

    def checks(self, conn):
        return ohlc_check_results(conn, self.table.name, self.wanted(conn), self.start, self.end,
                                  self.refused_by_validation, self.fetched_rows)

    def skipped_metadata(self, checks):
        return {"tickers_missing": checks[0].metadata["tickers_missing"].value}

    def metadata(self, fetched, checks):
        return {"fetched_from": self.fetch_from.isoformat(), "sessions": len(self.sessions),
                "tickers_missing": checks[0].metadata["tickers_missing"].value, "tickers_unreadable": self.unreadable}


@asset(
    partitions_def=nyse_sessions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="collection",
    kinds={"kafka", "postgres"},
    check_specs=CHECKS,
    description=DAILY_ETF_OHLC.description,
    metadata=table_metadata(DAILY_ETF_OHLC),
)
def collected_01_daily_etf_ohlc(
    context: AssetExecutionContext, market_data: MarketDataResource, kafka: KafkaResource, postgres: PostgresResource
) -> MaterializeResult:
    return EtfPrices.run(context, market_data, kafka, postgres)
