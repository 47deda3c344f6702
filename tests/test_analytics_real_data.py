"""Stages 3, 5 and the realized performance on real market data, through the real Spark path (JDBC in, staging out),
checked row by row against the independent pandas reference (tests/analytics_reference.py).

One module-scoped range run over 60 sessions (a single Spark job per asset) feeds every test here."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg
import pytest
from dagster import materialize

from assets import ALL_ASSETS
from assets.analytics_03_trending_etfs import analytics_03_trending_etfs
from assets.analytics_05_portfolio_allocation import analytics_05_portfolio_allocation
from assets.analytics_07_portfolio_performance import analytics_07_portfolio_performance
from assets.analytics_08_portfolio_baselines import analytics_08_portfolio_baselines
import analytics_reference as reference
from marketdata_loader import ETFS, SECTORS, load, read_marketdata
from trendfolio import calendar

pytestmark = pytest.mark.integration

# Sept-Nov 2021: holdings snapshots exist for most sector ETFs (XLK, XLRE only from 2021-08-31).
RUN_START = dt.date(2021, 9, 2)
RUN_SESSIONS = calendar.sessions_between(RUN_START, dt.date(2021, 12, 31))[:60]
RUN_END = RUN_SESSIONS[-1]
DATA_FROM = calendar.previous_sessions(RUN_START, 80)[0]
LATER_UNTIL = calendar.sessions_between(RUN_END, dt.date(2022, 3, 1))[30]
CHECK_DATES = (RUN_SESSIONS[0], RUN_SESSIONS[29], RUN_END)
# The default rule: with ~150 priced stocks, both caps bind on real data.
ALLOCATION_CONFIG = {"max_stock_weight": 0.10, "max_etf_weight": 0.5, "min_eligible": 5}
REL = dict(rel=1e-9, abs=1e-15)
ANALYTICS = [analytics_03_trending_etfs, analytics_05_portfolio_allocation, analytics_07_portfolio_performance,
             analytics_08_portfolio_baselines]


def run(resources, start: dt.date, end: dt.date, selection=ANALYTICS):
    result = materialize(
        ALL_ASSETS, selection=selection, resources=resources,
        tags={"dagster/asset_partition_range_start": start.isoformat(),
              "dagster/asset_partition_range_end": end.isoformat()},
        run_config={"ops": {"analytics_05_portfolio_allocation": {"config": ALLOCATION_CONFIG}}}
        if analytics_05_portfolio_allocation in selection else None,
    )
    assert result.success
    return result


def table(warehouse, name: str) -> pd.DataFrame:
    with psycopg.connect(warehouse.database_url) as conn:
        cursor = conn.execute(f"SELECT * FROM {name} ORDER BY 1, 2, 3")
        frame = pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])
    return frame.drop(columns="computed_at")


@pytest.fixture(scope="module")
def market(shared_marketdata):
    data = read_marketdata(shared_marketdata, DATA_FROM, LATER_UNTIL)
    calendar_index = pd.Index(sorted(data.etf_prices.loc[data.etf_prices.ticker == "SPY", "trade_date"]))
    return data, calendar_index


@pytest.fixture(scope="module")
def pipeline(market, module_warehouse, module_resources):
    data, _ = market
    until_end = type(data)(data.etf_prices[data.etf_prices.trade_date <= RUN_END],
                           data.stock_prices[data.stock_prices.trade_date <= RUN_END],
                           data.holdings[data.holdings.as_of_date <= RUN_END])
    load(module_warehouse.database_url, until_end)
    result = run(module_resources, RUN_START, RUN_END)
    return result, {name: table(module_warehouse, name) for name in (
        "analytics_03_trending_etfs", "analytics_05_portfolio_allocation", "analytics_07_portfolio_performance",
        "analytics_08_portfolio_baselines")}


@pytest.fixture(scope="module")
def expected(market):
    """The reference's analytics_03 and _05 for every session of the run."""
    data, sessions = market
    closes = reference.close_table(data.etf_prices, sessions)
    stock_closes = reference.close_table(data.stock_prices, sessions)
    roles = {t: "sector" if t in SECTORS else "benchmark" for t in ETFS}
    trends, allocations = {}, []
    for day in RUN_SESSIONS:
        trends[day] = reference.trending(closes, roles, day)
        for h in (5, 10, 20):
            rows = reference.allocation(day, h, trends[day], data.holdings, stock_closes, closes["SPY"],
                                        ALLOCATION_CONFIG["max_stock_weight"], ALLOCATION_CONFIG["max_etf_weight"],
                                        ALLOCATION_CONFIG["min_eligible"])
            allocations.append(rows.assign(session_date=day, horizon=h))
    return trends, pd.concat(allocations, ignore_index=True), pd.concat([closes, stock_closes], axis=1)


