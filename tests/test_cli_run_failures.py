"""A run that fails half-way through, through the real CLI: a full disk under the warehouse and `stack down` while the
run works end in exit code 1 and one line on stderr naming the cause (not a 25-line DiskFull or ~90 lines of
tracebacks). Real PostgreSQL (its own server, which these tests fill or stop), broker, Spark."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from orchestration_stack import BIN, OrchestrationStack

from fault_support import SESSION, record_summary
from trendfolio import settings, stack
from trendfolio.stack.postgres import PG_SYSTEM_USER

pytestmark = pytest.mark.integration

RESULTS: list[dict] = []


def one_failure_line(result: subprocess.CompletedProcess, expected: str, only_line: bool = True) -> str:
    """Exit code 1, no traceback, and one `trendfolio:` line naming the cause, last. `only_line=False` lets the run's
    own logs stand before it (Spark's start-up banner, the Dagster instance's connection retries): where those go is
    the console's business, not the failure's."""
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("trendfolio: ")]
    assert len(ours) == 1 and lines[-1] == ours[0], result.stderr[-3000:]
    assert not only_line or len(lines) == 1, result.stderr[-3000:]
    assert expected in ours[0], ours[0]
    return ours[0]


def record(case: str, result: subprocess.CompletedProcess, seconds: float) -> None:
    RESULTS.append({"case": case, "exit_code": result.returncode, "stderr": result.stderr.strip(),
                    "stderr_lines": len(result.stderr.strip().splitlines()), "seconds": round(seconds, 1)})
    record_summary("run_failures", {"input": "failures in the middle of `trendfolio run`", "trials": len(RESULTS),
                                    "results": RESULTS})


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A 512 kB tmpfs, owned by the PostgreSQL system user; skipped where this process may not mount."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({done.stderr.strip()}): needs root and mount(2)")
    try:
        if os.geteuid() == 0:
            shutil.chown(mount, PG_SYSTEM_USER, PG_SYSTEM_USER)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass


def test_a_full_disk_is_one_line(services, tmp_path, tiny_filesystem):
    pg = stack.embedded_postgres(settings.LocalStackPaths(tmp_path / "pg"), port=stack.free_port())
    pg.start()
    try:
        (tmp_path / "orchestration").mkdir()
        orchestration = OrchestrationStack(settings.local_database_url("postgres", pg.port), services.bootstrap_servers,
                                           tmp_path / "orchestration")
        warehouse = orchestration.database_url.rsplit("/", 1)[1]
        # The ETF table on a tablespace of its own on the tiny filesystem, which is then filled up.
        with psycopg.connect(pg.bootstrap_url(), autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE tiny LOCATION '{tiny_filesystem}'")
        with psycopg.connect(pg.bootstrap_url(warehouse), autocommit=True) as conn:
            conn.execute("ALTER TABLE collected_01_daily_etf_ohlc SET TABLESPACE tiny")
        fill(tiny_filesystem)
        began = time.monotonic()
        result = subprocess.run([str(BIN / "trendfolio"), "run", "--date", SESSION.isoformat()], env=orchestration.env,
                                capture_output=True, text=True, timeout=600)
        record("full_disk", result, time.monotonic() - began)
        line = one_failure_line(result, "collected_01_daily_etf_ohlc: PostgreSQL is out of disk space")
        assert "No space left on device" in line, line
        assert orchestration.warehouse.scalar("SELECT count(*) FROM collected_01_daily_etf_ohlc") == 0
        orchestration.close()
        with psycopg.connect(pg.bootstrap_url(), autocommit=True) as conn:
            conn.execute("DROP TABLESPACE IF EXISTS tiny")
    finally:
        pg.stop()


def test_stack_down_during_a_run_is_one_line(tmp_path):
    (tmp_path / "dagster_home").mkdir()
    shutil.copy(settings.REPO_ROOT / "dagster_home" / "dagster.yaml", tmp_path / "dagster_home")
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "DAGSTER_PG_URL", "SPARK_MASTER_URL",
                          "TRENDFOLIO_SOURCE", "KAFKA_NAMESPACE")}
    pg_port = stack.free_port()
    env.update(TRENDFOLIO_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(tmp_path / "dagster_home"),
               TRENDFOLIO_PG_PORT=str(pg_port), TRENDFOLIO_KAFKA_PORT=str(stack.free_port()))
    dagster_db = settings.local_database_url(settings.DAGSTER_DATABASE, pg_port)
    began = time.monotonic()
    run = subprocess.Popen([str(BIN / "trendfolio"), "run", "--date", SESSION.isoformat()], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Stopped while the analytics run: collection has written, Spark is reading and writing PostgreSQL.
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and run.poll() is None:
            try:
                with psycopg.connect(dagster_db, connect_timeout=2) as conn:
                    if conn.execute("SELECT count(*) FROM event_logs WHERE dagster_event_type = 'STEP_START' "
                                    "AND step_key = 'analytics_03_trending_etfs'").fetchone()[0]:
                        break
            except psycopg.Error:
                pass  # the stack or the instance's tables are not there yet
            time.sleep(0.5)
        down = subprocess.run([str(BIN / "trendfolio"), "stack", "down"], env=env, capture_output=True, text=True,
                              timeout=120)
        assert down.returncode == 0, down.stderr
        stdout, stderr = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
        subprocess.run([str(BIN / "trendfolio"), "stack", "down"], env=env, capture_output=True, timeout=120)
    result = subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)
    record("stack_down_during_a_run", result, time.monotonic() - began)
    line = one_failure_line(result, "PostgreSQL went away during the run", only_line=False)
    assert "Connection refused" in line or "terminating connection" in line, line
