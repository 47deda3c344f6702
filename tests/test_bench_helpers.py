"""The benchmarks' pure helpers (the benchmarks themselves run outside pytest: `uv run python -m bench.run_all`)."""

import datetime as dt

import numpy as np
import pandas as pd

from bench import (  # noqa: F401
    analytics_scale, child, common, kafka_ingest, nightly, pipeline, plain_night, run_all, yahoo_budget,
)
from trendfolio.validation import validate_ohlc


def test_the_kafka_benchmark_rows_are_all_valid_ohlc():
    frame = kafka_ingest.ohlc_frame(5_000)
    assert len(frame) == 5_000 and frame["ticker"].nunique() == 2
    checked = validate_ohlc(frame.drop(columns=["source"]), kafka_ingest.LAST_SESSION)
    assert len(checked.valid) == 5_000 and not checked.rejected


def test_history_frames_hold_every_table_for_the_sessions_asked():
    first, last = dt.date(2026, 8, 3), dt.date(2026, 11, 24)
    frames = pipeline.history_frames(first, last)
    etfs = frames["collected_01_daily_etf_ohlc"]
    assert etfs.trade_date.min() == first and etfs.trade_date.max() == last and etfs.ticker.nunique() == 15
    portfolio = frames["analytics_05_portfolio_allocation"]
    sums = portfolio.groupby(["session_date", "horizon"])["weight"].sum()
    assert np.allclose(sums, 1.0)
    trending = frames["analytics_03_trending_etfs"]
    held = frames["collected_04_etf_holdings"]
    assert set(held.etf_ticker) <= set(trending.loc[trending.is_trending, "ticker"])


def test_range_runs_carry_the_partition_range_tags():
    assert child.pipeline_run_tags("2026-11-25", "2026-11-25") == {}
    assert child.pipeline_run_tags("2026-09-01", "2026-11-25") == {
        "dagster/asset_partition_range_start": "2026-09-01", "dagster/asset_partition_range_end": "2026-11-25"}


def test_the_pandas_reference_computes_every_row():
    etfs, stocks = analytics_scale.pandas_universe(3, 4, 1)
    assert len(etfs) == 3 * 252 and len(stocks) == 4 * 252 and (etfs.adj_close > 0).all()
    trend = analytics_scale.pandas_trend_metrics(etfs)
    spy = trend[trend.ticker == "SPY"]
    assert np.allclose(spy.excess_20.dropna(), 0.0)
    assert trend.groupby("trade_date").score_rank.max().max() <= 2  # one benchmark, two sectors ranked per role


def test_report_table_and_verdicts():
    table = common.format_table(["a", "bb"], [["1", "2"]])
    assert table.splitlines()[1].startswith("|--")
    assert common.within(3.0, 3.0) and not common.within(3.1, 3.0) and common.at_least(0.5, 0.5)
    assert yahoo_budget.verdict(20, 0, tickers=15, trending_etfs=5)
    assert not yahoo_budget.verdict(21, 0, tickers=15, trending_etfs=5)
    assert not yahoo_budget.verdict(20, 1, tickers=15, trending_etfs=5)


def test_step_times_are_read_from_dagsters_event_log():
    log = ('... - analytics_03_trending_etfs - STEP_SUCCESS - Finished execution of step "analytics_03_trending_etfs" '
           'in 1m7s.\n... STEP_SUCCESS - Finished execution of step "collected_04_etf_holdings" in 744ms.\n')
    assert pipeline.step_times(log) == {"analytics_03_trending_etfs": "1m7s", "collected_04_etf_holdings": "744ms"}


def test_the_plain_scripts_measures_follow_the_rules():
    rng = np.random.default_rng(3)
    values = rng.normal(size=30)
    deviations = plain_night.running_stddev(values)
    assert np.isnan(deviations[0])
    assert np.allclose(deviations[1:], [np.std(values[:k + 1], ddof=1) for k in range(1, 30)], rtol=1e-12)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size=60)))
    series = pd.DataFrame({"adj_close": closes, "session_no": np.arange(1, 61)})
    whole = plain_night.measures_at(series, (5, 20), with_ma=True)
    assert np.isclose(whole["ret_5"], closes[-1] / closes[-6] - 1) and np.isclose(whole["ma_50"], closes[-50:].mean())
    # A missing session 10 rows back: the 20-session return, the volatility and the average cross it and are null.
    gap = series.drop(index=49).assign(session_no=lambda s: s.session_no)
    holed = plain_night.measures_at(gap.reset_index(drop=True), (5, 20), with_ma=True)
    assert np.isclose(holed["ret_5"], whole["ret_5"])
    assert np.isnan(holed["ret_20"]) and np.isnan(holed["vol_20"]) and np.isnan(holed["ma_50"])