def test_trending_matches_the_reference_on_every_session(pipeline, expected):
    _, tables = pipeline
    stored = tables["analytics_03_trending_etfs"]
    trends, _, _ = expected
    assert len(stored) == 15 * len(RUN_SESSIONS)
    assert set(stored.source) == {"replay"}
    for day in RUN_SESSIONS:
        got = stored[stored.session_date == day].set_index("ticker")
        want = trends[day]
        assert sorted(got.index) == sorted(want.index)
        for ticker in want.index:
            for column in ("adj_close", "ret_5", "ret_10", "ret_20", "ret_60", "excess_5", "excess_10", "excess_20",
                           "excess_60", "vol_20", "ma_50", "score"):
                assert got.at[ticker, column] == pytest.approx(want.at[ticker, column], **REL), (day, ticker, column)
            assert got.at[ticker, "score_rank"] == want.at[ticker, "score_rank"], (day, ticker)
            assert bool(got.at[ticker, "above_ma_50"]) == bool(want.at[ticker, "above_ma_50"]), (day, ticker)
            assert bool(got.at[ticker, "is_trending"]) == bool(want.at[ticker, "is_trending"]), (day, ticker)
        trending = got.index[got.is_trending]
        assert len(trending) <= 3 and set(got.loc[trending, "selection"]) <= {"trending"}
        assert (got.at["SPY", "selection"] == "benchmark_held") == (len(trending) == 0)
    counts = stored[stored.is_trending].groupby("session_date").size()
    assert counts.max() >= 2, "the real data should have sessions with several trending sectors"


def test_allocation_matches_the_reference_on_every_session(pipeline, expected):
    _, tables = pipeline
    stored = tables["analytics_05_portfolio_allocation"]
    _, want_all, _ = expected
    for (day, h), want in want_all.groupby(["session_date", "horizon"]):
        got = stored[(stored.session_date == day) & (stored.horizon == h)].set_index("ticker")
        want = want.set_index("ticker")
        assert sorted(got.index) == sorted(want.index), (day, h)
        assert got.weight.sum() == pytest.approx(1.0, abs=1e-9)
        for ticker in want.index:
            assert got.at[ticker, "weight"] == pytest.approx(want.at[ticker, "weight"], **REL), (day, h, ticker)
            for column in ("score", "volatility"):
                if pd.isna(want.at[ticker, column]):
                    assert pd.isna(got.at[ticker, column])
                else:
                    assert got.at[ticker, column] == pytest.approx(want.at[ticker, column], **REL), (day, h, ticker)
            assert got.at[ticker, "source_etfs"] == want.at[ticker, "source_etfs"]
            assert got.at[ticker, "method"] == want.at[ticker, "method"]
            note = want.at[ticker, "constraint_note"] if "constraint_note" in want.columns else None
            assert (got.at[ticker, "constraint_note"] == note) if isinstance(note, str) else pd.isna(
                got.at[ticker, "constraint_note"]), (day, h, ticker)
            assert got.at[ticker, "prices_as_of"] == day
            holdings_as_of = want.at[ticker, "holdings_as_of"]
            assert (got.at[ticker, "holdings_as_of"] == holdings_as_of) if holdings_as_of else pd.isna(
                got.at[ticker, "holdings_as_of"])
    assert len(stored) == len(want_all)
    methods = stored.groupby("method").session_date.nunique()
    assert methods.get("score_inv_vol_capped", 0) >= 3, methods  # stock portfolios on at least three sessions
    stock_rows = stored[stored.method == "score_inv_vol_capped"]
    assert (stock_rows.weight >= ALLOCATION_CONFIG["max_stock_weight"] - 1e-12).any(), "a cap should bind"
    # Where the caps are feasible (no note), no stock is above its cap and no ETF's share above its cap.
    etf_bound = 0
    for key, held in stock_rows.groupby(["session_date", "horizon"]):
        if held.constraint_note.notna().any():
            continue
        assert held.weight.max() <= ALLOCATION_CONFIG["max_stock_weight"] + 1e-9, key
        shares: dict[str, float] = {}
        for weight, etfs in zip(held.weight, held.source_etfs.str.split(",")):
            for etf in etfs:
                shares[etf] = shares.get(etf, 0.0) + weight / len(etfs)
        assert max(shares.values()) <= ALLOCATION_CONFIG["max_etf_weight"] + 1e-9, (key, shares)
        etf_bound += max(shares.values()) >= ALLOCATION_CONFIG["max_etf_weight"] - 1e-9
    assert etf_bound >= 1, "the ETF cap should bind on some real portfolio"
    assert (stock_rows.holdings_as_of <= stock_rows.session_date).all()
    for day in CHECK_DATES:
        assert len(stored[stored.session_date == day]) > 0


