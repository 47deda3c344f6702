"""Stage 4b: the daily history of every stock held by a trending ETF, through Kafka into PostgreSQL."""

import pandas as pd
from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset

from assets.collected_04_etf_holdings import collected_04_etf_holdings
from assets.collection import Collection, Fetched
from assets.collection_checks import ohlc_check_results, ohlc_check_specs
from assets.partitions import nyse_sessions
from assets.table_metadata import table_metadata
from resources import KafkaResource, MarketDataResource, PostgresResource
from trendfolio.analytics.allocation import LOOKBACK_SESSIONS
from trendfolio.collect import held_price_windows, previous_closes, price_fetch_start
from trendfolio.sources import OHLC_COLUMNS, refused_by_source
from trendfolio.tables import DAILY_STOCK_HISTORY
from trendfolio.validation import validate_ohlc

CHECKS = ohlc_check_specs("collected_06_daily_stock_history")


class HeldStockPrices(Collection):
    """Every stock a trending ETF holds, over the history the allocation needs before each session it is held."""

    table = DAILY_STOCK_HISTORY
    check_names = [c.name for c in CHECKS]

    def wanted(self, conn):
        held = conn.execute(
            "SELECT DISTINCT as_of_date, holding_ticker FROM collected_04_etf_holdings "
            "WHERE as_of_date BETWEEN %s AND %s ORDER BY 2, 1", (self.start, self.end),
        ).fetchall()
        self.windows = held_price_windows(held, LOOKBACK_SESSIONS)
        self.tickers = sorted(self.windows)
        self.held = [(stock, session) for session, stock in held]  # a stock is expected only while held
        return self.held

    def prepare(self, conn):
        self.fetch_from = price_fetch_start(conn, self.table.name, self.tickers, self.start, LOOKBACK_SESSIONS) \
            if self.tickers else self.start
        self.before = previous_closes(conn, self.table.name, self.tickers, self.fetch_from)

    def fetch(self):
        fetched = self.source.daily_ohlc(self.tickers, self.fetch_from, self.end) if self.tickers \
            else pd.DataFrame(columns=OHLC_COLUMNS)
        refused, self.unreadable = refused_by_source(self.source)
        checked = validate_ohlc(fetched, partition_date=self.end, universe=self.tickers, previous_close=self.before)
        # A backfill fetches the range in one batch; a stock keeps only the dates it is held for (held_price_windows).
        valid, windows = checked.valid, self.windows
        held_for = pd.Series([windows[t][0] <= day <= windows[t][1]
                              for t, day in zip(valid["ticker"], valid["trade_date"])], index=valid.index, dtype=bool)
        return Fetched(valid.loc[held_for].assign(source=self.source.name), checked.rejected + refused)

    def checks(self, conn):
        return ohlc_check_results(conn, self.table.name, self.held, self.start, self.end)

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
    context: AssetExecutionContext, market_data: MarketDataResource, kafka: KafkaResource, postgres: PostgresResource
) -> MaterializeResult:
    return HeldStockPrices.run(context, market_data, kafka, postgres)
