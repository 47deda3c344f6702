"""Stage 4a: the holdings of each session's trending ETFs, through Kafka into PostgreSQL."""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.analytics_03_trending_etfs import analytics_03_trending_etfs
from assets.collection_checks import HOLDINGS_WEIGHTS_AT_MOST_ONE, already_collected_metadata, market_closed
from assets.partitions import nyse_sessions, partition_sessions
from assets.table_metadata import table_metadata
from resources import KafkaResource, MarketDataResource, PostgresResource
from trendfolio import quality
from trendfolio.collect import already_collected, record_fetches
from trendfolio.ingest import ingest
from trendfolio.sources import HOLDINGS_COLUMNS
from trendfolio.tables import ETF_HOLDINGS
from trendfolio.validation import validate_holdings

CHECKS = [AssetCheckSpec(HOLDINGS_WEIGHTS_AT_MOST_ONE, asset="collected_04_etf_holdings",
                         description="the weights of each ETF's list on each date sum to at most 1")]


def weights_check(conn, start, end) -> AssetCheckResult:
    over_one = quality.holdings_over_one(conn, start, end)
    return AssetCheckResult(check_name=HOLDINGS_WEIGHTS_AT_MOST_ONE, passed=not over_one,
                            metadata={"lists_over_one": [f"{etf} {day}: {total}" for etf, day, total in over_one]})


@asset(
    partitions_def=nyse_sessions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[analytics_03_trending_etfs],
    group_name="collection",
    kinds={"kafka", "postgres"},
    check_specs=CHECKS,
    description=ETF_HOLDINGS.description,
    metadata=table_metadata(ETF_HOLDINGS),
)
def collected_04_etf_holdings(
    context: AssetExecutionContext, market_data: MarketDataResource, kafka: KafkaResource, postgres: PostgresResource
) -> MaterializeResult:
    start, end, sessions = partition_sessions(context)
    source = market_data.client()
    if not sessions:
        return market_closed(start, end, [c.name for c in CHECKS], source.name)
    with postgres.connect() as conn:
        trending = conn.execute(
            "SELECT session_date, ticker FROM analytics_03_trending_etfs "
            "WHERE is_trending AND session_date BETWEEN %s AND %s ORDER BY session_date, ticker",
            (start, end),
        ).fetchall()
        wanted = [(etf, session_date) for session_date, etf in trending]
        if already_collected(conn, ETF_HOLDINGS.name, wanted):
            return MaterializeResult(metadata=already_collected_metadata(source.name, len(wanted)),
                                     check_results=[weights_check(conn, start, end)])
    frames = []
    for session_date, etf in trending:
        # Holdings carry the date they were fetched for: Yahoo gives no as-of date of its own.
        frames.append(source.etf_holdings(etf, session_date).assign(as_of_date=session_date))
    fetched = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=[*HOLDINGS_COLUMNS, "as_of_date"])
    checked = validate_holdings(fetched, requested=[(etf, day) for day, etf in trending])
    rows = checked.valid.assign(source=source.name)
    report = ingest(ETF_HOLDINGS, rows, checked.rejected, kafka=kafka, database_url=postgres.database_url,
                    partition_date=end, source=source.name, run_id=context.run.run_id)
    with postgres.connect() as conn:
        record_fetches(conn, ETF_HOLDINGS.name, wanted, source.name)
        check = weights_check(conn, start, end)
    empty = sorted({r.record_key for r in checked.rejected if r.rule == "empty_holdings"})
    largest = rows.sort_values("weight", ascending=False).groupby(["as_of_date", "etf_ticker"], sort=True).head(3)
    largest = largest.sort_values(["as_of_date", "etf_ticker"], kind="stable").tail(30)
    preview = "\n".join(f"| {r.as_of_date} | {r.etf_ticker} | {r.holding_ticker} | {r.weight:.4f} |"
                         for r in largest.itertuples())
    return MaterializeResult(
        metadata={**report.metadata(), "source": source.name,
                  "trending_etf_sessions": len(trending),
                  "etfs": sorted({etf for _, etf in trending}),
                  "tickers_missing": empty,
                  "largest_holdings": MetadataValue.md(
                      f"Largest holdings of the trending ETFs (source: {source.name})\n\n"
                      f"| as of | ETF | holding | weight |\n|---|---|---|---|\n{preview}")},
        check_results=[check],
    )
