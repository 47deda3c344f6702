"""Yahoo Finance through yfinance, in batches: one `yf.download` for all tickers of a stage, never per tick.

yfinance does not raise for a failed ticker: it logs it and returns all-NaN columns. A ticker that comes back without
a single value is reported missing (the asset lists it); one Yahoo refused with HTTP 429 (`YFRateLimitError`, which
yfinance's own retries never retry) or whose request timed out or lost its connection is downloaded again after an
exponential backoff with jitter, up to `max_retries` times, after which the fetch fails naming the tickers
(`YahooRateLimited`, or `YahooUnavailable` for timeouts, refused connections and host names that do not resolve).
A download that returns nothing for every ticker it asked for is Yahoo not answering, not a list of delisted symbols:
it is retried the same way and then fails with `YahooUnavailable`. yfinance reports a timed-out chart request as "possibly
delisted" unless its `debug.hide_exceptions` is off, so the downloads run with it off. Our own throttle spaces
requests to `requests_per_second` (a download of n tickers counts as n requests).
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import logging
import random
import re
import threading
import time
from typing import Callable, Iterator
from urllib.parse import urlsplit

import pandas as pd
from curl_cffi import requests as curl_requests

from trendfolio.sources import HOLDINGS_COLUMNS, OHLC_COLUMNS
from trendfolio.universe import HOLDINGS_PER_ETF

SOURCE_NAME = "yfinance"
RATE_LIMIT_ERROR = "YFRateLimitError"
log = logging.getLogger(__name__)


# What yfinance reports for a request worth another attempt: Yahoo's 429, and curl_cffi giving up on the network
# (a timeout, a refused connection, a host name that does not resolve).
RETRIED_ERRORS = (RATE_LIMIT_ERROR, "Timeout", "ConnectionError", "DNSError")
NOTHING_FOR_ANY_TICKER = "NoDataForAnyTicker"


# What curl_cffi wraps around curl's own message: "Failed to perform, curl: (6) Could not resolve host: … See
# https://curl.se/libcurl/c/libcurl-errors.html first for more details."
CURL_BOILERPLATE = re.compile(r"Failed to perform, |\.? See https?://\S+ first for more details\.?")


class YahooUnavailable(RuntimeError):
    """Yahoo's requests for these tickers kept timing out, failing to connect or to resolve, or returning nothing for
    any ticker, after every retry. The message starts with the last error, so that the one line a failed run prints
    (cut at 240 characters) says why before it lists the tickers."""

    def __init__(self, tickers: list[str], attempts: int, errors: dict[str, str] | None = None):
        self.tickers = tickers
        self.errors = errors or {}
        first = CURL_BOILERPLATE.sub("", next(iter(self.errors.values()), ""))
        super().__init__(f"Yahoo did not answer ({first[:200]}) for {len(tickers)} ticker(s) {tickers} on each of "
                         f"{attempts} attempts; check the network, try again later or raise the timeout")


class YahooRateLimited(YahooUnavailable):
    """Yahoo kept answering 429 after every retry."""

    def __init__(self, tickers: list[str], attempts: int, errors: dict[str, str] | None = None):
        RuntimeError.__init__(self, f"Yahoo rate-limited {len(tickers)} ticker(s) {tickers} on each of {attempts} "
                              "attempts; try again later or lower yahoo_requests_per_second")
        self.tickers = tickers
        self.errors = errors or {}


def is_retried_error(error: str) -> bool:
    return any(name in error for name in RETRIED_ERRORS)


def all_nan_tickers(data: pd.DataFrame | None, tickers: list[str]) -> list[str]:
    """The tickers a yf.download frame has no value at all for: yfinance's way of saying it failed on them."""
    if data is None or data.empty:
        return sorted(tickers)
    present = set(data.columns.get_level_values(0))
    return sorted(t for t in tickers if t not in present or data[t].isna().all().all())


def frame_from_download(data: pd.DataFrame, tickers: list[str]) -> pd.DataFrame:
    """Long rows from yfinance's wide (ticker, field) frame. Days a ticker has no value at all are dropped (they are
    the union index of the other tickers' days); a partly empty day keeps its NaNs for validation to quarantine."""
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


class Throttle:
    """At most `per_second` requests per second on average, across the calls of one source."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if per_second <= 0:
            raise ValueError("requests per second must be > 0")
        self.interval = 1.0 / per_second
        self.clock, self.sleep = clock, sleep
        self.next_free = 0.0
        self.lock = threading.Lock()

    def wait(self, requests: int = 1) -> None:
        with self.lock:
            now = self.clock()
            start = max(now, self.next_free)
            self.next_free = start + requests * self.interval
        if start > now:
            self.sleep(start - now)


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng.uniform(0, min(cap, base * 2 ** attempt))


class _FailedTickers(logging.Handler):
    """yf.download logs its per-ticker failures as "['AAPL', 'MSFT']: YFRateLimitError(...)": collect them."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.failures: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith("[") or "]: " not in message:
            return
        symbols, error = message.split("]: ", 1)
        try:
            for symbol in ast.literal_eval(symbols + "]"):
                self.failures[str(symbol)] = error
        except (ValueError, SyntaxError):
            return


@contextlib.contextmanager
def _yfinance_failures() -> Iterator[_FailedTickers]:
    import yfinance as yf

    handler = _FailedTickers()
    logger = logging.getLogger("yfinance")
    logger.addHandler(handler)
    hidden, yf.config.debug.hide_exceptions = yf.config.debug.hide_exceptions, False
    try:
        yield handler
    finally:
        yf.config.debug.hide_exceptions = hidden
        logger.removeHandler(handler)