@pytest.fixture(scope="module")
def expected_performance(expected) -> pd.DataFrame:
    """The reference's analytics_07 for the run."""
    _, allocations, closes = expected
    return reference.performance(allocations[["session_date", "horizon", "ticker", "weight", "method"]],
                                 closes.loc[:RUN_END])


def test_realized_performance_matches_the_reference(pipeline, expected_performance):
    _, tables = pipeline
    stored = tables["analytics_07_portfolio_performance"].sort_values(["horizon", "evaluated_on"]).reset_index(drop=True)
    want = expected_performance
    for h in (5, 10, 20):
        assert (stored.horizon == h).sum() == len(RUN_SESSIONS) - h  # every allocation whose horizon has elapsed
    assert len(stored) == len(want)
    for column in ("evaluated_on", "session_date", "horizon", "holdings", "status", "evaluations", "hits",
                   "benchmark_held", "unpriced", "track_start"):
        assert list(stored[column]) == list(want[column]), column
    assert [None if pd.isna(v) else bool(v) for v in stored.hit] == [None if v is None else bool(v) for v in want.hit]
    assert [None if pd.isna(v) else v for v in stored.unpriced_tickers] == list(want.unpriced_tickers)
    for column in ("portfolio_return", "benchmark_return", "excess_return", "hit_rate", "cumulative_return",
                   "cumulative_benchmark_return"):
        for got, wanted in zip(stored[column], want[column]):
            assert (pd.isna(got) and pd.isna(wanted)) or got == pytest.approx(wanted, **REL), column
    assert set(stored.track_start) == {stored.evaluated_on[stored.horizon == h].min() for h in (5, 10, 20)}
    assert 0 < stored.hit_rate.iloc[-1] < 1


def test_baselines_match_the_reference(pipeline, expected, expected_performance):
    _, tables = pipeline
    stored = tables["analytics_08_portfolio_baselines"].sort_values(["horizon", "evaluated_on"]).reset_index(drop=True)
    trends, allocations, closes = expected
    performance = expected_performance[expected_performance.status != "unpriced"]  # no return to compare
    want = reference.baselines(performance, allocations, trends, closes, SECTORS)
    priced = tables["analytics_07_portfolio_performance"].status != "unpriced"
    assert len(stored) == len(want) == priced.sum()
    for column in ("evaluated_on", "session_date", "horizon", "method", "evaluations"):
        assert list(stored[column]) == list(want[column]), column
    for column in ("portfolio_return", "trending_etfs_return", "sector_etfs_return", "spy_return", "turnover",
                   "net_return", "excess_vs_trending_etfs", "excess_vs_sector_etfs", "excess_vs_spy",
                   "hit_rate_vs_trending_etfs", "hit_rate_vs_sector_etfs", "hit_rate_vs_spy", "cumulative_return",
                   "cumulative_net_return", "cumulative_trending_etfs_return", "cumulative_sector_etfs_return",
                   "cumulative_spy_return", "max_drawdown", "annualized_volatility"):
        for key, got, wanted in zip(zip(stored.evaluated_on, stored.horizon), stored[column], want[column]):
            if pd.isna(wanted):
                assert pd.isna(got), (column, key)
            else:
                assert got == pytest.approx(wanted, **REL), (column, key)
    assert stored.turnover.notna().sum() > len(stored) / 2 and (stored.turnover.dropna() > 0).any()
    assert (stored.net_return <= stored.portfolio_return).all()


