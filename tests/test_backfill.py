"""`trendfolio backfill`: a range of sessions as one Dagster run on the Postgres-backed instance, repeatable, and
equal to one run per session. Real PostgreSQL, broker and Spark; the CLI runs as the user would start it."""

import datetime as dt
import subprocess

import pytest
from dagster import materialize
from orchestration_stack import BIN, OrchestrationStack
from test_daily_pipeline import FILLED_AFTER_A_HORIZON, TABLES_BY_DATE_COLUMN, snapshot

from assets import ALL_ASSETS
from trendfolio import calendar
from trendfolio.collect import held_price_windows

pytestmark = pytest.mark.integration

# Five sessions across a weekend: Wednesday 2026-11-18 to Tuesday 2026-11-24.
START, END = "2026-11-18", "2026-11-24"
SESSIONS = ["2026-11-18", "2026-11-19", "2026-11-20", "2026-11-23", "2026-11-24"]


def cli_backfill(stack: OrchestrationStack) -> str:
    done = subprocess.run([str(BIN / "trendfolio"), "backfill", "--start", START, "--end", END], env=stack.env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_backfill_twice_equals_one_run_per_session(services, warehouse, resources, tmp_path):
    stack = OrchestrationStack(services.admin_url, services.bootstrap_servers, tmp_path)
    try:
        output = cli_backfill(stack)
        first = snapshot(stack.warehouse)
        cli_backfill(stack)
        second = snapshot(stack.warehouse)
        runs = stack.dagster_runs()
    finally:
        stack.close()

    # The reference: one run per session, in order, into another fresh database.
    for session in SESSIONS:
        assert materialize(ALL_ASSETS, resources=resources, partition_key=session).success
    per_session = snapshot(warehouse)

    for table, date_column in TABLES_BY_DATE_COLUMN.items():
        dates = {row[0].isoformat() for row in warehouse.query(f"SELECT DISTINCT {date_column} FROM {table}")}
        assert set(SESSIONS) <= dates or table in FILLED_AFTER_A_HORIZON, f"{table} lacks {set(SESSIONS) - dates}"
        assert second[table] == first[table], f"{table} changed when the backfill was repeated"
        assert first[table] == per_session[table], f"{table}: the backfill differs from one run per session"

    # One run per backfill, each for the whole range, recorded in the Postgres-backed instance.
    assert [status for _, status, _ in runs] == ["SUCCESS", "SUCCESS"]
    for _, _, tags in runs:
        assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (START, END)

    # The progress display: every asset starts and succeeds with its five partitions.
    assert f"backfilling 5 sessions {START} … {END} as one run of daily_pipeline" in output
    for table in TABLES_BY_DATE_COLUMN:
        assert f"{table:36s} started" in output
        assert f"{table:36s} succeeded: 5 partitions materialized" in output


def test_held_price_windows_span_the_history_before_each_holding_to_its_longest_horizon_run():
    day = dt.date.fromisoformat
    held = [(day("2026-11-18"), "AAPL"), (day("2026-11-20"), "AAPL"), (day("2026-11-02"), "XOM"),
            (day("2026-11-24"), "XOM")]
    # Runs went through 11-02..11-03 and 11-16..11-25, and a later range through 11-30 (11-26 is Thanksgiving).
    ran = [*calendar.sessions_between(day("2026-11-02"), day("2026-11-03")),
           *calendar.sessions_between(day("2026-11-16"), day("2026-11-25")), day("2026-11-30")]
    assert held_price_windows(held, 2, 3, ran) == {
        # two sessions before 11-18 are 11-16 and 11-17; three after 11-20 end at 11-25, the last one run
        "AAPL": [(day("2026-11-16"), day("2026-11-25"))],
        # far apart: two spans; the first cut at 11-03, the last session run in its horizon (11-05); the second
        # reaches 11-30, three after 11-24, run by the later range
        "XOM": [(day("2026-10-29"), day("2026-11-03")), (day("2026-11-20"), day("2026-11-30"))],
    }


def test_held_price_windows_over_every_run_equal_the_nights_together():
    """Whatever order ranges ran in, collected_06 keeps what one nightly run per session would: the night of E keeps
    the spans of the stocks held on the `horizon` sessions up to E, cut at E."""
    day = dt.date.fromisoformat
    ran = [*calendar.sessions_between(day("2026-10-01"), day("2026-10-20")),
           *calendar.sessions_between(day("2026-10-26"), day("2026-11-10"))]
    held = [(d, stock) for i, d in enumerate(ran) for stock in ("AAPL", "MSFT", "XOM")[: 1 + i % 3]]

    def days(windows):
        return {(stock, d) for stock, spans in windows.items() for first, last in spans
                for d in calendar.sessions_between(first, last)}

    nights = set()
    for night in ran:
        recent = calendar.previous_sessions(night, 4)[0]
        nights |= days(held_price_windows([(d, s) for d, s in held if recent <= d <= night], 2, 3,
                                          [d for d in ran if d <= night]))
    assert days(held_price_windows(held, 2, 3, ran)) == nights
