"""`trendfolio airflow` for real: a local Airflow 3 (API server, scheduler, DAG processor) on the test PostgreSQL,
with the Dagster webserver and daemon it starts. Runs are triggered through Airflow's REST API with the admin login
it prints: a session by conf goes green with its Dagster run and the tables filled; clearing the launch follows the
same Dagster run; an old logical date runs its tasks; a date that cannot be read fails the run."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from orchestration_stack import BIN, OrchestrationStack, create_database, drop_database

from trendfolio import stack

pytestmark = pytest.mark.integration

DAG_ID = "daily_pipeline_controller"
SESSION = "2026-11-24"
OLD_HOLIDAY = "2022-04-15T21:30:00Z"  # Good Friday 2022, years before anything the DAG was first scheduled for


def api(url: str, token: str | None = None, payload: dict | None = None, method: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=None if payload is None else json.dumps(payload).encode(),
                                     headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def local_airflow(services, tmp_path_factory):
    root = tmp_path_factory.mktemp("trendfolio_airflow")
    orchestration = OrchestrationStack(services.admin_url, services.bootstrap_servers, root)
    metadata = create_database(services.admin_url, "airflow")
    port, dagster_port = stack.free_port(), stack.free_port()
    env = {**orchestration.env, "AIRFLOW_VAR_DAGSTER_POLL_SECONDS": "2",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata.replace("postgresql://", "postgresql+psycopg2://")}
    process = subprocess.Popen([str(BIN / "trendfolio"), "airflow", "--port", str(port), "--dagster-port",
                                str(dagster_port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    printed = []
    try:
        deadline = time.monotonic() + 900
        while not any(line.startswith(f"DAG {DAG_ID}: unpaused") for line in printed):
            assert process.poll() is None, "".join(printed)
            assert time.monotonic() < deadline, "".join(printed)
            try:
                printed.append(lines.get(timeout=5))
            except queue.Empty:
                pass
        url = f"http://127.0.0.1:{port}"
        [login] = [line for line in printed if line.startswith(f"Airflow: {url}")]
        password_file = Path(re.search(r"password in (\S+)\)", login).group(1))
        password = json.loads(password_file.read_text())["admin"]
        token = api(f"{url}/auth/token", payload={"username": "admin", "password": password})["access_token"]
        yield orchestration, url, token, "".join(printed)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        orchestration.close()
        drop_database(services.admin_url, metadata)


def trigger(url: str, token: str, **body) -> str:
    return api(f"{url}/api/v2/dags/{DAG_ID}/dagRuns", token, {"logical_date": None, **body})["dag_run_id"]


def finished(url: str, token: str, run_id: str, timeout_s: float = 1200) -> tuple[str, dict[str, str]]:
    """The run's final state and its tasks' states."""
    deadline = time.monotonic() + timeout_s
    run = f"{url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
    while (state := api(run, token)["state"]) not in ("success", "failed"):
        assert time.monotonic() < deadline, f"{run_id} still {state}"
        time.sleep(3)
    tasks = api(f"{run}/taskInstances", token)["task_instances"]
    return state, {task["task_id"]: task["state"] for task in tasks}


def test_a_session_by_conf_goes_green_with_its_dagster_run_and_a_cleared_launch_follows_it(local_airflow):
    orchestration, url, token, printed = local_airflow
    assert "password in" in printed and "Dagster UI: http://127.0.0.1:" in printed
    run_id = trigger(url, token, conf={"session_date": SESSION})
    state, tasks = finished(url, token, run_id)
    assert (state, set(tasks.values())) == ("success", {"success"}), tasks

    def runs_of_this_airflow_run():
        return [(status, tags["dagster/partition"]) for _, status, tags in orchestration.dagster_runs()
                if tags.get("airflow/run_id") == run_id]

    assert runs_of_this_airflow_run() == [("SUCCESS", SESSION)]
    warehouse = orchestration.warehouse
    assert warehouse.scalar("SELECT count(*) FROM collected_01_daily_etf_ohlc WHERE trade_date = %s", (SESSION,)) == 15
    assert warehouse.scalar(
        "SELECT count(DISTINCT horizon) FROM analytics_05_portfolio_allocation WHERE session_date = %s",
        (SESSION,)) == 3

    # Clearing the launch (and what follows) re-runs the tasks, which follow the Dagster run already done.
    api(f"{url}/api/v2/dags/{DAG_ID}/clearTaskInstances", token,
        {"dry_run": False, "dag_run_id": run_id, "task_ids": ["launch_dagster_run"], "include_downstream": True,
         "only_failed": False})
    state, tasks = finished(url, token, run_id)
    assert state == "success", tasks
    assert runs_of_this_airflow_run() == [("SUCCESS", SESSION)]


def test_an_old_logical_date_runs_its_tasks_and_an_unreadable_date_fails(local_airflow):
    orchestration, url, token, _ = local_airflow
    before = orchestration.dagster_runs()
    state, tasks = finished(url, token, trigger(url, token, logical_date=OLD_HOLIDAY))
    # Not a run without tasks: the session task ran, found a holiday and skipped the launch.
    assert (state, tasks) == ("success", {"nyse_session": "success", "launch_dagster_run": "skipped",
                                          "wait_for_dagster_run": "skipped"})
    state, tasks = finished(url, token, trigger(url, token, conf={"session_date": "2022-13-45"}))
    assert state == "failed" and tasks["nyse_session"] == "failed", tasks
    assert orchestration.dagster_runs() == before
