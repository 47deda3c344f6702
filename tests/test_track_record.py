"""analytics_07's track record on small hand-made frames through the real Spark function and the real PostgreSQL
write: issue case 3 (running figures from the stored rows, whatever the order of runs; a gap restarts the track) and
case 6 (benchmark-held sessions are ties), and the `unpriced` row of case 2."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

import analytics_reference as reference
from trendfolio import calendar
from trendfolio.analytics.performance import TABLE, realized_performance, refresh_running_figures
from trendfolio.spark_io import replace_date_range

pytestmark = pytest.mark.integration

SESSIONS = calendar.sessions_between(dt.date(2024, 1, 2), dt.date(2024, 3, 29))[:45]
RUNNING = ["evaluations", "hits", "benchmark_held", "unpriced", "hit_rate", "cumulative_return",
           "cumulative_benchmark_return", "track_start"]


def market() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prices of SPY, AAA, BBB (CCC has none: it cannot be priced) and the allocations of every session: AAA+BBB,
    except every 4th session (SPY, fallback_benchmark) and session 6 (AAA+CCC)."""
    prices = []
    for i, day in enumerate(SESSIONS):
        prices += [("SPY", day, 100 * (1 + 0.002 * i + 0.01 * math.sin(i))),
                   ("AAA", day, 50 * (1 + 0.004 * i + 0.02 * math.sin(i / 2))),
                   ("BBB", day, 20 * (1 - 0.001 * i + 0.03 * math.cos(i / 3)))]
    allocations = []
    for i, day in enumerate(SESSIONS):
        for h in (5, 10, 20):
            if i % 4 == 3:
                allocations.append((day, h, "SPY", 1.0, "fallback_benchmark", "synthetic"))
            elif i == 6:
                allocations += [(day, h, "AAA", 0.5, "score_inv_vol_capped", "synthetic"),
                                (day, h, "CCC", 0.5, "score_inv_vol_capped", "synthetic")]
            else:
                allocations += [(day, h, "AAA", 0.6, "score_inv_vol_capped", "synthetic"),
                                (day, h, "BBB", 0.4, "score_inv_vol_capped", "synthetic")]
    return (pd.DataFrame(prices, columns=["ticker", "trade_date", "adj_close"]),
            pd.DataFrame(allocations, columns=["session_date", "horizon", "ticker", "weight", "method", "source"]))


def write(spark, database_url, prices, allocations, start, end) -> None:
    frame = realized_performance(
        spark.createDataFrame(allocations), spark.createDataFrame(prices),
        spark.createDataFrame(prices[prices.ticker == "SPY"]), start, end)
    replace_date_range(database_url, frame, TABLE, "evaluated_on", start, end, then=refresh_running_figures)


def stored(warehouse) -> pd.DataFrame:
    rows = warehouse.query(f"SELECT * FROM {TABLE} ORDER BY horizon, evaluated_on")
    columns = [r[0] for r in warehouse.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position", (TABLE,))]
    return pd.DataFrame(rows, columns=columns).drop(columns="computed_at")


def test_case3_running_figures_do_not_depend_on_the_order_of_runs_case6_benchmark_held_is_a_tie(
        spark, warehouse):
    postgres = warehouse.database_url
    prices, allocations = market()
    first, last = SESSIONS[5], SESSIONS[-1]
    middle = SESSIONS[25]

    write(spark, postgres, prices, allocations, first, last)  # one range
    one_range = stored(warehouse)
    warehouse.query(f"DELETE FROM {TABLE} RETURNING 1")
    # The later half first, then the earlier one: the later rows' running figures are recomputed.
    write(spark, postgres, prices, allocations, SESSIONS[SESSIONS.index(middle) + 1], last)
    write(spark, postgres, prices, allocations, first, middle)
    reversed_order = stored(warehouse)
    warehouse.query(f"DELETE FROM {TABLE} RETURNING 1")
    write(spark, postgres, prices, allocations, first, SESSIONS[-4])
    for day in SESSIONS[-3:]:  # then three nights
        write(spark, postgres, prices, allocations, day, day)
    nightly = stored(warehouse)
    pd.testing.assert_frame_equal(reversed_order, one_range, rtol=1e-12)
    pd.testing.assert_frame_equal(nightly, one_range, rtol=1e-12)

    closes = prices.pivot(index="trade_date", columns="ticker", values="adj_close").reindex(SESSIONS)
    closes["CCC"] = float("nan")
    want = reference.performance(allocations, closes)
    got = one_range.sort_values(["horizon", "evaluated_on"]).reset_index(drop=True)
    assert len(got) == len(want) == sum(len(SESSIONS) - h for h in (5, 10, 20))  # every elapsed allocation
    for column in ("status", "evaluations", "hits", "benchmark_held", "unpriced", "track_start"):
        assert list(got[column]) == list(want[column]), column
    for column in ("hit_rate", "cumulative_return", "cumulative_benchmark_return", "portfolio_return"):
        for a, b in zip(got[column], want[column]):
            assert (pd.isna(a) and pd.isna(b)) or a == pytest.approx(b, rel=1e-9), column

    # Case 6: a fallback_benchmark allocation is a tie, kept in the curves, outside hits and hit rate.
    held = got[got.status == "benchmark_held"]
    assert len(held) == sum(1 for i in range(len(SESSIONS)) if i % 4 == 3 for h in (5, 10, 20)
                            if i + h < len(SESSIONS))
    assert held.hit.isna().all() and (held.excess_return.abs() < 1e-15).all()
    h5 = got[got.horizon == 5].reset_index(drop=True)
    assert (h5.evaluations + h5.benchmark_held + h5.unpriced == h5.index + 1).all()
    assert (h5.hit_rate == h5.hits / h5.evaluations).all()
    # Case 2: the allocation of session 6 holds CCC, which has no price: a row says so.
    unpriced = got[got.session_date == SESSIONS[6]]
    assert list(unpriced.status) == ["unpriced"] * 3 and set(unpriced.unpriced_tickers) == {"CCC"}
    assert unpriced.portfolio_return.isna().all() and unpriced.hit.isna().all()


def test_case3_a_gap_in_the_sessions_restarts_the_track(spark, warehouse):
    postgres = warehouse.database_url
    prices, allocations = market()
    write(spark, postgres, prices, allocations, SESSIONS[20], SESSIONS[25])
    write(spark, postgres, prices, allocations, SESSIONS[30], SESSIONS[35])  # 26..29 never run
    got = stored(warehouse)
    later = got[got.evaluated_on >= SESSIONS[30]]
    assert set(later.track_start) == {SESSIONS[30]}
    first_of_track = later[later.evaluated_on == SESSIONS[30]]
    assert (first_of_track.evaluations + first_of_track.benchmark_held + first_of_track.unpriced == 1).all()
    # Running the missing sessions joins the two tracks into one, and the later rows continue the earlier ones.
    write(spark, postgres, prices, allocations, SESSIONS[26], SESSIONS[29])
    joined = stored(warehouse)
    assert set(joined.track_start) == {SESSIONS[20]}
    assert joined[joined.horizon == 5].evaluations.max() + joined[joined.horizon == 5].benchmark_held.max() \
        + joined[joined.horizon == 5].unpriced.max() == 16
