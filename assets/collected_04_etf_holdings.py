"""Stage 4a: the holdings of each session's trending ETFs, through Kafka into PostgreSQL."""

import pandas as pd
from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

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
    # Holdings carry the date they were fetched for: Yahoo gives no as-of date of its own. Each list is validated on
    # its own: in a backfill the same ETF's lists of two sessions are not duplicates of each other.
    checks = [validate_holdings(source.etf_holdings(etf, session_date).assign(as_of_date=session_date))
              for session_date, etf in trending] or [validate_holdings(pd.DataFrame(
                  columns=["etf_ticker", "holding_ticker", "holding_name", "weight", "as_of_date"]))]
    rows = pd.concat([c.valid for c in checks], ignore_index=True).assign(source=source.name)
    rejected = [rejection for c in checks for rejection in c.rejected]
    report = ingest(ETF_HOLDINGS, rows, rejected, kafka=kafka, postgres=postgres,
                    partition_date=end, source=source.name, run_id=context.run.run_id)
    largest = rows.sort_values("weight", ascending=False).groupby(["as_of_date", "etf_ticker"], sort=True).head(3)
    largest = largest.sort_values(["as_of_date", "etf_ticker"], kind="stable").tail(30)
    preview = "\n".join(f"| {r.as_of_date} | {r.etf_ticker} | {r.holding_ticker} | {r.weight:.4f} |"
                         for r in largest.itertuples())
    return MaterializeResult(
        metadata={**report.metadata(), "source": source.name,
                  "trending_etf_sessions": len(trending),
                  "etfs": sorted({etf for _, etf in trending}),
                  "largest_holdings": MetadataValue.md(
                      f"Largest holdings of the trending ETFs (source: {source.name})\n\n"
                      f"| as of | ETF | holding | weight |\n|---|---|---|---|\n{preview}")}
    )
