"""What `trendfolio run` and `trendfolio status` print, run as the user starts them against real PostgreSQL, broker and
Spark: a few lines (one per asset and the outcome), none of the libraries' noise, and never a password."""

import re
import subprocess
from urllib.parse import urlparse

import pytest
from orchestration_stack import BIN, OrchestrationStack

from trendfolio.tables import PIPELINE_TABLES

pytestmark = pytest.mark.integration

SESSION = "2026-11-24"
TABLE_DATES = {table.name: table.date_column for table in PIPELINE_TABLES}
NOISE = ("Traceback", "BetaWarning", "log4j", "RuntimeDirWarning", "DEBUG", "Logging error", "WARN ")


def trendfolio(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "trendfolio"), *args], env=env, capture_output=True, text=True, timeout=900)


# A URL with its credentials in the clear: user:password@ where the password is not the mask.
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:(?!\*\*\*@)[^@\s]+@")


@pytest.fixture
def orchestration(services, tmp_path):
    stack = OrchestrationStack(services.admin_url, services.bootstrap_servers, tmp_path)
    yield stack
    stack.close()


def test_run_prints_a_line_per_asset_and_no_secret_then_status_says_healthy(orchestration):
    stack = orchestration
    password = urlparse(stack.database_url).password
    run = trendfolio(stack.env, "run", "--date", SESSION)
    screen = run.stdout + run.stderr
    assert run.returncode == 0, screen
    lines = screen.splitlines()
    assert len(lines) <= 15, screen
    assert run.stderr == "", run.stderr
    for noise in NOISE:
        assert noise not in screen, f"{noise!r} on screen:\n{screen}"
    assert not URL_WITH_PASSWORD.search(screen) and f":{password}@" not in screen, screen
    assert ":***@" in screen  # the warehouse's URL is shown, masked
    for table in TABLE_DATES:  # one line per asset: start, seconds, rows written, rows stored for the session
        stored = stack.warehouse.scalar(f"SELECT count(*) FROM {table} WHERE {TABLE_DATES[table]} = %s", (SESSION,))
        [line] = [line for line in lines if line.split()[:1] == [table]]
        assert line.split()[-1] == str(stored), line
    assert f"daily_pipeline succeeded for {SESSION}" in screen
    log = next(stack.dagster_home.parent.joinpath("stack", "logs").glob(f"run-{SESSION}.log"))
    assert "STEP_SUCCESS" in log.read_text()  # Dagster's event log went to the file the last line names

    status = trendfolio(stack.env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert not URL_WITH_PASSWORD.search(status.stdout + status.stderr)
    assert status.stdout.splitlines()[-1] == "healthy", status.stdout
    assert "schema: " in status.stdout and "none pending" in status.stdout
    for table, column in TABLE_DATES.items():
        latest, rows = stack.warehouse.query(
            f"SELECT max({column}), count(*) FILTER (WHERE {column} = (SELECT max({column}) FROM {table})) "
            f"FROM {table}")[0]
        assert f"{table:36s} {str(latest or 'empty'):>14s} {rows:>10d}" in status.stdout
    [run_id] = [run_id for run_id, _, _ in stack.dagster_runs()]
    assert f"last run: daily_pipeline for {SESSION}: SUCCESS" in status.stdout and run_id in status.stdout
    assert "failed checks: " in status.stdout and "dead letters: " in status.stdout


def test_status_names_a_service_that_is_down(services, tmp_path):
    stack = OrchestrationStack(services.admin_url, services.bootstrap_servers, tmp_path)
    try:
        from trendfolio.stack import free_port

        env = {**stack.env, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
        status = trendfolio(env, "status")
    finally:
        stack.close()
    assert status.returncode == 1, status.stdout + status.stderr
    assert "broker      DOWN" in status.stdout
    assert status.stdout.splitlines()[-1].startswith("NOT healthy: the Kafka broker does not answer")
    assert "last run: no daily_pipeline run in the Dagster instance yet" in status.stdout
