"""Which market-data source the collection assets read: synthetic (offline, labelled), replay (recorded real data) or
yfinance (live)."""

from __future__ import annotations

from dagster import ConfigurableResource

from trendfolio.sources import MarketDataSource, make_source


class MarketDataResource(ConfigurableResource):
    """`replay_dir`: folders of recorded CSV files separated by ':' (or a marketdata root; empty: ../shared/marketdata).
    `yahoo_requests_per_second`, `yahoo_max_retries`: our own throttle and the rate-limit retries before failing.
    `yahoo_base_url`: a stand-in for Yahoo to send yfinance's requests to (the recorded-response server of the
    benchmarks and fault tests); empty: Yahoo itself."""

    source: str = "synthetic"
    synthetic_seed: int = 7
    replay_dir: str = ""
    yahoo_requests_per_second: float = 2.0
    yahoo_max_retries: int = 5
    yahoo_base_url: str = ""

    def client(self) -> MarketDataSource:
        if self.source == "synthetic":
            return make_source("synthetic", seed=self.synthetic_seed)
        if self.source == "replay":
            return make_source("replay", directories=self.replay_dir or None)
        if self.source == "yfinance":
            return make_source("yfinance", requests_per_second=self.yahoo_requests_per_second,
                               max_retries=self.yahoo_max_retries, base_url=self.yahoo_base_url)
        return make_source(self.source)
