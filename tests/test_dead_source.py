"""Issue case 5, a dead source: Yahoo unreachable (a refused connection, a host name that does not resolve) or
answering nothing for every ticker is `YahooUnavailable` after the usual backoff, and a collection run that stores no
row for a session fails instead of reporting success.

Two dead Yahoos, neither of which sends a request to Yahoo: a closed port on 127.0.0.1, and a host under the reserved
`.invalid` top-level domain (RFC 6761: resolvers answer NXDOMAIN for it), which is how "no network" looks to yfinance
(curl's error 6, "Could not resolve host"), whatever network the machine has. Resolving it asks the machine's own
resolver, the only traffic that leaves 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess

import pytest
from dagster import materialize

from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
from orchestration_stack import BIN, OrchestrationStack
from resources import MarketDataResource
from trendfolio import stack
from trendfolio.devtools.yahoo_recorded_server import RecordedYahoo, serve
from trendfolio.sources.yahoo import YahooUnavailable, YahooSource, is_retried_error
from trendfolio.tables import PIPELINE_TABLES

NIGHT = dt.date(2022, 3, 14)
UNRESOLVABLE_HOST = "finance.yahoo.invalid"


def fast_yahoo(base: str) -> YahooSource:
    return YahooSource(requests_per_second=1000, max_retries=2, backoff_base_s=0.01, backoff_cap_s=0.02,
                       base_url=base, timeout_s=2)


def test_case5_dns_failures_and_refused_connections_are_retried_then_fatal():
    assert is_retried_error("DNSError('Failed to perform, curl: (6) Could not resolve host: query1.finance.yahoo.com')")
    assert is_retried_error("ConnectionError('Failed to perform, curl: (7) Failed to connect to 127.0.0.1:9')")
    assert not is_retried_error("YFPricesMissingError('possibly delisted; no price data found')")


def test_case5_a_closed_port_is_yahoo_unavailable_naming_the_tickers(tmp_path):
    import yfinance as yf

    yf.set_tz_cache_location(str(tmp_path / "yf-cache"))
    with pytest.raises(YahooUnavailable, match="SPY") as error:
        fast_yahoo(f"http://127.0.0.1:{stack.free_port()}").daily_ohlc(["SPY", "XLK"], NIGHT, NIGHT)
    assert error.value.tickers == ["SPY", "XLK"]


def test_case5_nothing_for_every_ticker_is_yahoo_unavailable(shared_marketdata, tmp_path):
    """The recorded server without replay data answers 404 "no data" to symbols it has no recording of: a whole
    request answered with nothing is not a list of delisted symbols."""
    import yfinance as yf
    from yfinance.data import YfData

    yf.set_tz_cache_location(str(tmp_path / "yf-cache"))
    YfData.cache_get.cache_clear()
    with serve(RecordedYahoo(shared_marketdata)) as base:
        with pytest.raises(YahooUnavailable, match="XLB") as error:
            fast_yahoo(base).daily_ohlc(["XLB", "XLE"], NIGHT, NIGHT)
    assert error.value.tickers == ["XLB", "XLE"]


@pytest.mark.integration
def test_case5_a_run_that_stores_nothing_fails_and_materializes_nothing(resources, warehouse, tmp_path):
    """A source that answers with no rows at all (an empty replay folder): the asset fails naming the session."""
    (tmp_path / "empty").mkdir()
    result = materialize([collected_01_daily_etf_ohlc], partition_key=NIGHT.isoformat(), raise_on_error=False,
                         resources={**resources, "market_data": MarketDataResource(
                             source="replay", replay_dir=str(tmp_path / "empty"))})
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failures[0].event_specific_data.error
    while error.cause is not None:
        error = error.cause
    assert "NothingCollected" in error.message and str(NIGHT) in error.message, error.message
    assert not result.asset_materializations_for_node("collected_01_daily_etf_ohlc")
    assert warehouse.scalar("SELECT count(*) FROM ops_collection_fetches") == 0


def run_against_dead_yahoo(services, tmp_path, base_url: str) -> tuple[subprocess.CompletedProcess, int, dict]:
    """`trendfolio run` (a subprocess, the yfinance source sent to `base_url`) on its own warehouse and Dagster
    instance: the finished process, the asset materializations Dagster recorded, and the rows of every table."""
    orchestration = OrchestrationStack(services.admin_url, services.bootstrap_servers, tmp_path)
    try:
        env = {**orchestration.env, "TRENDFOLIO_SOURCE": "yfinance", "TRENDFOLIO_YAHOO_BASE_URL": base_url}
        done = subprocess.run([str(BIN / "trendfolio"), "run", "--date", NIGHT.isoformat()], env=env,
                              capture_output=True, text=True, timeout=600)
        materialized = orchestration.instance_db.scalar(
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
        stored = {table.name: orchestration.warehouse.scalar(f"SELECT count(*) FROM {table.name}")
                  for table in PIPELINE_TABLES}
    finally:
        orchestration.close()
    return done, materialized, stored


@pytest.mark.integration
def test_case5_trendfolio_run_with_yahoo_unreachable_exits_non_zero_with_one_line(services, tmp_path):
    done, materialized, stored = run_against_dead_yahoo(services, tmp_path,
                                                        f"http://127.0.0.1:{stack.free_port()}")
    failed = [line for line in (done.stdout + done.stderr).splitlines() if "FAILED" in line]
    assert done.returncode != 0, done.stdout[-2000:]
    assert len(failed) == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "collected_01_daily_etf_ohlc" in failed[0] and "Yahoo" in failed[0] and "'SPY'" in failed[0], failed[0]
    assert materialized == 0 and not any(stored.values()), stored


@pytest.mark.integration
def test_case5_trendfolio_run_with_no_dns_exits_non_zero_with_one_line_naming_the_host(services, tmp_path):
    """The done-check of case 5: no name resolves, as with no network. The run fails with exit 1 and one line on
    stderr naming the resolution failure; Dagster records no materialization (the partition stays unmaterialized) and
    no table has a row."""
    with pytest.raises(socket.gaierror):  # a resolver that answers for .invalid would make this another test
        socket.getaddrinfo(UNRESOLVABLE_HOST, 443)
    done, materialized, stored = run_against_dead_yahoo(services, tmp_path, f"https://{UNRESOLVABLE_HOST}")
    errors = done.stderr.strip().splitlines()
    print(f"trendfolio run with Yahoo under .invalid: exit {done.returncode}; stderr: {done.stderr.strip()}")
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(errors) == 1, done.stderr[-2000:]
    assert "FAILED" in errors[0] and "collected_01_daily_etf_ohlc" in errors[0], errors[0]
    assert "YahooUnavailable" in errors[0] and f"Could not resolve host: {UNRESOLVABLE_HOST}" in errors[0], errors[0]
    assert materialized == 0 and not any(stored.values()), stored
