"""Real recorded market data played back as if it were Yahoo on the partition date: nothing after that date is visible.

Prices come from per-ticker daily CSV files (`<TICKER>.csv`, with `.` spelled `_`: BRK_B.csv holds BRK.B) in any of
the header spellings found in `../shared/marketdata`:

- `date,o,h,l,c,v` (phainia_notification, split- and dividend-adjusted OHLC),
- `date,open,high,low,close,volume` (guydekowski_market-lab, Nooblet25_StockTrendAI-2: adjusted OHLC),
- `Date,Open,High,Low,Close,Adj Close,Volume` (Yahoo CSV; dates may carry a time zone, as in jmiloser_ichimoku).

`adj_close` is the file's `Adj Close` where it has one; a file without one is already adjusted, so its close is the
adjusted close too. Open/high/low/close are stored as the file has them, all four on one basis: adjusted files are
adjusted throughout, and a Yahoo CSV's OHLC are Yahoo's (split-adjusted in dieperdev_yfinance-stock-data, with
dividends only in `Adj Close`), which is what the yfinance source stores too (`auto_adjust=False`). The analytics
read `adj_close` only.

A marketdata root (a folder without CSV files of its own) stands for all its sub-folders, in the order of
`FOLDER_ORDER` first and then any other sub-folder by name. The first folder with a file for a ticker wins for that
ticker (a ticker's rows never mix two files); the adjusted one-source sets come first, so the 15 ETFs are
phainia's and the stocks guydekowski's, then dieperdev's, then Nooblet25's. A holding named by an old ticker is priced
from its new ticker's file when it has no file of its own (`RENAMES`).

A line that cannot be read (a date that is not one, a wrong number of fields, text in a price column) is not a row:
it is refused with rule `malformed_line`, the file and line in the reason and the line's text in the payload, and the
file's other lines go on. A file that cannot be read at all (empty, not UTF-8, not a price file) fails only its
ticker: rule `unreadable_file`, and the ticker is named in `last_unreadable`. Both are in `last_refused` after each
`daily_ohlc` call, for the asset to quarantine with its validation dead letters.

Holdings come from snapshots in the jmaslek_etf_scraper wide format: one row per date (MM/DD/YYYY), one column per
holding, weights in percent, a SUM column. An ETF's holdings on a date are its latest snapshot on or before that date,
cut to the `top_n` largest weights as Yahoo's `topHoldings` is. Columns that are not tickers ('n/a', 'Unum Group')
and weights that are not numbers are passed on as they are: validation quarantines them with a reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from trendfolio import settings
from trendfolio.sources import HOLDINGS_COLUMNS, OHLC_COLUMNS
from trendfolio.universe import HOLDINGS_PER_ETF
from trendfolio.validation import Rejection

SOURCE_NAME = "replay"
DEFAULT_MARKETDATA = settings.REPO_ROOT.parent / "shared" / "marketdata"
# Sub-folders of a marketdata root read first, in this order (earlier folders win for a ticker): the ETF prices, the
# stock prices (adjusted sets before the Yahoo CSVs), the holdings snapshots. Any other sub-folder follows by name.
FOLDER_ORDER = ("phainia_notification", "guydekowski_market-lab", "dieperdev_yfinance-stock-data",
                "Nooblet25_StockTrendAI-2", "jmaslek_etf_scraper")
# Old ticker → new ticker, for holdings lists that name a company by a ticker it has since changed. Used only when the
# old ticker has no file of its own; the files under the new name carry the whole history (as Yahoo does).
RENAMES = {
    "FB": "META",  # Meta Platforms, 2022-06-09
    "IIVI": "COHR",  # II-VI became Coherent, 2022-09
    "RXN": "ZWS",  # Rexnord became Zurn Elkay Water Solutions, 2021-10
    "SGMS": "LNW",  # Scientific Games became Light & Wonder, 2022
}
MALFORMED_LINE = "malformed_line"
UNREADABLE_FILE = "unreadable_file"

# Every header spelling seen in the shared data, lower-cased, to our column names.
PRICE_HEADERS = {
    "date": "trade_date", "o": "open", "open": "open", "h": "high", "high": "high", "l": "low", "low": "low",
    "c": "close", "close": "close", "adj close": "adj_close", "adj_close": "adj_close", "v": "volume",
    "volume": "volume",
}
VALUE_COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]
# A session date, optionally with a time and a UTC offset ('2015-06-01 00:00:00+00:00').
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?(?:[+-]\d{2}:?\d{2}|Z)?)?$"
SUM_COLUMN = "SUM"


def ticker_file_stem(ticker: str) -> str:
    return ticker.replace(".", "_")


def _is_root(path: Path) -> bool:
    return path.is_dir() and not any(path.glob("*.csv")) and any(child.is_dir() for child in path.iterdir())


def _root_folders(root: Path) -> list[Path]:
    children = [child for child in root.iterdir() if child.is_dir() and not child.name.startswith(".")]
    known = [root / name for name in FOLDER_ORDER if (root / name).is_dir()]
    return known + sorted((c for c in children if c.name not in FOLDER_ORDER), key=lambda c: c.name.lower())


def resolve_directories(spec: str | os.PathLike | list | tuple | None) -> list[Path]:
    """The folders to read: a list, or one string of folders separated by os.pathsep. A marketdata root (a folder
    without CSV files of its own) stands for its sub-folders (`FOLDER_ORDER` first, then by name). Nothing given: the
    shared marketdata root."""
    if spec is None or spec == "":
        spec = [DEFAULT_MARKETDATA]
    elif isinstance(spec, (str, os.PathLike)):
        spec = [part for part in str(spec).split(os.pathsep) if part]
    folders: list[Path] = []
    for entry in spec:
        path = Path(entry)
        folders.extend(_root_folders(path) if _is_root(path) else [path])
    return folders


def is_holdings_header(header: list[str]) -> bool:
    return bool(header) and header[0].strip() == "" and header[-1].strip() == SUM_COLUMN


class UnreadableFile(ValueError):
    """A price file none of whose lines can be used: its ticker gets no prices from it."""


@dataclass(frozen=True)
class BadLine:
    line: int
    text: str
    problem: str
    day: dt.date | None  # the line's date when it can be read
    after: dt.date | None  # the readable dates around it in the file, which bound a date that cannot be read
    before: dt.date | None

    def within(self, start: dt.date, end: dt.date) -> bool:
        """Whether a run of [start, end] would have read this line: its date is in the range, or (unreadable) the
        dates around it leave room for one in the range."""
        if self.day is not None:
            return start <= self.day <= end
        return (self.after is None or self.after < end) and (self.before is None or self.before > start)


@dataclass(frozen=True)
class PriceFile:
    rows: pd.DataFrame  # OHLC_COLUMNS, oldest first
    bad_lines: tuple[BadLine, ...]


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"{path}: not UTF-8 text (byte {error.start} is {data[error.start:error.start + 1]!r})")
    if not text.strip():
        raise UnreadableFile(f"{path}: empty file")
    return text


def read_price_file(path: Path, ticker: str) -> PriceFile:
    """One ticker's daily rows, oldest first, with our column names, and the lines that could not be read."""
    lines = _decode(path).splitlines()
    records = list(csv.reader(lines))  # one record per physical line: the files hold no quoted line breaks
    header = [PRICE_HEADERS.get(c.strip().lower(), c.strip().lower()) for c in records[0]]
    missing = {"trade_date", *VALUE_COLUMNS} - set(header) - {"adj_close"}
    if missing:
        raise UnreadableFile(f"{path}: not a daily price file, missing columns {sorted(missing)}")
    width = len(header)
    numbers = [i for i, record in enumerate(records) if i and any(cell.strip() for cell in record)]
    fitting = [i for i in numbers if len(records[i]) == width]
    raw = pd.DataFrame([records[i] for i in fitting], columns=header, index=fitting, dtype=str)
    if "adj_close" not in raw.columns:
        raw["adj_close"] = raw["close"]
    raw = raw.apply(lambda column: column.str.strip())
    dates = raw["trade_date"].where(raw["trade_date"].str.match(DATE_PATTERN))
    days = pd.to_datetime(dates.str[:10], format="%Y-%m-%d", errors="coerce")
    values = raw[VALUE_COLUMNS]
    parsed = values.apply(pd.to_numeric, errors="coerce")
    # An empty cell is a missing value (validation refuses the row); text where a number belongs spoils the line.
    not_numbers = (values != "") & parsed.isna()
    # A row with every value empty is a day the security did not trade yet (jmiloser's XLC before its listing):
    # there is nothing to quarantine.
    traded = (values != "").any(axis=1)
    problems: dict[int, str] = {}
    for i in days.index[days.isna()]:
        problems[i] = f"date {raw.at[i, 'trade_date']!r} is not a date (YYYY-MM-DD)"
    for i in not_numbers.index[not_numbers.any(axis=1)]:
        if i not in problems:
            cells = ", ".join(f"{c} {raw.at[i, c]!r}" for c in VALUE_COLUMNS if not_numbers.at[i, c])
            problems[i] = f"not a number: {cells}"
    line_days = days.dt.date.where(days.notna(), None).to_dict()
    date_at = header.index("trade_date")
    for i in numbers:
        if len(records[i]) != width:
            problems[i] = f"{len(records[i])} fields where the header has {width}"
            cell = records[i][date_at].strip() if len(records[i]) > date_at else ""
            day = pd.to_datetime(cell[:10], format="%Y-%m-%d", errors="coerce") if re.match(DATE_PATTERN, cell) \
                else pd.NaT
            line_days[i] = None if pd.isna(day) else day.date()
    good = [i for i in fitting if i not in problems and traded[i]]
    frame = parsed.loc[good]
    frame.insert(0, "trade_date", days.loc[good].dt.date)
    frame.insert(0, "ticker", ticker)
    known = frame["trade_date"]
    bad = []
    for i in sorted(problems):
        earlier, later = known[known.index < i], known[known.index > i]
        bad.append(BadLine(i + 1, lines[i], problems[i], line_days.get(i),
                           earlier.iloc[-1] if len(earlier) else None, later.iloc[0] if len(later) else None))
    return PriceFile(frame[OHLC_COLUMNS].reset_index(drop=True), tuple(bad))


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


