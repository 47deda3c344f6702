"""Market-data sources. Each returns pandas frames of daily OHLC and ETF holdings as the source had them on a date."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import pandas as pd

from trendfolio.settings import SettingInvalid
from trendfolio.tables import DAILY_STOCK_HISTORY, ETF_HOLDINGS
from trendfolio.universe import HOLDINGS_PER_ETF_VARIABLE

# What a source returns: the collected tables' columns without what the pipeline adds (source, the holdings' date).
OHLC_COLUMNS = [column for column in DAILY_STOCK_HISTORY.columns if column != "source"]
HOLDINGS_COLUMNS = [column for column in ETF_HOLDINGS.columns if column not in ("as_of_date", "source")]
SOURCE_NAMES = ("synthetic", "replay", "yfinance")
# The most holdings per ETF a source can list: Yahoo's topHoldings (yfinance's funds_data.top_holdings) has 10.
MOST_HOLDINGS_PER_ETF = {"yfinance": 10}


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


def check_holdings_per_etf(name: str, top_n: int) -> None:
    """SettingInvalid, in one line, when the source cannot list `top_n` holdings per ETF."""
    most = MOST_HOLDINGS_PER_ETF.get(name)
    if most is not None and top_n > most:
        raise SettingInvalid(f"{HOLDINGS_PER_ETF_VARIABLE}={top_n}: the {name} source lists at most {most} holdings per "
                             f"ETF; use {most} or fewer, or another source")


def make_source(name: str, **options) -> MarketDataSource:
    """`options`: the source's own (its constructor's keywords); `top_n` (holdings per ETF) is checked against what
    the source can list."""
    if options.get("top_n"):
        check_holdings_per_etf(name, options["top_n"])
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
