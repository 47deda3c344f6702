"""Yahoo Finance through yfinance, in batches: one `yf.download` for all tickers of a stage, never per tick."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from trendfolio.sources import HOLDINGS_COLUMNS, OHLC_COLUMNS

SOURCE_NAME = "yfinance"


def frame_from_download(data: pd.DataFrame, tickers: list[str]) -> pd.DataFrame:
    """Long rows from yfinance's wide (ticker, field) frame. A ticker Yahoo failed on comes back as all-NaN columns:
    its rows keep the NaNs so that validation quarantines them with a reason instead of losing them silently."""
    if data is None or data.empty:
        return pd.DataFrame(columns=OHLC_COLUMNS)
    rows = []
    for ticker in tickers:
        if ticker not in data.columns.get_level_values(0):
            continue
        part = data[ticker].rename(columns=str.lower).rename(columns={"adj close": "adj_close"})
        part = part.dropna(how="all")
        part = part.reset_index().rename(columns={"Date": "trade_date", "date": "trade_date"})
        part["trade_date"] = pd.to_datetime(part["trade_date"]).dt.date
        part["ticker"] = ticker
        rows.append(part[OHLC_COLUMNS])
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=OHLC_COLUMNS)


class YahooSource:
    name = SOURCE_NAME

    def daily_ohlc(self, tickers: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        import yfinance as yf

        data = yf.download(
            tickers,
            start=start.isoformat(),
            end=(end + dt.timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
            interval="1d",
            auto_adjust=False,  # keep both close and adjusted close
            actions=False,
            group_by="ticker",
            multi_level_index=True,
            progress=False,
            threads=False,
        )
        return frame_from_download(data, tickers)

    def etf_holdings(self, etf: str, as_of: dt.date) -> pd.DataFrame:
        import yfinance as yf

        top = yf.Ticker(etf).funds_data.top_holdings  # top 10, weights as fractions, no as-of date
        return pd.DataFrame(
            {
                "etf_ticker": etf,
                "holding_ticker": list(top.index),
                "holding_name": list(top["Name"]),
                "weight": list(top["Holding Percent"].astype(float)),
            }
        )
