"""Stages 1 and 2: daily OHLC of the benchmark and sector ETFs, through Kafka into PostgreSQL."""

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    asset,
)

from assets.partitions import nyse_sessions, partition_sessions
from resources import KafkaResource, MarketDataResource, PostgresResource
from trendfolio.analytics.trending import LOOKBACK_SESSIONS
from trendfolio.collect import price_fetch_start
from trendfolio.ingest import ingest
from trendfolio.tables import DAILY_ETF_OHLC
from trendfolio.universe import ALL_ETFS, etf_role
from trendfolio.validation import validate_ohlc

EVERY_ETF_HAS_ITS_SESSIONS = "every_etf_has_its_sessions"


@asset(
    partitions_def=nyse_sessions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="collection",
    kinds={"kafka", "postgres"},
    check_specs=[AssetCheckSpec(EVERY_ETF_HAS_ITS_SESSIONS, asset="collected_01_daily_etf_ohlc")],
)
def collected_01_daily_etf_ohlc(
    context: AssetExecutionContext, market_data: MarketDataResource, kafka: KafkaResource, postgres: PostgresResource
) -> MaterializeResult:
    start, end, sessions = partition_sessions(context)
    tickers = list(ALL_ETFS)
    with postgres.connect() as conn:
        fetch_from = price_fetch_start(conn, DAILY_ETF_OHLC.name, tickers, start, LOOKBACK_SESSIONS)
    source = market_data.client()
    fetched = source.daily_ohlc(tickers, fetch_from, end)
    checked = validate_ohlc(fetched, partition_date=end)
    rows = checked.valid.assign(etf_role=checked.valid["ticker"].map(etf_role), source=source.name)
    report = ingest(DAILY_ETF_OHLC, rows, checked.rejected, kafka=kafka, postgres=postgres,
                    partition_date=end, source=source.name, run_id=context.run.run_id)
    with postgres.connect() as conn:
        present = conn.execute(
            "SELECT ticker, count(*) FROM collected_01_daily_etf_ohlc WHERE trade_date BETWEEN %s AND %s "
            "GROUP BY ticker", (start, end),
        ).fetchall()
    counts = dict(present)
    missing = sorted(t for t in tickers if counts.get(t, 0) < len(sessions))
    return MaterializeResult(
        metadata={**report.metadata(), "source": source.name, "fetched_from": fetch_from.isoformat(),
                  "sessions": len(sessions), "tickers_missing": missing},
        check_results=[
            AssetCheckResult(
                check_name=EVERY_ETF_HAS_ITS_SESSIONS, passed=not missing,
                metadata={"tickers_missing": missing, "sessions": len(sessions)},
            )
        ],
    )
