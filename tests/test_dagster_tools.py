"""Dagster's own commands use the project's instance: the `.env` that `trendfolio stack up` writes gives them
DAGSTER_HOME (dagster_home/, whose dagster.yaml keeps runs in PostgreSQL) and DAGSTER_PG_URL, so a run started with
`dagster asset materialize` lands in the project's run storage and `dagster dev` serves that instance, not a
throwaway `.tmp_dagster_home_*`."""

import os
import subprocess
from urllib.parse import urlparse

import psycopg
import pytest
from orchestration_stack import BIN, OrchestrationStack

from trendfolio import settings

pytestmark = pytest.mark.integration

SESSION = "2026-11-24"
ASSET = "collected_01_daily_etf_ohlc"


def project_env_file(admin_url: str, folder) -> str:
    """The `.env` the project writes, for the test server's port; the instance database it names."""
    server = urlparse(admin_url)
    if (server.username, server.password) != (settings.DEFAULT_PG_USER, settings.DEFAULT_PG_PASSWORD):
        pytest.skip("the .env defaults name the embedded server's user; the test server has another")
    write = (f"from pathlib import Path; from trendfolio import settings; "
             f"settings.write_dagster_env_file(Path({str(folder / '.env')!r}))")
    subprocess.run([str(BIN / "python"), "-c", write], check=True,
                   env={**os.environ, "TRENDFOLIO_PG_PORT": str(server.port)})
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (settings.DAGSTER_DATABASE,)).fetchone():
            conn.execute(f'CREATE DATABASE "{settings.DAGSTER_DATABASE}"')
    return server._replace(path=f"/{settings.DAGSTER_DATABASE}").geturl()


def test_dagster_asset_materialize_run_lands_in_the_project_run_storage(services, tmp_path):
    stack = OrchestrationStack(services.admin_url, services.bootstrap_servers, tmp_path)
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    instance_url = project_env_file(services.admin_url, workdir)
    env = {name: value for name, value in stack.env.items() if name not in ("DAGSTER_HOME", "DAGSTER_PG_URL")}
    before = runs_of_asset(instance_url)
    try:
        done = subprocess.run(
            [str(BIN / "dagster"), "asset", "materialize", "-m", "trendfolio_app.local", "--select", ASSET,
             "--partition", SESSION],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
        stored = stack.warehouse.scalar(f"SELECT count(*) FROM {ASSET} WHERE trade_date = %s", (SESSION,))
    finally:
        stack.close()
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list(workdir.glob(".tmp_dagster_home_*")), "Dagster used a throwaway instance"
    assert stored == 15
    assert runs_of_asset(instance_url) == [*before, "SUCCESS"]


def runs_of_asset(instance_url: str) -> list[str]:
    """The statuses of the runs for SESSION that the instance's run storage holds, oldest first ([] before the
    instance's tables exist)."""
    with psycopg.connect(instance_url) as conn:
        if conn.execute("SELECT to_regclass('runs')").fetchone()[0] is None:
            return []
        return [status for (status,) in conn.execute(
            "SELECT r.status FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
            "WHERE t.key = 'dagster/partition' AND t.value = %s ORDER BY r.id", (SESSION,)).fetchall()]


def test_dagster_dev_serves_the_project_instance(services, tmp_path):
    """`dagster dev` in a folder with the project's `.env`: its webserver reports the Postgres-backed instance of
    dagster_home/, and no throwaway instance folder appears."""
    import json
    import signal
    import time
    import urllib.request

    from trendfolio.stack import free_port

    workdir = tmp_path / "checkout"
    workdir.mkdir()
    project_env_file(services.admin_url, workdir)
    env = {name: value for name, value in os.environ.items() if name not in ("DAGSTER_HOME", "DAGSTER_PG_URL")}
    port = free_port()
    with open(tmp_path / "dagster-dev.log", "wb") as log:
        process = subprocess.Popen([str(BIN / "dagster"), "dev", "-w", str(settings.REPO_ROOT / "workspace.yaml"),
                                    "-p", str(port)], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline, info = time.monotonic() + 300, None
        while info is None:
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "dagster-dev.log").read_text()
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", headers={
                    "Content-Type": "application/json"}, data=json.dumps({"query": "{ instance { info } }"}).encode())
                with urllib.request.urlopen(request, timeout=10) as response:
                    info = json.load(response)["data"]["instance"]["info"]
            except OSError:
                time.sleep(2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    assert "PostgresRunStorage" in info, info
    assert str(settings.REPO_ROOT / "dagster_home") in info, info
    assert not list(workdir.glob(".tmp_dagster_home_*")), "dagster dev used a throwaway instance"
