"""Stage 4b: the daily history of every stock held by a trending ETF, through Kafka into PostgreSQL."""

import pandas as pd
from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset

from assets.collected_04_etf_holdings import collected_04_etf_holdings
from assets.collection_checks import already_collected_metadata, market_closed, ohlc_check_results, ohlc_check_specs
from assets.partitions import nyse_sessions, partition_sessions
from assets.table_metadata import table_metadata
from resources import KafkaResource, MarketDataResource, PostgresResource
from trendfolio.analytics.allocation import LOOKBACK_SESSIONS
from trendfolio.collect import (
    already_collected,
    held_price_windows,
    previous_closes,
    price_fetch_start,
    record_fetches,
    require_rows,
)
from trendfolio.ingest import ingest
from trendfolio.sources import OHLC_COLUMNS, refused_by_source
from trendfolio.tables import DAILY_STOCK_HISTORY
from trendfolio.validation import validate_ohlc

CHECKS = ohlc_check_specs("collected_06_daily_stock_history")


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
    start, end, sessions = partition_sessions(context)
    source = market_data.client()
    if not sessions:
        return market_closed(start, end, [c.name for c in CHECKS], source.name)
    with postgres.connect() as conn:
        held = conn.execute(
            "SELECT DISTINCT as_of_date, holding_ticker FROM collected_04_etf_holdings "
            "WHERE as_of_date BETWEEN %s AND %s ORDER BY 2, 1", (start, end),
        ).fetchall()
        windows = held_price_windows(held, LOOKBACK_SESSIONS)
        tickers = sorted(windows)
        wanted = [(stock, session) for session, stock in held]
        if already_collected(conn, DAILY_STOCK_HISTORY.name, wanted):
            checks = ohlc_check_results(conn, DAILY_STOCK_HISTORY.name, wanted, start, end)
            return MaterializeResult(
                metadata={**already_collected_metadata(source.name, len(wanted)), "tickers": len(tickers), 
                          "tickers_missing": checks[0].metadata["tickers_missing"].value},
                check_results=checks)
        fetch_from = price_fetch_start(conn, DAILY_STOCK_HISTORY.name, tickers, start, LOOKBACK_SESSIONS) \
            if tickers else start
        before = previous_closes(conn, DAILY_STOCK_HISTORY.name, tickers, fetch_from)
    fetched = source.daily_ohlc(tickers, fetch_from, end) if tickers else pd.DataFrame(columns=OHLC_COLUMNS)
    refused, unreadable = refused_by_source(source)
    checked = validate_ohlc(fetched, partition_date=end, universe=tickers, previous_close=before)
    # A backfill fetches the range in one batch; a stock keeps only the dates it is held for (see held_price_windows).
    valid = checked.valid
    held_for = pd.Series([windows[t][0] <= day <= windows[t][1]
                          for t, day in zip(valid["ticker"], valid["trade_date"])], index=valid.index, dtype=bool)
    rows = valid.loc[held_for].assign(source=source.name)
    report = ingest(DAILY_STOCK_HISTORY, rows, checked.rejected + refused, kafka=kafka,
                    database_url=postgres.database_url,
                    partition_date=end, source=source.name, run_id=context.run.run_id)
    with postgres.connect() as conn:
        require_rows(conn, DAILY_STOCK_HISTORY.name, wanted, source.name)
        record_fetches(conn, DAILY_STOCK_HISTORY.name, wanted, source.name)
        checks = ohlc_check_results(conn, DAILY_STOCK_HISTORY.name, wanted, start, end)
    # A ticker the source has nothing for at all is missing; one with gaps shows in the check's list.
    absent = sorted(set(tickers) - set(rows["ticker"]))
    return MaterializeResult(
        metadata={**report.metadata(), "source": source.name,
                  "tickers": len(tickers), "fetched_from": fetch_from.isoformat(), "tickers_missing": absent,
                  "tickers_unreadable": unreadable},
        check_results=checks,
    )