class RedirectedSession(curl_requests.Session):
    """A real curl_cffi session whose requests go to `base` instead of *.yahoo.com (the host kept in the path)."""

    def __init__(self, base: str):
        super().__init__()
        self.base = base.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        local = f"{self.base}/{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return super().request(method, local, *args, **kwargs)


class YahooSource:
    name = SOURCE_NAME

    def __init__(self, requests_per_second: float = 2.0, max_retries: int = 5, backoff_base_s: float = 2.0,
                 backoff_cap_s: float = 60.0, session=None, sleep: Callable[[float], None] = time.sleep,
                 seed: int | None = None, timeout_s: float = 10.0, base_url: str = "", top_n: int = HOLDINGS_PER_ETF):
        """`session`: a curl_cffi Session yfinance sends every request through (None: yfinance's own); `base_url`:
        instead, send them to a stand-in for Yahoo at that address (`RedirectedSession`; the tests and benchmarks
        point it at their recorded-response server). `timeout_s`: yfinance's per-request timeout for the downloads.
        `top_n`: holdings kept per ETF, at most the 10 Yahoo lists (`make_source` refuses more)."""
        self.top_n = top_n
        if session is None and base_url:
            session = RedirectedSession(base_url)
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self.session = session
        self.sleep = sleep
        self.throttle = Throttle(requests_per_second, sleep=sleep)
        self.rng = random.Random(seed)
        self.last_missing: list[str] = []

    def _retry(self, tickers: list[str], attempt_once: Callable[[list[str]], dict[str, str]]) -> None:
        """Call `attempt_once(pending)`, which returns {ticker: error} for the tickers to try again (rate-limited or
        timed out this time), until none are left."""
        pending = sorted(set(tickers))
        for attempt in range(self.max_retries + 1):
            self.throttle.wait(len(pending))
            errors = attempt_once(pending)
            pending = sorted(errors)
            if not pending:
                return
            if attempt < self.max_retries:
                pause = backoff_seconds(attempt, self.backoff_base_s, self.backoff_cap_s, self.rng)
                log.warning("Yahoo failed %s (%s); retrying in %.1f s", pending, next(iter(errors.values()))[:120],
                            pause)
                self.sleep(pause)
        if all(RATE_LIMIT_ERROR in error for error in errors.values()):
            raise YahooRateLimited(pending, self.max_retries + 1, errors)
        raise YahooUnavailable(pending, self.max_retries + 1, errors)

    def daily_ohlc(self, tickers: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """One yf.download for the sessions [start, end] (the caller asks only for what is missing plus the trailing
        re-fetch window). `last_missing` lists the tickers Yahoo returned nothing for."""
        import yfinance as yf

        frames: list[pd.DataFrame] = []
        missing: set[str] = set()
        asked = sorted(set(tickers))

        def download(pending: list[str]) -> list[str]:
            with _yfinance_failures() as failed:
                data = yf.download(
                    pending,
                    start=start.isoformat(),
                    end=(end + dt.timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
                    interval="1d",
                    auto_adjust=False,  # keep both close and adjusted close
                    actions=False,
                    group_by="ticker",
                    multi_level_index=True,
                    progress=False,
                    threads=False,
                    timeout=self.timeout_s,
                    session=self.session,
                )
            again = {t: error for t, error in failed.failures.items() if is_retried_error(error)}
            if len(pending) == len(asked) and all_nan_tickers(data, pending) == pending:
                # Not one value for any ticker of the whole request: Yahoo is not answering (yfinance reports a
                # failure it does not recognize, or none at all, as "no data"), which is retried, then fatal.
                return {t: again.get(t) or failed.failures.get(t) or f"{NOTHING_FOR_ANY_TICKER}: Yahoo returned no "
                        f"data for any of the {len(pending)} ticker(s) asked" for t in pending}
            answered = [t for t in pending if t not in again]
            frames.append(frame_from_download(data, answered))
            missing.update(all_nan_tickers(data, answered))
            return again

        self._retry(tickers, download)
        self.last_missing = sorted(missing)
        if self.last_missing:
            log.warning("Yahoo returned no data for %s", self.last_missing)
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=OHLC_COLUMNS)

    def etf_holdings(self, etf: str, as_of: dt.date) -> pd.DataFrame:
        """The `top_n` largest of the 10 holdings Yahoo lists now (weights are fractions; Yahoo gives no as-of date)."""
        import yfinance as yf

        result: list[pd.DataFrame] = []

        def fetch(pending: list[str]) -> dict[str, str]:
            try:
                result.append(yf.Ticker(etf, session=self.session).funds_data.top_holdings)
            except Exception as error:  # noqa: BLE001 - only the retried kinds are kept, told by name as yfinance does
                if not is_retried_error(type(error).__name__):
                    raise
                return {etf: repr(error)}
            return {}

        self._retry([etf], fetch)
        top = result[0].sort_values("Holding Percent", ascending=False, kind="stable").head(self.top_n)
        return pd.DataFrame(
            {
                "etf_ticker": etf,
                "holding_ticker": list(top.index),
                "holding_name": list(top["Name"]),
                "weight": list(top["Holding Percent"].astype(float)),
            },
            columns=HOLDINGS_COLUMNS,
        )
