"""Market-data sources. Each returns pandas frames of daily OHLC and ETF holdings as the source had them on a date."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import pandas as pd

from trendfolio.tables import DAILY_STOCK_HISTORY, ETF_HOLDINGS

# What a source returns: the collected tables' columns without what the pipeline adds (source, the holdings' date).
OHLC_COLUMNS = [column for column in DAILY_STOCK_HISTORY.columns if column != "source"]
HOLDINGS_COLUMNS = [column for column in ETF_HOLDINGS.columns if column not in ("as_of_date", "source")]
SOURCE_NAMES = ("synthetic", "replay", "yfinance")


class MarketDataSource(Protocol):
    name: str

    def daily_ohlc(self, tickers: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Columns ticker, trade_date, open, high, low, close, adj_close, volume; sessions in [start, end]."""

    def etf_holdings(self, etf: str, as_of: dt.date) -> pd.DataFrame:
        """Columns etf_ticker, holding_ticker, holding_name, weight (a fraction), as known on `as_of`."""


def refused_by_source(source: MarketDataSource) -> tuple[list, dict[str, str]]:
    """What the source itself could not read in its last `daily_ohlc` call: dead letters (validation Rejections) and
    {ticker: reason} for the tickers it has no readable data for. Only the replay source reads files that can be
    malformed (`last_refused`, `last_unreadable`); the others report nothing here."""
    return list(getattr(source, "last_refused", [])), dict(getattr(source, "last_unreadable", {}))


def make_source(name: str, **options) -> MarketDataSource:
    if name == "synthetic":
        from trendfolio.sources.synthetic import SyntheticSource

        return SyntheticSource(**options)
    if name == "replay":
        from trendfolio.sources.replay import ReplaySource

        return ReplaySource(**options)
    if name == "yfinance":
        from trendfolio.sources.yahoo import YahooSource

        return YahooSource(**options)
    raise ValueError(f"unknown market-data source {name!r}: use {', '.join(SOURCE_NAMES)}")
