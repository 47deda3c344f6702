"""Benchmark 7: HTTP requests to Yahoo for one nightly run of the default universe, and for a second run of the same
night. Target: the first run makes at most one request per ticker plus one per trending ETF's holdings; the second
makes none.

    uv run python -m bench.yahoo_budget

NOT MEASURED YET. Counting needs yfinance pointed at a local server that answers Yahoo's chart and quoteSummary
endpoints from the recorded responses in ../shared/marketdata/gadicc_node-yahoo-finance2 and counts what it serves.
That server is part of issue 3 (the yfinance adapter tested against recorded responses); once it is on main, measure()
runs the nightly job twice with TRENDFOLIO_SOURCE=yfinance against it and compares the counts with
`request_budget`. Until then this benchmark reports "not measured" (exit code 0) rather than a made-up figure.
"""

from __future__ import annotations

from bench.common import Outcome, Services, run_main


def request_budget(tickers: int, trending_etfs: int) -> int:
    """The most requests a first nightly run may make: one chart request per ticker (ETFs and the stocks held by the
    trending ETFs) and one holdings request (quoteSummary topHoldings) per trending ETF."""
    return tickers + trending_etfs


def verdict(first_run_requests: int, second_run_requests: int, tickers: int, trending_etfs: int) -> bool:
    return first_run_requests <= request_budget(tickers, trending_etfs) and second_run_requests == 0


def measure(services: Services) -> list[Outcome]:
    return [Outcome(
        7, "Yahoo budget",
        "HTTP requests to Yahoo for one nightly run of the default universe and for a second run of the same night",
        None, "first ≤ tickers + trending ETFs; second 0", None,
        notes=["not measured yet: needs the recorded-response Yahoo server of issue 3 to point yfinance at; "
               "request_budget() and verdict() hold the target"],
    )]


if __name__ == "__main__":
    run_main(measure)
