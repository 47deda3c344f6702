"""Loads real prices and holdings from ../shared/marketdata straight into the collected tables (source 'replay'),
for the analytics tests: the CSVs as pandas frames, so the reference implementation reads exactly what Spark reads."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg

ETFS = ("SPY", "QQQ", "DIA", "IWM", "XLK", "XLF", "XLE", "XLV", "XLY", "XLP", "XLI", "XLB", "XLU", "XLRE", "XLC")
SECTORS = ETFS[4:]
TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")


@dataclass
class MarketData:
    etf_prices: pd.DataFrame  # ticker, trade_date, etf_role, open, high, low, close, adj_close, volume
    stock_prices: pd.DataFrame  # ticker, trade_date, open, high, low, close, adj_close, volume
    holdings: pd.DataFrame  # etf_ticker, as_of_date, holding_ticker, weight


def read_marketdata(root: Path, first: dt.date, last: dt.date) -> MarketData:
    etfs = []
    for ticker in ETFS:
        frame = pd.read_csv(root / "phainia_notification" / f"{ticker}.csv").rename(
            columns={"date": "trade_date", "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"})
        frame["ticker"] = ticker
        frame["etf_role"] = "sector" if ticker in SECTORS else "benchmark"
        etfs.append(frame)
    stocks, seen = [], set()
    # The stock folders in the replay's order (no ticker is in two of them); FB is META's file under its old name.
    for folder in ("guydekowski_market-lab", "dieperdev_yfinance-stock-data", "Nooblet25_StockTrendAI-2"):
        for path in sorted((root / folder).glob("*.csv")):
            frame = pd.read_csv(path).rename(columns=str.lower).rename(columns={"date": "trade_date"})
            frame["adj_close"] = frame["adj close"] if "adj close" in frame else frame["close"]
            for ticker in [path.stem.replace("_", ".")] + (["FB"] if path.stem == "META" else []):
                if ticker not in seen:  # BRK_B.csv holds BRK.B, as the holdings lists name it
                    seen.add(ticker)
                    stocks.append(frame.assign(ticker=ticker)[
                        ["ticker", "trade_date", "open", "high", "low", "close", "adj_close", "volume"]])
    holdings = []
    for ticker in ETFS:
        wide = pd.read_csv(root / "jmaslek_etf_scraper" / f"{ticker}.csv", index_col=0).drop(columns="SUM")
        long = wide.stack().rename("percent").reset_index()
        long.columns = ["as_of_date", "holding_ticker", "percent"]
        long["as_of_date"] = pd.to_datetime(long["as_of_date"], format="%m/%d/%Y").dt.date
        long["etf_ticker"] = ticker
        long["weight"] = long["percent"] / 100
        long = long[long["holding_ticker"].str.match(TICKER) & (long["weight"] > 0) & (long["weight"] <= 1)]
        holdings.append(long[["etf_ticker", "as_of_date", "holding_ticker", "weight"]])

    def window(frame: pd.DataFrame) -> pd.DataFrame:
        frame["trade_date"] = pd.to_datetime(frame["trade_date"].str[:10]).dt.date
        frame = frame[(frame["trade_date"] >= first) & (frame["trade_date"] <= last)].copy()
        if "adj_close" not in frame:
            frame["adj_close"] = frame["close"]  # phainia's ETF prices are split- and dividend-adjusted
        frame["volume"] = frame["volume"].astype("int64")
        return frame.reset_index(drop=True)

    # A few snapshots appear twice in a file (same date): the last one stands, as an upsert would leave it.
    held = pd.concat(holdings).drop_duplicates(["etf_ticker", "as_of_date", "holding_ticker"], keep="last")
    held = held[(held["as_of_date"] >= first) & (held["as_of_date"] <= last)].reset_index(drop=True)
    return MarketData(window(pd.concat(etfs)), window(pd.concat(stocks)), held)


def _insert(conn: psycopg.Connection, table: str, frame: pd.DataFrame, columns: list[str]) -> None:
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}, source) FROM STDIN") as copy:
        for row in frame[columns].itertuples(index=False):
            copy.write_row((*row, "replay"))


def load(database_url: str, data: MarketData) -> None:
    ohlc = ["ticker", "trade_date", "open", "high", "low", "close", "adj_close", "volume"]
    with psycopg.connect(database_url) as conn:
        _insert(conn, "collected_01_daily_etf_ohlc", data.etf_prices, [*ohlc[:2], "etf_role", *ohlc[2:]])
        _insert(conn, "collected_06_daily_stock_history", data.stock_prices, ohlc)
        _insert(conn, "collected_04_etf_holdings", data.holdings,
                ["etf_ticker", "as_of_date", "holding_ticker", "weight"])
