"""Stage 4a: the holdings of each session's trending ETFs, through Kafka into PostgreSQL."""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.analytics_03_trending_etfs import analytics_03_trending_etfs
from assets.collection import Collection, Fetched
from assets.collection_checks import HOLDINGS_WEIGHTS_AT_MOST_ONE
from assets.partitions import nyse_sessions
from assets.table_metadata import table_metadata
from resources import KafkaResource, MarketDataResource, PostgresResource
from trendfolio import quality
from trendfolio.analytics.allocation import AllocationRule
from trendfolio.collect import stale_lists
from trendfolio.sources import HOLDINGS_COLUMNS
from trendfolio.tables import ETF_HOLDINGS
from trendfolio.validation import validate_holdings

HOLDINGS_NOT_STALE = "holdings_not_stale"
MAX_HOLDINGS_AGE_DAYS = AllocationRule().max_holdings_age_days
CHECKS = [AssetCheckSpec(HOLDINGS_NOT_STALE, asset="collected_04_etf_holdings",
                         description=f"every trending ETF has a holdings list at most {MAX_HOLDINGS_AGE_DAYS} days "
                                     "older than the session (warn: an older list is not used, the ETF gets no stocks)"),
          AssetCheckSpec(HOLDINGS_WEIGHTS_AT_MOST_ONE, asset="collected_04_etf_holdings", blocking=True,
                         description="the weights of each ETF's list on each date sum to at most 1")]


def staleness_check(conn, start, end) -> AssetCheckResult:
    stale = stale_lists(conn, start, end, MAX_HOLDINGS_AGE_DAYS)
    return AssetCheckResult(check_name=HOLDINGS_NOT_STALE, passed=not stale, severity=AssetCheckSeverity.WARN,
                            metadata={"stale_or_missing": [f"{day} {etf}: latest list {as_of or 'none'}"
                                                           for day, etf, as_of in stale[:50]],
                                      "max_holdings_age_days": MAX_HOLDINGS_AGE_DAYS})


def weights_check(conn, start, end) -> AssetCheckResult:
    over_one = quality.holdings_over_one(conn, start, end)
    return AssetCheckResult(check_name=HOLDINGS_WEIGHTS_AT_MOST_ONE, passed=not over_one, severity=AssetCheckSeverity.ERROR,
                            metadata={"lists_over_one": [f"{etf} {day}: {total}" for etf, day, total in over_one]})


class TrendingEtfHoldings(Collection):
    """The holdings list of each trending ETF on each session it trends."""

    table = ETF_HOLDINGS
    check_names = [c.name for c in CHECKS]
    stores_every_session = False  # a session may have no trending ETF; an empty list is a dead letter, not a failure

    def wanted(self, conn):
        self.trending = conn.execute(
            "SELECT session_date, ticker FROM analytics_03_trending_etfs "
            "WHERE is_trending AND session_date BETWEEN %s AND %s ORDER BY session_date, ticker",
            (self.start, self.end),
        ).fetchall()
        return [(etf, session_date) for session_date, etf in self.trending]

    def fetch(self):
        frames, requested = [], []
        for session_date, etf in self.trending:
            listed = self.source.etf_holdings(etf, session_date)
            # A list carries its true date when the source knows it (replay's snapshot date); Yahoo gives none, so
            # its lists carry the date they were fetched for. Sessions sharing one snapshot store it once.
            if "as_of_date" not in listed.columns or listed.empty:
                listed = listed.assign(as_of_date=session_date)
            as_of = listed["as_of_date"].iloc[0] if not listed.empty else session_date
            if (etf, as_of) in requested:
                continue
            requested.append((etf, as_of))
            frames.append(listed)
        fetched = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=[*HOLDINGS_COLUMNS, "as_of_date"])
        checked = validate_holdings(fetched, requested=requested)
        return Fetched(checked.valid.assign(source=self.source.name), checked.rejected)

    def checks(self, conn):
        return [staleness_check(conn, self.start, self.end), weights_check(conn, self.start, self.end)]

    def metadata(self, fetched, checks):
        rows = fetched.rows
        empty = sorted({r.record_key for r in fetched.rejected if r.rule == "empty_holdings"})
        largest = rows.sort_values("weight", ascending=False).groupby(["as_of_date", "etf_ticker"], sort=True).head(3)
        largest = largest.sort_values(["as_of_date", "etf_ticker"], kind="stable").tail(30)
        preview = "\n".join(f"| {r.as_of_date} | {r.etf_ticker} | {r.holding_ticker} | {r.weight:.4f} |"
                             for r in largest.itertuples())
        return {"trending_etf_sessions": len(self.trending),
                "etfs": sorted({etf for _, etf in self.trending}),
                "tickers_missing": empty,
                "largest_holdings": MetadataValue.md(
                    f"Largest holdings of the trending ETFs (source: {self.source.name})\n\n"
                    f"| as of | ETF | holding | weight |\n|---|---|---|---|\n{preview}")}


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
    return TrendingEtfHoldings.run(context, market_data, kafka, postgres)
