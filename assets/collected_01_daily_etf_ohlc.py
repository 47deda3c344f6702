"""Stages 1 and 2: daily OHLC of the benchmark and sector ETFs, through Kafka into PostgreSQL."""

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset

from assets.collection_checks import already_collected_metadata, market_closed, ohlc_check_results, ohlc_check_specs
from assets.partitions import nyse_sessions, partition_sessions
from assets.table_metadata import table_metadata
from resources import KafkaResource, MarketDataResource, PostgresResource
from trendfolio.analytics.trending import LOOKBACK_SESSIONS
from trendfolio.collect import (
    already_collected,
    previous_closes,
    price_fetch_start,
    record_fetches,
    require_rows,
)
from trendfolio.ingest import ingest
from trendfolio.sources import refused_by_source
from trendfolio.tables import DAILY_ETF_OHLC
from trendfolio.universe import ALL_ETFS, etf_role
from trendfolio.validation import validate_ohlc

CHECKS = ohlc_check_specs("collected_01_daily_etf_ohlc")


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
    start, end, sessions = partition_sessions(context)
    source = market_data.client()
    if not sessions:
        return market_closed(start, end, [c.name for c in CHECKS], source.name)
    tickers = list(ALL_ETFS)
    wanted = [(ticker, session) for ticker in tickers for session in sessions]
    with postgres.connect() as conn:
        if already_collected(conn, DAILY_ETF_OHLC.name, wanted):
            checks = ohlc_check_results(conn, DAILY_ETF_OHLC.name, wanted, start, end)
            return MaterializeResult(
                metadata={**already_collected_metadata(source.name, len(wanted)),
                          "tickers_missing": checks[0].metadata["tickers_missing"].value},
                check_results=checks)
        fetch_from = price_fetch_start(conn, DAILY_ETF_OHLC.name, tickers, start, LOOKBACK_SESSIONS)
        before = previous_closes(conn, DAILY_ETF_OHLC.name, tickers, fetch_from)
    fetched = source.daily_ohlc(tickers, fetch_from, end)
    refused, unreadable = refused_by_source(source)
    checked = validate_ohlc(fetched, partition_date=end, universe=tickers, previous_close=before)
    rows = checked.valid.assign(etf_role=checked.valid["ticker"].map(etf_role), source=source.name)
    report = ingest(DAILY_ETF_OHLC, rows, checked.rejected + refused, kafka=kafka, database_url=postgres.database_url,
                    partition_date=end, source=source.name, run_id=context.run.run_id)
    with postgres.connect() as conn:
        require_rows(conn, DAILY_ETF_OHLC.name, wanted, source.name)
        record_fetches(conn, DAILY_ETF_OHLC.name, wanted, source.name)
        checks = ohlc_check_results(conn, DAILY_ETF_OHLC.name, wanted, start, end)
    return MaterializeResult(
        metadata={**report.metadata(), "source": source.name, "fetched_from": fetch_from.isoformat(),
                  "sessions": len(sessions), "tickers_missing": checks[0].metadata["tickers_missing"].value,
                  "tickers_unreadable": unreadable},
        check_results=checks,
    )
