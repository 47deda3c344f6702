"""What the Kafka consumer needs to know of each collected table: its columns, key and topic."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CollectedTable:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    date_columns: tuple[str, ...] = ()
    integer_columns: tuple[str, ...] = ()
    text_columns: tuple[str, ...] = ()

    def record_key(self, row: dict) -> str:
        return "|".join(str(row[column]) for column in self.key)


_OHLC = ("open", "high", "low", "close", "adj_close", "volume")

DAILY_ETF_OHLC = CollectedTable(
    name="collected_01_daily_etf_ohlc",
    columns=("ticker", "trade_date", "etf_role", *_OHLC, "source"),
    key=("ticker", "trade_date"),
    date_columns=("trade_date",),
    integer_columns=("volume",),
    text_columns=("ticker", "etf_role", "source"),
)
ETF_HOLDINGS = CollectedTable(
    name="collected_04_etf_holdings",
    columns=("etf_ticker", "as_of_date", "holding_ticker", "holding_name", "weight", "source"),
    key=("etf_ticker", "as_of_date", "holding_ticker"),
    date_columns=("as_of_date",),
    text_columns=("etf_ticker", "holding_ticker", "holding_name", "source"),
)
DAILY_STOCK_HISTORY = CollectedTable(
    name="collected_06_daily_stock_history",
    columns=("ticker", "trade_date", *_OHLC, "source"),
    key=("ticker", "trade_date"),
    date_columns=("trade_date",),
    integer_columns=("volume",),
    text_columns=("ticker", "source"),
)
