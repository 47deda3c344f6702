"""Which market-data source the collection assets read: synthetic (offline, labelled), or yfinance (live)."""

from __future__ import annotations

from dagster import ConfigurableResource

from trendfolio.sources import MarketDataSource, make_source


class MarketDataResource(ConfigurableResource):
    source: str = "synthetic"
    synthetic_seed: int = 7

    def client(self) -> MarketDataSource:
        if self.source == "synthetic":
            return make_source("synthetic", seed=self.synthetic_seed)
        return make_source(self.source)
