"""Stage 4b: the daily history of every stock held by a trending ETF, through Kafka into PostgreSQL: the history its
measures need before each session it is held on, and its prices until the longest horizon of a portfolio built on that
session has elapsed (so every portfolio can be evaluated)."""

import pandas as pd
from dagster import AssetExecutionContext, BackfillPolicy, Config, MaterializeResult, asset
from pydantic import Field

from assets.collected_04_etf_holdings import collected_04_etf_holdings
from assets.collection import Collection, Fetched
from assets.collection_checks import ohlc_check_results, ohlc_check_specs
from assets.partitions import nyse_sessions
from assets.table_metadata import table_metadata
from resources import KafkaResource, MarketDataResource, PostgresResource
from trendfolio.analytics.allocation import LOOKBACK_SESSIONS, PORTFOLIO_HORIZONS, AllocationRule
from trendfolio.collect import (
    in_windows,
    previous_closes,
    price_fetch_start,
    stock_price_windows,
    windows_end,
)
from trendfolio.sources import OHLC_COLUMNS, refused_by_source
from trendfolio.tables import DAILY_STOCK_HISTORY
from trendfolio.validation import validate_ohlc

CHECKS = ohlc_check_specs("collected_06_daily_stock_history")
EVALUATION_SESSIONS = max(PORTFOLIO_HORIZONS)


class HeldStocksConfig(Config):
    max_holdings_age_days: int = Field(
        default=AllocationRule().max_holdings_age_days,
        description="holdings lists older than this (calendar days) are not used; keep equal to analytics_05's")


class HeldStockPrices(Collection):
    """Every stock a trending ETF holds, over the history the allocation needs before each session it is held."""

    table = DAILY_STOCK_HISTORY
    check_names = [c.name for c in CHECKS]

    def wanted(self, conn):
        self.windows, ran = stock_price_windows(conn, self.sessions, LOOKBACK_SESSIONS, EVALUATION_SESSIONS,
                                                self.max_holdings_age_days)
        self.tickers = sorted(self.windows)
        self.fetch_through = windows_end(self.windows, self.end)
        # A stock is expected on the sessions run of its spans: held, or within the horizon of a portfolio that held it.
        self.expected = [(stock, session) for stock in self.tickers for session in ran
                         if session >= self.start and in_windows(self.windows, stock, session)]
        return self.expected

    def prepare(self, conn):
        self.fetch_from = price_fetch_start(conn, self.table.name, self.tickers, self.start, LOOKBACK_SESSIONS) \
            if self.tickers else self.start

    def fetch(self):
        fetched = self.source.daily_ohlc(self.tickers, self.fetch_from, self.fetch_through) if self.tickers \
            else pd.DataFrame(columns=OHLC_COLUMNS)
        refused, self.unreadable = refused_by_source(self.source)
        with self.postgres.connect() as conn:
            before = previous_closes(conn, self.table.name, fetched)
        # Nothing after the last session a run has been through: no look-ahead beyond one backfill over them all.
        checked = validate_ohlc(fetched, partition_date=self.fetch_through, universe=self.tickers,
                                previous_close=before)
        self.refused_by_validation, self.fetched_rows = checked.rejected, len(fetched)
        # A backfill fetches the range in one batch; a stock keeps only its spans (held_price_windows).
        valid = checked.valid
        held_for = pd.Series([in_windows(self.windows, t, day) for t, day in zip(valid["ticker"], valid["trade_date"])],
                             index=valid.index, dtype=bool)
        return Fetched(valid.loc[held_for].assign(source=self.source.name), checked.rejected + refused)

    def checks(self, conn):
        return ohlc_check_results(conn, self.table.name, self.expected, self.start, self.end,
                                  self.refused_by_validation, self.fetched_rows)

    def skipped_metadata(self, checks):
        return {"tickers": len(self.tickers), "tickers_missing": checks[0].metadata["tickers_missing"].value}

    def metadata(self, fetched, checks):
        # A ticker the source has nothing for at all is missing; one with gaps shows in the check's list.
        absent = sorted(set(self.tickers) - set(fetched.rows["ticker"]))
        return {"tickers": len(self.tickers), "fetched_from": self.fetch_from.isoformat(), "tickers_missing": absent,
                "tickers_unreadable": self.unreadable}


@asset(
    partitions_def=nyse_sessions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[collected_04_etf_holdings],
    group_name="collection",
    kinds={"kafka", "postgres"},
    check_specs=CHECKS,
    description=DAILY_STOCK_HISTORY.description,
    metadata=table_metadata(DAILY_STOCK_HISTORY),
)
def collected_06_daily_stock_history(
    context: AssetExecutionContext, config: HeldStocksConfig, market_data: MarketDataResource, kafka: KafkaResource,
    postgres: PostgresResource,
) -> MaterializeResult:
    return HeldStockPrices.run(context, market_data, kafka, postgres,
                               max_holdings_age_days=config.max_holdings_age_days)
