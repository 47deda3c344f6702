"""Real recorded market data played back as if it were Yahoo on the partition date: nothing after that date is visible.

Prices come from per-ticker daily CSV files (`<TICKER>.csv`, with `.` spelled `_`: BRK_B.csv holds BRK.B) in any of
the header spellings found in `../shared/marketdata`:

- `date,o,h,l,c,v` (phainia_notification, adjusted prices),
- `date,open,high,low,close,volume` (guydekowski_market-lab, adjusted prices),
- `Date,Open,High,Low,Close,Adj Close,Volume` (Yahoo CSV; dates may carry a time zone, as in jmiloser_ichimoku).

A file without an adjusted close is already adjusted, so its close is the adjusted close too.

Holdings come from snapshots in the jmaslek_etf_scraper wide format: one row per date (MM/DD/YYYY), one column per
holding, weights in percent, a SUM column. An ETF's holdings on a date are its latest snapshot on or before that date,
cut to the `top_n` largest weights as Yahoo's `topHoldings` is. Columns that are not tickers ('n/a', 'Unum Group')
and weights that are not numbers are passed on as they are: validation quarantines them with a reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from functools import lru_cache
from pathlib import Path

import pandas as pd

from trendfolio import settings
from trendfolio.sources import HOLDINGS_COLUMNS, OHLC_COLUMNS

SOURCE_NAME = "replay"
DEFAULT_MARKETDATA = settings.REPO_ROOT.parent / "shared" / "marketdata"
# Under a marketdata root: ETF prices, stock prices, holdings snapshots; earlier folders win for a ticker.
DEFAULT_FOLDERS = ("phainia_notification", "guydekowski_market-lab", "jmaslek_etf_scraper")
YAHOO_TOP_HOLDINGS = 10

# Every header spelling seen in the shared data, lower-cased, to our column names.
PRICE_HEADERS = {
    "date": "trade_date", "o": "open", "open": "open", "h": "high", "high": "high", "l": "low", "low": "low",
    "c": "close", "close": "close", "adj close": "adj_close", "adj_close": "adj_close", "v": "volume",
    "volume": "volume",
}
SUM_COLUMN = "SUM"


def ticker_file_stem(ticker: str) -> str:
    return ticker.replace(".", "_")


def resolve_directories(spec: str | os.PathLike | list | tuple | None) -> list[Path]:
    """The folders to read: a list, or one string of folders separated by os.pathsep. A marketdata root (a folder
    holding the default sub-folders) stands for those sub-folders. Nothing given: the shared marketdata root."""
    if spec is None or spec == "":
        spec = [DEFAULT_MARKETDATA]
    elif isinstance(spec, (str, os.PathLike)):
        spec = [part for part in str(spec).split(os.pathsep) if part]
    folders: list[Path] = []
    for entry in spec:
        path = Path(entry)
        defaults = [path / name for name in DEFAULT_FOLDERS if (path / name).is_dir()]
        folders.extend(defaults or [path])
    return folders


def is_holdings_header(header: list[str]) -> bool:
    return bool(header) and header[0].strip() == "" and header[-1].strip() == SUM_COLUMN


def read_price_file(path: Path, ticker: str) -> pd.DataFrame:
    """One ticker's daily rows, oldest first, with our column names."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = [PRICE_HEADERS.get(c.strip().lower(), c.strip().lower()) for c in raw.columns]
    missing = {"trade_date", "open", "high", "low", "close", "volume"} - set(raw.columns)
    if missing:
        raise ValueError(f"{path}: not a daily price file, missing columns {sorted(missing)}")
    if "adj_close" not in raw.columns:
        raw["adj_close"] = raw["close"]
    values = raw[["open", "high", "low", "close", "adj_close", "volume"]]
    # A row with every value empty is a day the security did not trade yet (jmiloser's XLC before its listing):
    # there is nothing to quarantine. A partly empty row goes on with NaNs and validation refuses it.
    traded = (values.apply(lambda column: column.str.strip()) != "").any(axis=1)
    frame = values[traded].apply(pd.to_numeric, errors="coerce")
    # '2015-06-01 00:00:00+00:00' and '2015-06-01' both name the session 2015-06-01.
    frame.insert(0, "trade_date", pd.to_datetime(raw.loc[traded, "trade_date"].str.strip().str[:10]).dt.date)
    frame.insert(0, "ticker", ticker)
    return frame[OHLC_COLUMNS].reset_index(drop=True)


