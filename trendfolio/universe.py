"""The ETF universe the pipeline watches, and how many holdings of each ETF it collects.

Both are settings (docs/configuration.md): `TRENDFOLIO_BENCHMARK_ETFS`, `TRENDFOLIO_SECTOR_ETFS` (comma-separated
tickers) and `TRENDFOLIO_HOLDINGS_PER_ETF`. The constants below are their defaults; a run's universe is the
`Universe` its market-data resource was configured with.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from trendfolio.settings import SettingInvalid
from trendfolio.validation import TICKER_PATTERN

BENCHMARK = "SPY"  # excess returns are measured against it
BENCHMARK_ETFS = ("SPY", "QQQ", "DIA", "IWM")
SECTOR_ETFS = ("XLK", "XLF", "XLE", "XLV", "XLY", "XLP", "XLI", "XLB", "XLU", "XLRE", "XLC")
ALL_ETFS = BENCHMARK_ETFS + SECTOR_ETFS
HOLDINGS_PER_ETF = 10  # as many as Yahoo's topHoldings lists
MAX_HOLDINGS_PER_ETF = 1000  # beyond any real ETF's list: a larger figure is a typo

# The first trading day of the default ETFs that began after the calendar's first session (1998-12-22, the sector
# SPDRs' own first day; SPY and DIA traded before it), as in the issuers' histories and ../shared/marketdata. Before
# it an ETF has no price: no session expects a row for it, and the trend rule ranks the sectors that existed.
FIRST_SESSIONS = {"QQQ": dt.date(1999, 3, 10), "IWM": dt.date(2000, 5, 26),
                  "XLRE": dt.date(2015, 10, 8), "XLC": dt.date(2018, 6, 19)}

BENCHMARK_ETFS_VARIABLE = "TRENDFOLIO_BENCHMARK_ETFS"
SECTOR_ETFS_VARIABLE = "TRENDFOLIO_SECTOR_ETFS"
HOLDINGS_PER_ETF_VARIABLE = "TRENDFOLIO_HOLDINGS_PER_ETF"


def listed_on(ticker: str, day: dt.date) -> bool:
    """Whether `ticker` traded on `day`; a ticker without a known first trading day is taken to have."""
    first = FIRST_SESSIONS.get(ticker)
    return first is None or day >= first


def tickers_setting(variable: str, text: str) -> tuple[str, ...]:
    """'SPY, QQQ' → ('SPY', 'QQQ'); SettingInvalid naming the variable for an empty list, a malformed or repeated
    ticker."""
    tickers = tuple(part.strip() for part in text.split(","))
    bad = [ticker for ticker in tickers if not TICKER_PATTERN.match(ticker)]
    if bad or not text.strip():
        raise SettingInvalid(f"{variable}={text!r} is not a comma-separated list of tickers "
                             f"(upper case, e.g. SPY,QQQ){f': {bad[0]!r}' if bad and bad[0] else ''}")
    repeated = sorted({ticker for ticker in tickers if tickers.count(ticker) > 1})
    if repeated:
        raise SettingInvalid(f"{variable} names {', '.join(repeated)} more than once")
    return tickers


def holdings_setting(variable: str, value: int | str) -> int:
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= MAX_HOLDINGS_PER_ETF:
        raise SettingInvalid(f"{variable}={value!r} is not a number of holdings per ETF between 1 and "
                             f"{MAX_HOLDINGS_PER_ETF}")
    return count


@dataclass(frozen=True)
class Universe:
    """The benchmark and sector ETFs of a run and the holdings it collects per ETF, checked when made: a wrong one
    raises SettingInvalid in one line naming the setting."""

    benchmarks: tuple[str, ...] = BENCHMARK_ETFS
    sectors: tuple[str, ...] = SECTOR_ETFS
    holdings_per_etf: int = HOLDINGS_PER_ETF

    def __post_init__(self) -> None:
        if BENCHMARK not in self.benchmarks:
            raise SettingInvalid(f"{BENCHMARK_ETFS_VARIABLE} must include {BENCHMARK}: excess returns are measured "
                                 f"against it")
        both = sorted(set(self.benchmarks) & set(self.sectors))
        if both:
            raise SettingInvalid(f"{', '.join(both)} is both a benchmark ({BENCHMARK_ETFS_VARIABLE}) and a sector "
                                 f"({SECTOR_ETFS_VARIABLE}) ETF")

    @classmethod
    def from_settings(cls, benchmarks: str, sectors: str, holdings_per_etf: int | str) -> "Universe":
        return cls(tickers_setting(BENCHMARK_ETFS_VARIABLE, benchmarks), tickers_setting(SECTOR_ETFS_VARIABLE, sectors),
                   holdings_setting(HOLDINGS_PER_ETF_VARIABLE, holdings_per_etf))

    @classmethod
    def from_environment(cls) -> "Universe":
        """The universe the environment sets, each unset variable at its default."""
        return cls.from_settings(os.environ.get(BENCHMARK_ETFS_VARIABLE) or ",".join(BENCHMARK_ETFS),
                                 os.environ.get(SECTOR_ETFS_VARIABLE) or ",".join(SECTOR_ETFS),
                                 os.environ.get(HOLDINGS_PER_ETF_VARIABLE) or HOLDINGS_PER_ETF)

    @property
    def etfs(self) -> tuple[str, ...]:
        return self.benchmarks + self.sectors

    def role(self, ticker: str) -> str:
        if ticker in self.benchmarks:
            return "benchmark"
        if ticker in self.sectors:
            return "sector"
        raise ValueError(f"{ticker} is not in the ETF universe")


DEFAULT_UNIVERSE = Universe()


def etf_role(ticker: str) -> str:
    """The role in the default universe."""
    return DEFAULT_UNIVERSE.role(ticker)
