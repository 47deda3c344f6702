"""Row rules applied before a row is produced to Kafka. A row that breaks one is quarantined with the rule's name and
a reason (`ops_dead_letters`); the others go on. Pure functions over pandas frames, testable without any service."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd

from trendfolio import calendar

TICKER_PATTERN = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")


@dataclass(frozen=True)
class Rejection:
    record_key: str
    rule: str
    reason: str
    payload: str


@dataclass
class Validated:
    valid: pd.DataFrame
    rejected: list[Rejection] = field(default_factory=list)


def count_by_rule(rejections: Iterable[Rejection]) -> dict[str, int]:
    return dict(Counter(item.rule for item in rejections))


def _payload(row: dict) -> str:
    return json.dumps({k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.items()}, default=str)


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def ohlc_row_problem(row: dict, partition_date: dt.date) -> tuple[str, str] | None:
    """The first rule a daily OHLC row breaks, as (rule, reason), or None when it is valid."""
    ticker = row.get("ticker")
    if not isinstance(ticker, str) or not TICKER_PATTERN.match(ticker):
        return "ticker_format", f"ticker {ticker!r} is not an exchange ticker"
    day = row.get("trade_date")
    if not isinstance(day, dt.date):
        return "date_type", f"trade_date {day!r} is not a date"
    if day > partition_date:
        return "future_date", f"{day} is after the partition date {partition_date}"
    if not calendar.is_session(day):
        return "not_a_session", f"{day} is not an NYSE session"
    prices = {col: _number(row.get(col)) for col in PRICE_COLUMNS}
    missing = [col for col, value in prices.items() if value is None]
    if missing:
        return "missing_value", f"{', '.join(missing)} missing or not a finite number"
    non_positive = [col for col, value in prices.items() if value <= 0]
    if non_positive:
        return "non_positive_price", f"{', '.join(non_positive)} must be > 0"
    if prices["high"] < max(prices["open"], prices["close"]):
        return "high_below_open_close", f"high {prices['high']} < max(open, close)"
    if prices["low"] > min(prices["open"], prices["close"]):
        return "low_above_open_close", f"low {prices['low']} > min(open, close)"
    volume = _number(row.get("volume"))
    if volume is None or volume < 0 or volume != int(volume):
        return "bad_volume", f"volume {row.get('volume')!r} must be a whole number >= 0"
    return None


def holding_row_problem(row: dict, known_etfs: set[str] | frozenset = frozenset()) -> tuple[str, str] | None:
    """The first rule an ETF holding row breaks, as (rule, reason), or None when it is valid. With `known_etfs`, an
    ETF outside it is refused as unknown (validation knows what it asked for; the consumer does not)."""
    for column in ("etf_ticker", "holding_ticker"):
        value = row.get(column)
        if not isinstance(value, str) or not TICKER_PATTERN.match(value):
            return "ticker_format", f"{column} {value!r} is not an exchange ticker"
    if known_etfs and row["etf_ticker"] not in known_etfs:
        return "unknown_ticker", f"{row['etf_ticker']} is not one of the ETFs asked for"
    weight = _number(row.get("weight"))
    if weight is None or not 0 < weight <= 1:
        return "weight_range", f"weight {row.get('weight')!r} must be a fraction in (0, 1]"
    return None


def _values_passing(column: pd.Series, predicate) -> pd.Series:
    """`predicate` applied once per distinct value of `column` rather than once per row; all False when the values
    cannot be hashed (the per-row rules then judge every row)."""
    try:
        verdicts = {value: bool(predicate(value)) for value in pd.unique(column)}
    except TypeError:
        return pd.Series(False, index=column.index)
    return column.map(verdicts).fillna(False).astype(bool)


def ohlc_rows_surely_valid(frame: pd.DataFrame, partition_date: dt.date) -> np.ndarray:
    """A vectorized pre-check: True only for rows `ohlc_row_problem` would pass. Conservative: a row it cannot vouch
    for (e.g. prices in an object column) is False and goes through the per-row rules, which give the reason."""
    columns = [*PRICE_COLUMNS, "volume", "ticker", "trade_date"]
    if frame.empty or any(c not in frame.columns for c in columns):
        return np.zeros(len(frame), dtype=bool)
    if not all(pd.api.types.is_float_dtype(frame[c].dtype) or pd.api.types.is_integer_dtype(frame[c].dtype)
               for c in (*PRICE_COLUMNS, "volume")):
        return np.zeros(len(frame), dtype=bool)
    # float64 like the per-row rules' float(value); a nullable column's <NA> becomes NaN and fails isfinite.
    prices = {c: frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in PRICE_COLUMNS}
    volume = frame["volume"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        ok = np.logical_and.reduce([np.isfinite(p) & (p > 0) for p in prices.values()])
        ok &= prices["high"] >= np.maximum(prices["open"], prices["close"])
        ok &= prices["low"] <= np.minimum(prices["open"], prices["close"])
        ok &= np.isfinite(volume) & (volume >= 0) & (volume == np.trunc(volume))
    ok &= _values_passing(frame["ticker"], lambda t: isinstance(t, str) and TICKER_PATTERN.match(t)).to_numpy()
    ok &= _values_passing(
        frame["trade_date"],
        # A datetime is left to the per-row rules, which compare it with the partition date as they always did.
        lambda d: type(d) is dt.date and d <= partition_date and calendar.is_session(d),
    ).to_numpy()
    return ok


def ohlc_problems(frame: pd.DataFrame, partition_date: dt.date) -> list[tuple[str, str] | None]:
    """`ohlc_row_problem` for every row of `frame`, in order; rows the vectorized pre-check vouches for skip the
    per-row rules (same answers, a hundredth of the time on a million rows)."""
    surely_valid = ohlc_rows_surely_valid(frame, partition_date)
    if surely_valid.all():
        return [None] * len(frame)
    problems: list[tuple[str, str] | None] = [None] * len(frame)
    doubtful = np.flatnonzero(~surely_valid)
    for position, row in zip(doubtful, frame.iloc[doubtful].to_dict("records")):
        problems[position] = ohlc_row_problem(row, partition_date)
    return problems


SUSPICIOUS_MOVE = 0.5  # a one-day close-to-close move beyond ±50 % waits for review instead of landing


def _suspicious_moves(rows: pd.DataFrame, previous_close: dict[str, float]) -> dict:
    """Index label → reason for each close more than SUSPICIOUS_MOVE away from the ticker's previous accepted close.
    Vectorized against the previous row; only a ticker with a flagged row is walked in order, since after a refused
    glitch the next day is compared with the last accepted close, not with the glitch."""
    if rows.empty:
        return {}
    ordered = rows.sort_values(["ticker", "trade_date"], kind="stable")
    close = ordered["close"].astype(float)
    before = close.groupby(ordered["ticker"]).shift(1)
    before = before.fillna(ordered["ticker"].map(previous_close))
    flagged_tickers = set(ordered.loc[(close / before - 1).abs() > SUSPICIOUS_MOVE, "ticker"])
    reasons = {}
    for ticker in sorted(flagged_tickers):
        last = previous_close.get(ticker)
        for label, day_close in close[ordered["ticker"] == ticker].items():
            if last and abs(day_close / last - 1) > SUSPICIOUS_MOVE:
                reasons[label] = (f"close {day_close} is {day_close / last - 1:+.1%} from the previous close {last}: "
                                  "held for review")
                continue
            last = day_close
    return reasons


def validate_ohlc(
    frame: pd.DataFrame,
    partition_date: dt.date,
    universe: Iterable[str] | None = None,
    previous_close: dict[str, float] | None = None,
) -> Validated:
    """Row rules, then: the ticker was asked for (`universe`), one row per (ticker, date), and no close more than
    50 % away from the ticker's previous accepted close (earlier in the frame, else `previous_close` from PostgreSQL).
    A glitch is compared with the last good close, so the day after a 100x glitch is not flagged as well."""
    problems = ohlc_problems(frame, partition_date)
    passed = np.array([problem is None for problem in problems], dtype=bool)
    if universe is not None and passed.any():
        unknown = passed & ~frame["ticker"].isin(set(universe)).to_numpy()
        for position in np.flatnonzero(unknown):
            ticker = frame["ticker"].iloc[position]
            problems[position] = ("unknown_ticker", f"{ticker} was not asked for (not in the run's universe)")
        passed &= ~unknown
    # Of the rows that pass the rules, the first per (ticker, date) is kept and any later one is a duplicate.
    if passed.any():
        duplicate = np.zeros(len(frame), dtype=bool)
        duplicate[passed] = frame.loc[passed, ["ticker", "trade_date"]].duplicated(keep="first").to_numpy()
        for position in np.flatnonzero(duplicate):
            row = frame.iloc[position]
            problems[position] = ("duplicate_key", f"a second row for {row['ticker']} on {row['trade_date']}")
        passed &= ~duplicate
    rejected = [Rejection(f"{row.get('ticker')}|{row.get('trade_date')}", *problems[position], _payload(row))
                for position, row in zip(np.flatnonzero(~passed), frame.iloc[np.flatnonzero(~passed)].to_dict("records"))]
    suspicious = _suspicious_moves(frame.loc[passed], previous_close or {})
    for label in suspicious:
        row = frame.loc[label].to_dict()
        rejected.append(Rejection(f"{row['ticker']}|{row['trade_date']}", "suspicious_move", suspicious[label],
                                  _payload(row)))
    valid = frame.loc[passed].drop(index=list(suspicious)).copy()
    if not valid.empty:
        valid["volume"] = valid["volume"].astype("int64")
    return Validated(valid.reset_index(drop=True), rejected)


def validate_holdings(frame: pd.DataFrame, requested: Iterable[tuple[str, dt.date]] = ()) -> Validated:
    """Row rules per holding, then per (ETF, as-of date): weights summing to at most 1, and at least one holding for
    every (ETF, date) in `requested` (an empty list is reported as a dead letter, not taken as "holds nothing").
    A row for an ETF that was not requested is refused as unknown when `requested` is given."""
    requested = list(requested)
    known_etfs = {etf for etf, _ in requested}
    rejected: list[Rejection] = []
    keep: list[int] = []
    seen: set[tuple] = set()
    for index, row in zip(frame.index, frame.to_dict("records")):
        as_of = row.get("as_of_date")
        key = "|".join(str(part) for part in (row.get("etf_ticker"), as_of, row.get("holding_ticker")) if part)
        problem = holding_row_problem(row, known_etfs)
        if problem is None and (row["etf_ticker"], as_of, row["holding_ticker"]) in seen:
            problem = ("duplicate_key", f"{row['holding_ticker']} listed twice in {row['etf_ticker']} on {as_of}")
        if problem:
            rejected.append(Rejection(key, problem[0], problem[1], _payload(row)))
            continue
        seen.add((row["etf_ticker"], as_of, row["holding_ticker"]))
        keep.append(index)
    valid = frame.loc[keep].copy()
    # A list whose weights add up to more than 1 is wrong as a whole: quarantine all its rows, keep none half-written.
    group = ["etf_ticker", "as_of_date"] if "as_of_date" in valid.columns else ["etf_ticker"]
    if not valid.empty:
        totals = valid.groupby(group)["weight"].sum()
        for list_key, total in totals[totals > 1 + 1e-9].items():
            list_key = list_key if isinstance(list_key, tuple) else (list_key,)
            in_list = (valid[group] == pd.Series(list_key, index=group)).all(axis=1)
            for row in valid[in_list].to_dict("records"):
                rejected.append(Rejection(
                    "|".join(str(row[c]) for c in (*group, "holding_ticker")), "weights_sum_above_one",
                    f"{row['etf_ticker']}'s weights sum to {total:.6f} > 1", _payload(row),
                ))
            valid = valid[~in_list]
    listed = set(map(tuple, frame[["etf_ticker", "as_of_date"]].itertuples(index=False))) \
        if {"etf_ticker", "as_of_date"} <= set(frame.columns) else set()
    for etf, as_of in requested:
        if (etf, as_of) not in listed:
            rejected.append(Rejection(f"{etf}|{as_of}", "empty_holdings", f"the source listed no holdings for {etf} "
                                      f"on {as_of}", _payload({"etf_ticker": etf, "as_of_date": as_of})))
    return Validated(valid.reset_index(drop=True), rejected)