@lru_cache(maxsize=512)
def _cached_prices(path: Path, ticker: str, modified: float) -> PriceFile:
    return read_price_file(path, ticker)


@lru_cache(maxsize=64)
def _cached_holdings(path: Path, modified: float) -> list:
    return read_holdings_file(path)


class ReplaySource:
    name = SOURCE_NAME

    def __init__(self, directories: str | os.PathLike | list | None = None, top_n: int | None = HOLDINGS_PER_ETF):
        self.directories = resolve_directories(directories)
        missing = [str(d) for d in self.directories if not d.is_dir()]
        if missing:
            raise FileNotFoundError(f"replay source: folders not found {missing} (TRENDFOLIO_REPLAY_DIR)")
        self.top_n = top_n
        self.last_refused: list[Rejection] = []
        self.last_unreadable: dict[str, str] = {}

    def _file_for(self, ticker: str, holdings: bool) -> Path | None:
        for folder in self.directories:
            path = folder / f"{ticker_file_stem(ticker)}.csv"
            if path.is_file():
                with path.open(newline="", errors="replace") as handle:
                    header = next(csv.reader(handle), [])
                if is_holdings_header(header) == holdings:
                    return path
        return None

    def _price_file_for(self, ticker: str) -> Path | None:
        """The ticker's own file in the first folder that has one, else its new name's (`RENAMES`)."""
        path = self._file_for(ticker, holdings=False)
        if path is None and ticker in RENAMES:
            path = self._file_for(RENAMES[ticker], holdings=False)
        return path

    def daily_ohlc(self, tickers: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Rows of [start, end]. A ticker without a file is absent from the result, as Yahoo leaves it all-NaN:
        the asset reports it missing. Lines of [start, end] that could not be read, and files that could not be read
        at all, are in `last_refused` (and the latter's tickers in `last_unreadable`) afterwards."""
        frames = []
        self.last_refused = []
        self.last_unreadable = {}
        for ticker in tickers:
            path = self._price_file_for(ticker)
            if path is None:
                continue
            try:
                prices = _cached_prices(path, ticker, path.stat().st_mtime)
            except UnreadableFile as error:
                self.last_unreadable[ticker] = str(error)
                self.last_refused.append(Rejection(ticker, UNREADABLE_FILE, f"{error}: no prices for {ticker}",
                                                   json.dumps({"ticker": ticker, "file": str(path)})))
                continue
            rows = prices.rows
            frames.append(rows[(rows.trade_date >= start) & (rows.trade_date <= end)])
            for bad in prices.bad_lines:
                if bad.within(start, end):
                    self.last_refused.append(Rejection(
                        f"{ticker}|{bad.day or '?'}", MALFORMED_LINE, f"{path} line {bad.line}: {bad.problem}",
                        json.dumps({"ticker": ticker, "file": str(path), "line": bad.line, "text": bad.text})))
        if not frames:
            return pd.DataFrame(columns=OHLC_COLUMNS)
        return pd.concat(frames, ignore_index=True)

    def etf_holdings(self, etf: str, as_of: dt.date) -> pd.DataFrame:
        """The latest snapshot on or before `as_of`, with its own date in `as_of_date` (a replay knows when the list
        was taken; Yahoo does not); empty when there is none (validation reports it)."""
        path = self._file_for(etf, holdings=True)
        visible = [(day, cells) for day, cells in _cached_holdings(path, path.stat().st_mtime) if day <= as_of] \
            if path else []
        if not visible:
            return pd.DataFrame(columns=HOLDINGS_COLUMNS)
        snapshot_day, cells = visible[-1]
        visible = [cells]
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
        return frame.reset_index(drop=True).assign(as_of_date=snapshot_day)
