"""Stage 4a: the holdings of each session's trending ETFs, through Kafka into PostgreSQL."""

import pandas as pd
from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset

from assets.analytics_03_trending_etfs import analytics_03_trending_etfs
from assets.partitions import nyse_sessions, partition_sessions
from resources import KafkaResource, MarketDataResource, PostgresResource
from trendfolio.ingest import ingest
from trendfolio.tables import ETF_HOLDINGS
from trendfolio.validation import validate_holdings


@asset(
    partitions_def=nyse_sessions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[analytics_03_trending_etfs],
    group_name="collection",
    kinds={"kafka", "postgres"},
)
def collected_04_etf_holdings(
    context: AssetExecutionContext, market_data: MarketDataResource, kafka: KafkaResource, postgres: PostgresResource
) -> MaterializeResult:
    start, end, _ = partition_sessions(context)
    with postgres.connect() as conn:
        trending = conn.execute(
            "SELECT session_date, ticker FROM analytics_03_trending_etfs "
            "WHERE is_trending AND session_date BETWEEN %s AND %s ORDER BY session_date, ticker",
            (start, end),
        ).fetchall()
    source = market_data.client()
    frames = []
    for session_date, etf in trending:
        # Holdings carry the date they were fetched for: Yahoo gives no as-of date of its own.
        frames.append(source.etf_holdings(etf, session_date).assign(as_of_date=session_date))
    fetched = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["etf_ticker", "holding_ticker", "holding_name", "weight", "as_of_date"])
    checked = validate_holdings(fetched)
    rows = checked.valid.assign(source=source.name)
    report = ingest(ETF_HOLDINGS, rows, checked.rejected, kafka=kafka, postgres=postgres,
                    partition_date=end, source=source.name, run_id=context.run.run_id)
    return MaterializeResult(
        metadata={**report.metadata(), "source": source.name,
                  "trending_etf_sessions": len(trending),
                  "etfs": sorted({etf for _, etf in trending})}
    )
