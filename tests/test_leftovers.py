"""What a `kill -9` leaves: the Dagster run STARTED forever and an orphan staging table. The next command (`trendfolio
stack status`, `run` or `backfill`) marks the run failed and drops the table; a live run and a staging table in use
are never touched. Real kills of real processes, real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psycopg
import pytest
from orchestration_stack import BIN, OrchestrationStack

from fault_support import SESSION, record_summary
from trendfolio.warehouse import drop_orphan_staging_tables, staging_table

pytestmark = pytest.mark.integration

STAGE_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'stage\\_%'"


def stage_tables(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute(STAGE_TABLES)]


def test_a_staging_table_in_use_stays_and_a_killed_writers_goes(warehouse):
    url = warehouse.database_url
    with staging_table(url, "analytics_05_portfolio_allocation") as in_use:
        assert drop_orphan_staging_tables(url) == []
        assert stage_tables(url) == [in_use]
    assert stage_tables(url) == []

    # A writer process killed while its staging table exists.
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from trendfolio.warehouse import staging_table
        with staging_table({url!r}, "analytics_05_portfolio_allocation") as stage:
            print(stage, flush=True)
            time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        orphan = holder.stdout.readline().strip()
        assert stage_tables(url) == [orphan] and drop_orphan_staging_tables(url) == []  # still alive: kept
    finally:
        holder.kill()
        holder.wait(timeout=30)
    deadline = time.monotonic() + 30  # the server notices the closed connection and releases the lock
    dropped = []
    while not dropped and time.monotonic() < deadline:
        dropped = drop_orphan_staging_tables(url)
        time.sleep(0.2)
    assert dropped == [orphan] and stage_tables(url) == []


def run_status(stack: OrchestrationStack) -> list[tuple[str, str]]:
    try:
        return [(run_id, status) for run_id, status, _ in stack.dagster_runs()]
    except psycopg.errors.UndefinedTable:  # the instance makes its tables when the run starts
        return []


def trendfolio(stack: OrchestrationStack, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "trendfolio"), *argv], env=stack.env, capture_output=True, text=True, timeout=300)


def test_a_killed_run_is_marked_failed_and_its_staging_table_dropped(services, tmp_path):
    stack = OrchestrationStack(services.admin_url, services.bootstrap_servers, tmp_path)
    try:
        run = subprocess.Popen([str(BIN / "trendfolio"), "run", "--date", SESSION.isoformat()], env=stack.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 600
            while not run_status(stack) and time.monotonic() < deadline:
                time.sleep(0.2)
            # While it runs, a status check leaves it alone.
            status = trendfolio(stack, "stack", "status")
            assert "marked failed" not in status.stdout, status.stdout
            # Killed in the middle of an analytics write, when a staging table exists (or, should the writes be too
            # quick to catch, once analytics_05 has started).
            seen = []
            while time.monotonic() < deadline and run.poll() is None:
                seen = stage_tables(stack.database_url)
                started = run_status(stack) and stack.instance_db.scalar(
                    "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'STEP_START' "
                    "AND step_key = 'analytics_05_portfolio_allocation'")
                if seen or started:
                    break
                time.sleep(0.02)
            os.killpg(run.pid, signal.SIGKILL)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=60)
        (run_id, status_before), = run_status(stack)
        left_before = stage_tables(stack.database_url)
        assert status_before == "STARTED", "the killed run should have been left STARTED"

        status = trendfolio(stack, "stack", "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"leftover: run {run_id} marked failed" in status.stdout, status.stdout
        for name in left_before:
            assert f"leftover: staging table {name} dropped" in status.stdout, status.stdout
        assert run_status(stack) == [(run_id, "FAILURE")]
        assert stage_tables(stack.database_url) == []
        again = trendfolio(stack, "stack", "status")
        assert "leftover" not in again.stdout, again.stdout  # nothing twice
    finally:
        stack.close()
    record_summary("killed_run_leftovers", {
        "fault": "kill -9 of `trendfolio run` during its analytics", "trials": 1,
        "run_status_after_kill": status_before, "staging_tables_after_kill": left_before,
        "run_status_after_next_status": "FAILURE", "staging_tables_after_next_status": 0,
    })
