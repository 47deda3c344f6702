"""Two backfills whose ranges overlap, on synthetic data: run at once, the earlier range first or the later range
first, they leave every table as one backfill over both ranges does. The writers of a table take turns
(`trendfolio.warehouse.table_lock`, one lock per table whatever the range: a lock per exact range let overlapping ranges
interleave); analytics_07 and analytics_08 recompute the evaluations stored after their range, which depend on it
(before, 22 of 60 analytics_07 rows differed: running hit rate and cumulative return continued from the wrong rows);
collected_06 prices a range's stocks through the sessions a later range already ran (before, with the later range
first, 3,053 collected_06 rows were missing: the earlier range's portfolios could not be evaluated in the later
range's sessions)."""

from __future__ import annotations

import datetime as dt
import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import new_warehouse, pipeline_resources
from dagster import materialize
from test_daily_pipeline import snapshot

from assets import ALL_ASSETS
from fault_support import record_summary
from trendfolio import calendar

pytestmark = pytest.mark.integration

# A: 20 sessions; B: 19 sessions, the last 7 of A's among them. Portfolios of A's first weeks are evaluated (20
# sessions later) on B's last sessions only.
A = (dt.date(2026, 9, 14), dt.date(2026, 10, 9))
B = (dt.date(2026, 10, 1), dt.date(2026, 10, 27))


def backfill(resources: dict, start: dt.date, end: dt.date):
    return materialize(ALL_ASSETS, resources=resources, raise_on_error=False, tags={
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat()})


def differences(tables: dict, clean: dict) -> dict[str, int]:
    """Rows that differ from the clean run's, per table (floats to 1e-9 relative: a running figure continued from a
    stored row rounds differently from one summed in one go)."""
    def same(row, other):
        return len(row) == len(other) and all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) if isinstance(a, float) and isinstance(b, float)
            else a == b for a, b in zip(row, other))

    counts = {}
    for table, rows in clean.items():
        got = tables[table]
        counts[table] = abs(len(got) - len(rows)) + sum(1 for row, other in zip(got, rows) if not same(row, other))
    return counts


@pytest.fixture(scope="module")
def one_backfill_over_both(services) -> dict:
    assert len(calendar.sessions_between(*A)) == 20 and len(calendar.sessions_between(*B)) == 19
    with new_warehouse(services) as clean_warehouse:
        assert backfill(pipeline_resources(clean_warehouse), A[0], B[1]).success
        clean = snapshot(clean_warehouse)
    assert clean["analytics_07_portfolio_performance"], "no evaluation in the clean run: the test would prove nothing"
    return clean


@pytest.mark.parametrize("order", ["earlier_range_first", "later_range_first", "at_once"])
def test_two_overlapping_backfills_end_as_one_backfill_over_both(services, one_backfill_over_both, order):
    with new_warehouse(services) as warehouse:
        resources = pipeline_resources(warehouse)
        began = time.monotonic()
        if order == "at_once":
            with ThreadPoolExecutor(max_workers=2) as pool:
                runs = [pool.submit(backfill, resources, *A), pool.submit(backfill, resources, *B)]
                results = [run.result() for run in runs]
        else:
            results = [backfill(resources, *span) for span in ((A, B) if order == "earlier_range_first" else (B, A))]
        assert all(result.success for result in results)
        waits = [materialization.metadata["table_lock_wait_s"].value
                 for result in results
                 for node in ("collected_01_daily_etf_ohlc", "collected_04_etf_holdings")
                 for materialization in result.asset_materializations_for_node(node)[:1]]
        outcome = {"seconds": round(time.monotonic() - began, 1), "max_lock_wait_s": max(waits),
                   "rows_differing": differences(snapshot(warehouse), one_backfill_over_both)}

    record_summary(f"overlapping_backfills_{order}", {
        "fault": f"backfills {A[0]}..{A[1]} and {B[0]}..{B[1]} (synthetic), {order.replace('_', ' ')}",
        "clean_rows": {table: len(rows) for table, rows in one_backfill_over_both.items()}, **outcome})
    assert not any(outcome["rows_differing"].values()), outcome


# Two ranges 5 sessions apart: portfolios of the first are evaluated in the gap and in the second.
NEAR_A = (dt.date(2026, 9, 14), dt.date(2026, 9, 25))
NEAR_B = (dt.date(2026, 10, 5), dt.date(2026, 10, 16))


def test_two_ranges_with_a_gap_end_the_same_in_either_order(services):
    """No evaluation dated in a session no run went through, whichever range ran first."""
    ends = {}
    for order in ((NEAR_A, NEAR_B), (NEAR_B, NEAR_A)):
        with new_warehouse(services) as warehouse:
            resources = pipeline_resources(warehouse)
            assert all(backfill(resources, *span).success for span in order)
            ends[order[0]] = snapshot(warehouse)
    earlier_first, later_first = ends[NEAR_A], ends[NEAR_B]
    assert earlier_first["analytics_07_portfolio_performance"], "no evaluation: the test would prove nothing"
    assert not any(differences(later_first, earlier_first).values()), differences(later_first, earlier_first)
