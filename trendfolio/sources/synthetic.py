"""A deterministic, seeded market that runs offline. Every row it produces says `source = 'synthetic'`.

Sector trends come and go: each sector's drift is redrawn every `REGIME_SESSIONS` sessions, so that at any date some
sectors lead SPY and others lag, and "trending" means something. A stock follows its sector plus its own noise.
Prices are a pure function of (seed, ticker, date): asking for a date range twice gives the same numbers, and asking
for a later range never changes earlier days.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

from trendfolio import calendar
from trendfolio.universe import FIRST_SESSIONS, HOLDINGS_PER_ETF, SECTOR_ETFS

SOURCE_NAME = "synthetic"
EPOCH = dt.date(2015, 1, 2)  # first synthetic session; every path starts here at its base price
REGIME_SESSIONS = 60

# Ten holdings per sector ETF: real tickers so that a portfolio reads naturally, synthetic prices. Some stocks sit in two
# ETFs (as GOOGL does in XLC and the benchmarks) so that the allocation has to merge them.
SECTOR_HOLDINGS: dict[str, tuple[str, ...]] = {
    "XLK": ("AAPL", "MSFT", "NVDA", "AVGO", "ORCL", "CRM", "ADBE", "AMD", "CSCO", "ACN"),
    "XLF": ("BRK.B", "JPM", "V", "MA", "BAC", "WFC", "GS", "MS", "SPGI", "AXP"),
    "XLE": ("XOM", "CVX", "COP", "EOG", "SLB", "MPC", "PSX", "WMB", "OKE", "VLO"),
    "XLV": ("LLY", "UNH", "JNJ", "ABBV", "MRK", "TMO", "ABT", "ISRG", "AMGN", "PFE"),
    "XLY": ("AMZN", "TSLA", "HD", "MCD", "LOW", "BKNG", "TJX", "SBUX", "NKE", "ORLY"),
    "XLP": ("COST", "WMT", "PG", "KO", "PEP", "PM", "MDLZ", "MO", "CL", "TGT"),
    "XLI": ("GE", "CAT", "RTX", "UNP", "HON", "ETN", "BA", "DE", "LMT", "UPS"),
    "XLB": ("LIN", "SHW", "APD", "ECL", "FCX", "NEM", "CTVA", "DD", "NUE", "DOW"),
    "XLU": ("NEE", "SO", "DUK", "CEG", "AEP", "SRE", "D", "EXC", "XEL", "PEG"),
    "XLRE": ("PLD", "AMT", "EQIX", "WELL", "SPG", "PSA", "O", "DLR", "CCI", "CBRE"),
    "XLC": ("META", "GOOGL", "NFLX", "TMUS", "DIS", "CMCSA", "VZ", "T", "EA", "AMZN"),
}
BENCHMARK_HOLDINGS: dict[str, tuple[str, ...]] = {
    "SPY": ("AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOGL", "BRK.B", "AVGO", "LLY", "JPM"),
    "QQQ": ("AAPL", "MSFT", "NVDA", "AMZN", "AVGO", "META", "GOOGL", "TSLA", "COST", "NFLX"),
    "DIA": ("UNH", "GS", "MSFT", "HD", "CAT", "AMGN", "V", "CRM", "MCD", "AXP"),
    "IWM": ("FCX", "NUE", "DOW", "EA", "O", "PEG", "ORLY", "OKE", "CBRE", "TGT"),
}


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def generated_holding(etf: str, rank: int) -> str:
    """The made-up stock at `rank` (1-based) of a sector ETF's list beyond its real tickers, e.g. XLK-011: clearly
    not a real ticker, and it names its sector."""
    return f"{etf}-{rank:03d}"


def _sector_of(stock: str) -> str:
    if "-" in stock:
        return stock.split("-", 1)[0]
    return next((etf for etf, members in SECTOR_HOLDINGS.items() if stock in members), "XLK")


class SyntheticSource:
    """`top_n`: holdings listed per ETF (the real tickers first, then made-up ones); `sectors`: the ETFs that follow a
    sector path of their own (a configured sector ETF the table above does not know gets one too)."""

    name = SOURCE_NAME

    def __init__(self, seed: int = 7, top_n: int = HOLDINGS_PER_ETF, sectors: tuple[str, ...] = SECTOR_ETFS):
        self.seed = seed
        self.top_n = top_n
        self.sectors = tuple(sectors)

    # --- price paths -------------------------------------------------------------------------------------------
    def _sessions(self, end: dt.date) -> list[dt.date]:
        return calendar.sessions_between(EPOCH, end)

    def _sector_returns(self, sector: str, n: int) -> np.ndarray:
        regimes = n // REGIME_SESSIONS + 1
        drifts = np.random.default_rng(_seed(self.seed, "drift", sector)).normal(0.0002, 0.0018, regimes)
        noise = np.random.default_rng(_seed(self.seed, "noise", sector)).normal(0.0, 0.011, n)
        return np.repeat(drifts, REGIME_SESSIONS)[:n] + noise

    def _market_returns(self, n: int) -> np.ndarray:
        return np.mean([self._sector_returns(s, n) for s in self.sectors], axis=0)

    def _daily_returns(self, ticker: str, n: int) -> np.ndarray:
        if ticker in self.sectors:
            return self._sector_returns(ticker, n)
        if ticker in ("SPY", "DIA"):
            return self._market_returns(n) + np.random.default_rng(_seed(self.seed, ticker)).normal(0, 0.001, n)
        if ticker == "QQQ":
            return 0.6 * self._sector_returns("XLK", n) + 0.4 * self._market_returns(n)
        if ticker == "IWM":
            return 1.2 * self._market_returns(n) + np.random.default_rng(_seed(self.seed, ticker)).normal(0, 0.004, n)
        idiosyncratic = np.random.default_rng(_seed(self.seed, "stock", ticker)).normal(0.0001, 0.014, n)
        return self._sector_returns(_sector_of(ticker), n) + idiosyncratic

    def _ohlc(self, ticker: str, end: dt.date) -> pd.DataFrame:
        sessions = self._sessions(end)
        n = len(sessions)
        # One generator per component: a draw of n values then starts with the same values as a draw of fewer,
        # which is what keeps earlier days unchanged when the range grows.
        def draws(component: str) -> np.random.Generator:
            return np.random.default_rng(_seed(self.seed, component, ticker))

        base = 20 + draws("base").random() * 280
        close = base * np.exp(np.cumsum(self._daily_returns(ticker, n)))
        open_ = np.concatenate([[base], close[:-1]]) * np.exp(draws("gap").normal(0, 0.003, n))
        high = np.maximum(open_, close) * (1 + np.abs(draws("wick_up").normal(0, 0.006, n)))
        low = np.minimum(open_, close) * (1 - np.abs(draws("wick_down").normal(0, 0.006, n)))
        volume = draws("volume").lognormal(15.5, 0.35, n).astype(np.int64)
        return pd.DataFrame(
            {
                "ticker": ticker,
                "trade_date": sessions,
                "open": open_.round(4),
                "high": high.round(4),
                "low": low.round(4),
                "close": close.round(4),
                "adj_close": close.round(4),  # the synthetic market pays no dividends
                "volume": volume,
            }
        )

    # --- the source interface -----------------------------------------------------------------------------------
    def daily_ohlc(self, tickers: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        frames = []
        for ticker in tickers:
            frame = self._ohlc(ticker, end)
            # Like a real source, no price before an ETF's first trading day.
            frames.append(frame[frame.trade_date >= FIRST_SESSIONS.get(ticker, start)])
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if frame.empty:
            return frame
        return frame[(frame.trade_date >= start) & (frame.trade_date <= end)].reset_index(drop=True)

    def _sector_members(self, etf: str, count: int) -> list[str]:
        real = list(SECTOR_HOLDINGS.get(etf, ()))
        return real + [generated_holding(etf, rank) for rank in range(len(real) + 1, count + 1)]

    def _members(self, etf: str) -> list[str]:
        """The ETF's list, at least `top_n` long: a sector's real tickers then made-up ones; a benchmark's real
        tickers then the sectors' members taken in turn (it holds the whole market)."""
        count = max(self.top_n, HOLDINGS_PER_ETF)
        if etf in self.sectors:
            return self._sector_members(etf, count)
        members = list(BENCHMARK_HOLDINGS.get(etf, ()))
        by_sector = [self._sector_members(sector, count) for sector in self.sectors]
        for stock in (stock for rank in zip(*by_sector) for stock in rank):
            if len(members) >= count:
                break
            if stock not in members:
                members.append(stock)
        return members

    def etf_holdings(self, etf: str, as_of: dt.date) -> pd.DataFrame:
        if etf not in self.sectors and etf not in BENCHMARK_HOLDINGS:
            return pd.DataFrame(columns=["etf_ticker", "holding_ticker", "holding_name", "weight"])
        # Weights that drift slowly with the date, like a real fund's, and sum to well under 1; drawn for the whole
        # list, then cut to the `top_n` largest as Yahoo's topHoldings is.
        members = self._members(etf)
        rng = np.random.default_rng(_seed(self.seed, "holdings", etf, as_of.year, as_of.month))
        raw = (np.sort(rng.dirichlet(np.ones(len(members)) * 2.0))[::-1] * 0.6)[:self.top_n]
        members = members[:self.top_n]
        return pd.DataFrame(
            {
                "etf_ticker": etf,
                "holding_ticker": list(members),
                "holding_name": [f"{m} (synthetic)" for m in members],
                "weight": raw.round(6),
            }
        )