def test_baselines_do_not_depend_on_the_order_ranges_run_in(pipeline, module_warehouse, module_resources):
    """The second half first, then the first half: every running figure ends as in the one-range run."""
    _, tables = pipeline
    module_warehouse.query("DELETE FROM analytics_08_portfolio_baselines RETURNING 1")
    middle = RUN_SESSIONS[30]
    run(module_resources, middle, RUN_END, selection=[analytics_08_portfolio_baselines])
    run(module_resources, RUN_START, calendar.previous_sessions(middle, 2)[0],
        selection=[analytics_08_portfolio_baselines])
    pd.testing.assert_frame_equal(table(module_warehouse, "analytics_08_portfolio_baselines"),
                                  tables["analytics_08_portfolio_baselines"], rtol=1e-12)


def test_a_nightly_run_continues_the_running_figures(pipeline, module_warehouse, module_resources):
    _, tables = pipeline
    run(module_resources, RUN_END, RUN_END, selection=[analytics_07_portfolio_performance])
    pd.testing.assert_frame_equal(table(module_warehouse, "analytics_07_portfolio_performance"),
                                  tables["analytics_07_portfolio_performance"], rtol=1e-12)


def test_later_rows_do_not_change_earlier_results(pipeline, market, module_warehouse, module_resources):
    """Point in time: prices and holdings after RUN_END are appended, the range is recomputed, nothing moves."""
    _, tables = pipeline
    data, _ = market
    later = type(data)(data.etf_prices[data.etf_prices.trade_date > RUN_END],
                       data.stock_prices[data.stock_prices.trade_date > RUN_END],
                       data.holdings[data.holdings.as_of_date > RUN_END])
    assert len(later.etf_prices) == 15 * 30 and len(later.holdings) > 0
    load(module_warehouse.database_url, later)
    run(module_resources, RUN_START, RUN_END)
    for name, before in tables.items():
        after = table(module_warehouse, name)
        # Same rows; floats equal but for the order Spark happens to sum in.
        pd.testing.assert_frame_equal(after, before, rtol=1e-12, obj=name)


def test_a_failed_write_leaves_the_previous_rows(pipeline, module_warehouse, module_resources):
    """The insert after staging fails (a weight of 2 breaks the table's CHECK, which the staging table lacks): the
    transaction rolls back and the date's previous rows stay."""
    from pyspark.sql import functions as F

    from trendfolio.spark_io import read_sql, replace_date_range

    day = CHECK_DATES[1]
    before = table(module_warehouse, "analytics_05_portfolio_allocation")
    postgres = module_resources["postgres"]
    session = module_resources["spark"].session()
    columns = list(before.columns)
    rows = read_sql(session, postgres.database_url,
                    f"SELECT {', '.join(columns)} FROM analytics_05_portfolio_allocation WHERE session_date = '{day}'")
    broken = rows.withColumn("weight", F.when(F.col("ticker") == rows.first().ticker, F.lit(2.0))
                             .otherwise(F.col("weight")))
    with pytest.raises(psycopg.errors.CheckViolation):
        replace_date_range(postgres.database_url, broken, "analytics_05_portfolio_allocation", "session_date", day, day)
    pd.testing.assert_frame_equal(table(module_warehouse, "analytics_05_portfolio_allocation"), before)
    assert module_warehouse.scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE %s", ("stage_%",)) == 0
