"""Benchmark 7: HTTP requests to Yahoo for one nightly run of the default universe, and for a second run of the same
night. Target: the first run makes at most one request per ticker plus one per trending ETF's holdings; the second
makes none.

    uv run python -m bench.yahoo_budget

The nightly job runs as `trendfolio run` would (bench.child, the code location configured from the environment) with
TRENDFOLIO_SOURCE=yfinance and TRENDFOLIO_YAHOO_BASE_URL pointing the real yfinance at the recorded-response server
(trendfolio.devtools.yahoo_recorded_server), which answers with the real prices and holdings snapshots of
../shared/marketdata for any ticker of the default universe and counts what it serves. The night is NIGHT, inside the
data's range, on an empty database: the first run fetches the history the analytics need as well as the night.

Counted separately, because they are not per-ticker data requests: yfinance's cookie and crumb handshake (once per
process) and its time-zone probe (one chart request without a period per ticker, until its time-zone cache knows
the ticker; the run starts with an empty cache, so every ticker is probed once). The target is checked on the data
requests (charts with a period, quote summaries) and, separately, on every request including those.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import Iterator

import psycopg

from bench.common import Outcome, Services, run_main
from bench.pipeline import pipeline_run
from trendfolio.devtools.yahoo_recorded_server import (
    CHART,
    COOKIE,
    CRUMB,
    QUOTE_SUMMARY_KIND,
    TZ_PROBE,
    RecordedYahoo,
    serve,
)
from trendfolio.sources.replay import DEFAULT_MARKETDATA, ReplaySource
from trendfolio.universe import ALL_ETFS

NIGHT = dt.date(2022, 3, 14)  # inside the holdings snapshots (2021-07 .. 2022-08) and every price file


def request_budget(tickers: int, trending_etfs: int) -> int:
    """The most requests a first nightly run may make: one chart request per ticker (ETFs and the stocks held by the
    trending ETFs) and one holdings request (quoteSummary topHoldings) per trending ETF."""
    return tickers + trending_etfs


def verdict(first_run_requests: int, second_run_requests: int, tickers: int, trending_etfs: int) -> bool:
    return first_run_requests <= request_budget(tickers, trending_etfs) and second_run_requests == 0


def marketdata_root() -> Path:
    return Path(os.environ.get("TRENDFOLIO_SHARED_MARKETDATA") or DEFAULT_MARKETDATA)


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the child runs started inside the block."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def universe_of_the_night(database_url: str) -> tuple[int, int, int, list[str]]:
    """(ETFs, distinct stocks held by the night's trending ETFs, trending ETFs, the held stocks the shared data has no
    prices for) as the run stored them."""
    with psycopg.connect(database_url) as conn:
        held = [row[0] for row in conn.execute(
            "SELECT DISTINCT holding_ticker FROM collected_04_etf_holdings WHERE as_of_date = %s ORDER BY 1",
            (NIGHT,))]
        priced = {row[0] for row in conn.execute(
            "SELECT DISTINCT ticker FROM collected_06_daily_stock_history WHERE trade_date = %s", (NIGHT,))}
        trending = conn.execute("SELECT count(*) FROM analytics_03_trending_etfs "
                                "WHERE session_date = %s AND is_trending", (NIGHT,)).fetchone()[0]
    return len(ALL_ETFS), len(held), trending, [stock for stock in held if stock not in priced]


def measure(services: Services) -> list[Outcome]:
    marketdata = marketdata_root()
    yahoo = RecordedYahoo(marketdata, replay=ReplaySource(marketdata), holdings_as_of=NIGHT)
    url = services.new_database("bench_yahoo")
    runs = []
    try:
        with serve(yahoo) as base, environment(
                TRENDFOLIO_SOURCE="yfinance", TRENDFOLIO_YAHOO_BASE_URL=base,
                XDG_CACHE_HOME=str(services.root / "yfinance-cache")):  # yfinance's caches start empty
            for _ in range(2):
                yahoo.reset_counts()
                child = pipeline_run(services, url, NIGHT, NIGHT)
                runs.append((child.seconds, dict(yahoo.counts)))
        etfs, stocks, trending, unpriced = universe_of_the_night(url)
    finally:
        services.drop_database(url)
    (first_s, first), (second_s, second) = runs
    data = lambda counts: counts.get(CHART, 0) + counts.get(QUOTE_SUMMARY_KIND, 0)
    total = lambda counts: sum(counts.values())
    budget = request_budget(etfs + stocks, trending)
    passed = verdict(data(first), total(second), etfs + stocks, trending)
    return [Outcome(
        7, "Yahoo budget",
        f"HTTP requests to Yahoo for one nightly run of the default universe ({NIGHT}, yfinance against the "
        "recorded-response server, empty database) and for a second run of the same night",
        float(data(first)), "first ≤ tickers + trending ETFs (data requests); second 0 (all requests)", passed,
        {"tickers (ETFs + stocks held by the trending ETFs)": f"{etfs} + {stocks} = {etfs + stocks}",
         "trending ETFs": str(trending),
         "held stocks without prices in ../shared/marketdata (the server answers 404)":
             f"{len(unpriced)}: {', '.join(unpriced)}",
         "budget: tickers + trending ETFs": str(budget),
         "first run: data requests (charts + quote summaries)": f"{data(first)} ({first.get(CHART, 0)} + "
                                                                f"{first.get(QUOTE_SUMMARY_KIND, 0)})",
         "first run: time-zone probes (yfinance, once per ticker per cache)": str(first.get(TZ_PROBE, 0)),
         "first run: cookie + crumb (yfinance, once per process)": f"{first.get(COOKIE, 0)} + {first.get(CRUMB, 0)}",
         "first run: every request": f"{total(first)} (budget {'met' if total(first) <= budget else 'exceeded'} "
                                     "counting them all)",
         "second run: every request": str(total(second)),
         "first run wall time": f"{first_s:.1f} s",
         "second run wall time": f"{second_s:.1f} s"},
        ["the second run asks Yahoo nothing: every ticker's session was fetched after the session's close by the "
         "completed first run (ops_collection_fetches), so collected_01/04/06 skip the source "
         "(trendfolio.collect.already_collected)",
         "time-zone probes and the cookie/crumb handshake are yfinance's own and listed apart from the data requests",
         "for a symbol Yahoo does not know (here: a held stock the shared data has no prices for) yfinance probes the "
         "time zone again and tries quoteSummary, quote and timeseries endpoints: those are the data requests above "
         "the one-per-ticker chart, and most of the time-zone probes",
         "the cookie is fetched before nearly every request because the stand-in cannot set it on .yahoo.com, "
         "where yfinance looks for it to cache it; against Yahoo it is fetched once per cookie lifetime",
         "the recorded-response server serves the real prices of ../shared/marketdata in Yahoo's recorded chart "
         "shape; QQQ's holdings are the recorded quoteSummary (2025), the other ETFs' the jmaslek snapshots"],
    )]


if __name__ == "__main__":
    run_main(measure)
