"""Which market-data source the collection assets read: synthetic (offline, labelled), replay (recorded real data) or
yfinance (live), and the universe they collect: the benchmark and sector ETFs and the holdings per ETF."""

from __future__ import annotations

from dagster import ConfigurableResource

from trendfolio.sources import MarketDataSource, make_source
from trendfolio.universe import BENCHMARK_ETFS, HOLDINGS_PER_ETF, SECTOR_ETFS, Universe


class MarketDataResource(ConfigurableResource):
    """`replay_dir`: folders of recorded CSV files separated by ':' (or a marketdata root; empty: ../shared/marketdata).
    `yahoo_requests_per_second`, `yahoo_max_retries`: our own throttle and the rate-limit retries before failing.
    `yahoo_base_url`: a stand-in for Yahoo to send yfinance's requests to (the recorded-response server of the
    benchmarks and fault tests); empty: Yahoo itself. `benchmark_etfs`, `sector_etfs` (comma-separated tickers) and
    `holdings_per_etf`: the universe (trendfolio/universe.py), checked when a run asks for it."""

    source: str = "synthetic"
    synthetic_seed: int = 7
    replay_dir: str = ""
    yahoo_requests_per_second: float = 2.0
    yahoo_max_retries: int = 5
    yahoo_base_url: str = ""
    benchmark_etfs: str = ",".join(BENCHMARK_ETFS)
    sector_etfs: str = ",".join(SECTOR_ETFS)
    holdings_per_etf: int = HOLDINGS_PER_ETF

    def universe(self) -> Universe:
        return Universe.from_settings(self.benchmark_etfs, self.sector_etfs, self.holdings_per_etf)

    def client(self) -> MarketDataSource:
        universe = self.universe()
        if self.source == "synthetic":
            return make_source("synthetic", seed=self.synthetic_seed, top_n=universe.holdings_per_etf,
                               sectors=universe.sectors)
        if self.source == "replay":
            return make_source("replay", directories=self.replay_dir or None, top_n=universe.holdings_per_etf)
        if self.source == "yfinance":
            return make_source("yfinance", requests_per_second=self.yahoo_requests_per_second,
                               max_retries=self.yahoo_max_retries, base_url=self.yahoo_base_url,
                               top_n=universe.holdings_per_etf)
        return make_source(self.source)