def read_holdings_file(path: Path) -> list[tuple[dt.date, list[tuple[str, str]]]]:
    """Snapshots oldest first: (date, [(column name, weight cell)]) for every non-empty cell but SUM."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if not is_holdings_header(header):
            raise ValueError(f"{path}: not a holdings snapshot file (needs an empty first header cell and a SUM column)")
        snapshots = []
        for row in reader:
            if not row or not row[0].strip():
                continue
            day = dt.datetime.strptime(row[0].strip(), "%m/%d/%Y").date()
            cells = [(name.strip(), value.strip()) for name, value in zip(header[1:-1], row[1:-1]) if value.strip()]
            snapshots.append((day, cells))
    snapshots.sort(key=lambda item: item[0])
    return snapshots


def _percent_to_fraction(cell: str) -> float:
    try:
        return float(cell) / 100.0
    except ValueError:
        return float("nan")  # 'n/a' as a weight: validation refuses it as out of range


@lru_cache(maxsize=256)
def _cached_prices(path: Path, ticker: str, modified: float) -> pd.DataFrame:
    return read_price_file(path, ticker)


@lru_cache(maxsize=64)
def _cached_holdings(path: Path, modified: float) -> list:
    return read_holdings_file(path)


class ReplaySource:
    name = SOURCE_NAME

    def __init__(self, directories: str | os.PathLike | list | None = None, top_n: int | None = YAHOO_TOP_HOLDINGS):
        self.directories = resolve_directories(directories)
        missing = [str(d) for d in self.directories if not d.is_dir()]
        if missing:
            raise FileNotFoundError(f"replay source: folders not found {missing} (TRENDFOLIO_REPLAY_DIR)")
        self.top_n = top_n

    def _file_for(self, ticker: str, holdings: bool) -> Path | None:
        for folder in self.directories:
            path = folder / f"{ticker_file_stem(ticker)}.csv"
            if path.is_file():
                with path.open(newline="") as handle:
                    header = next(csv.reader(handle), [])
                if is_holdings_header(header) == holdings:
                    return path
        return None

    def daily_ohlc(self, tickers: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Rows of [start, end]. A ticker without a file is absent from the result, as Yahoo leaves it all-NaN:
        the asset reports it missing."""
        frames = []
        for ticker in tickers:
            path = self._file_for(ticker, holdings=False)
            if path is None:
                continue
            prices = _cached_prices(path, ticker, path.stat().st_mtime)
            frames.append(prices[(prices.trade_date >= start) & (prices.trade_date <= end)])
        if not frames:
            return pd.DataFrame(columns=OHLC_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def etf_holdings(self, etf: str, as_of: dt.date) -> pd.DataFrame:
        """The latest snapshot on or before `as_of`; empty when there is none (validation reports it)."""
        path = self._file_for(etf, holdings=True)
        visible = [cells for day, cells in _cached_holdings(path, path.stat().st_mtime) if day <= as_of] if path else []
        if not visible:
            return pd.DataFrame(columns=HOLDINGS_COLUMNS)
        frame = pd.DataFrame(
            {
                "etf_ticker": etf,
                "holding_ticker": [name for name, _ in visible[-1]],
                "holding_name": [None] * len(visible[-1]),  # the snapshots carry tickers only
                "weight": [_percent_to_fraction(cell) for _, cell in visible[-1]],
            },
            columns=HOLDINGS_COLUMNS,
        )
        # Largest weights first, file order among equals; an unreadable weight sorts last.
        frame = frame.sort_values("weight", ascending=False, kind="stable", na_position="last")
        if self.top_n:
            frame = frame.head(self.top_n)
        return frame.reset_index(drop=True)
