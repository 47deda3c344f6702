"""The Airflow 3 controller DAG: loaded by Airflow's DagBag, then run with `airflow dags test` against a real
dagster-webserver and dagster-daemon whose instance keeps its runs in PostgreSQL, on the test PostgreSQL and broker."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.request

import pytest
from dagster import MarkdownMetadataValue, deserialize_value
from orchestration_stack import BIN, OrchestrationStack

from assets import ALL_ASSETS
from trendfolio import settings, stack

DAG_FOLDER = settings.REPO_ROOT / "airflow_bridge"
DAG_ID = "daily_pipeline_controller"
SESSION = "2026-11-25"  # a Wednesday session
FAILING_SESSION = "2026-11-24"
HOLIDAY = "2026-11-26"  # Thanksgiving
TASKS = ["nyse_session", "launch_dagster_run", "wait_for_dagster_run"]


def airflow_env(home) -> dict:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FOLDER),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }


@pytest.fixture(scope="module")
def airflow_config(tmp_path_factory):
    """Airflow reads its configuration when first imported: give this process an AIRFLOW_HOME of its own first."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in airflow_env(tmp_path_factory.mktemp("airflow_config")).items():
            if name.startswith("AIRFLOW"):
                patch.setenv(name, value)
        yield


def test_dagbag_loads_the_controller_at_2130_utc_without_catchup(airflow_config):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FOLDER))
    assert bag.import_errors == {}
    assert list(bag.dags) == [DAG_ID]
    dag = bag.dags[DAG_ID]  # get_dag() would ask the metadata database
    assert dag.timetable.expression == "30 21 * * *"
    assert str(dag.timetable.timezone) == "UTC"
    assert dag.catchup is False
    assert sorted(dag.task_ids) == sorted(TASKS)


def test_the_dag_file_imports_nothing_from_the_project():
    source = (DAG_FOLDER / "daily_pipeline_controller.py").read_text()
    for package in ("trendfolio", "assets", "resources", "jobs"):
        assert f"from {package}" not in source and f"import {package}" not in source


def test_session_from_the_run_time_in_new_york(airflow_config):
    from airflow_bridge.daily_pipeline_controller import session_date_for

    utc = dt.timezone.utc
    assert session_date_for(dt.datetime(2026, 11, 25, 21, 30, tzinfo=utc)) == dt.date(2026, 11, 25)
    assert session_date_for(dt.datetime(2026, 11, 26, 0, 0, tzinfo=utc)) == dt.date(2026, 11, 25)  # 19:00 NY
    with pytest.raises(ValueError):
        session_date_for(dt.datetime(2026, 11, 25, 21, 30))


# --- end to end: airflow dags test → Dagster GraphQL → daemon → run ---------------------------------------------


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def wait_for_code_location(url: str, process: subprocess.Popen, log, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited: {log.read_text()[-2000:]}")
        try:
            data = graphql(url, "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }")
            if data["repositoriesOrError"].get("nodes"):
                return
        except OSError:
            pass
        time.sleep(2)
    raise TimeoutError(f"dagster-webserver did not load the code location in {timeout_s} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def dagster_services(services, tmp_path_factory):
    """dagster-webserver and dagster-daemon as `trendfolio ui` starts them, on a fresh warehouse and instance."""
    root = tmp_path_factory.mktemp("orchestration")
    orchestration = OrchestrationStack(services.admin_url, services.bootstrap_servers, root)
    port = stack.free_port()
    url = f"http://127.0.0.1:{port}"
    logs = {name: root / f"{name}.log" for name in ("webserver", "daemon")}
    commands = {
        "webserver": [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
    }
    processes = {}
    try:
        for name, command in commands.items():
            with open(logs[name], "wb") as log:
                # A session of their own: teardown stops them with their code servers and any run still going.
                processes[name] = subprocess.Popen(command, cwd=settings.REPO_ROOT, env=orchestration.env,
                                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_code_location(url, processes["webserver"], logs["webserver"])
        yield orchestration, url
    finally:
        for process in processes.values():
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)  # whatever of the group outlived the SIGTERM
            except ProcessLookupError:
                pass
        orchestration.close()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, dagster_services):
    """A real Airflow 3 with a fresh SQLite metadata database; `run(logical_date)` is `airflow dags test`."""
    _, url = dagster_services
    home = tmp_path_factory.mktemp("airflow_home")
    env = {**airflow_env(home), "AIRFLOW_VAR_DAGSTER_URL": url, "AIRFLOW_VAR_DAGSTER_POLL_SECONDS": "2"}
    migrated = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True,
                              timeout=600)
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    def run(logical_date: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
        done = subprocess.run([str(BIN / "airflow"), "dags", "test", DAG_ID, logical_date], env=env,
                              capture_output=True, text=True, timeout=1200)
        with sqlite3.connect(home / "airflow.db") as db:
            states = dict(db.execute(
                "SELECT ti.task_id, ti.state FROM task_instance ti JOIN dag_run dr ON dr.run_id = ti.run_id "
                "AND dr.dag_id = ti.dag_id WHERE ti.dag_id = ? AND dr.logical_date LIKE ?",
                (DAG_ID, logical_date[:10] + "%")).fetchall())
        return done, states

    return run


def at_2130_utc(day: str) -> str:
    return f"{day}T21:30:00+00:00"


@pytest.mark.integration
def test_a_session_runs_the_dagster_job_and_fills_the_tables(dagster_services, airflow):
    orchestration, _ = dagster_services
    done, states = airflow(at_2130_utc(SESSION))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert states == dict.fromkeys(TASKS, "success")

    warehouse = orchestration.warehouse
    assert warehouse.scalar("SELECT count(*) FROM collected_01_daily_etf_ohlc WHERE trade_date = %s", (SESSION,)) == 15
    assert warehouse.scalar("SELECT count(*) FROM analytics_03_trending_etfs WHERE session_date = %s", (SESSION,)) == 15
    assert warehouse.scalar(
        "SELECT count(DISTINCT horizon) FROM analytics_05_portfolio_allocation WHERE session_date = %s",
        (SESSION,)) == 3
    assert warehouse.scalar("SELECT count(*) FROM collected_06_daily_stock_history WHERE trade_date = %s",
                            (SESSION,)) > 0

    runs = [run for run in orchestration.dagster_runs() if run[2].get("dagster/partition") == SESSION]
    assert [(status, tags["airflow/dag_id"]) for _, status, tags in runs] == [("SUCCESS", DAG_ID)]
    run_id = runs[0][0]
    assert run_id in done.stdout + done.stderr  # the Airflow log names the Dagster run
    events = orchestration.instance_db.query(
        "SELECT event FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
        (run_id,))
    metadata = {}
    for (serialized,) in events:
        materialization = deserialize_value(serialized).dagster_event.event_specific_data.materialization
        metadata[materialization.asset_key.to_user_string()] = materialization.metadata
    assert set(metadata) == {asset.key.to_user_string() for asset in ALL_ASSETS}
    # A fresh warehouse has no portfolio whose horizon has ended yet: realized performance writes nothing.
    assert metadata.pop("analytics_07_portfolio_performance")["rows_written"].value == 0
    assert metadata.pop("analytics_08_portfolio_baselines")["rows_written"].value == 0  # nor the baselines
    # What a user reads on each materialization in the Dagster UI.
    for asset, values in metadata.items():
        assert values["rows_written"].value > 0, asset
        if asset.startswith("collected"):
            assert values["kafka_topic"].value.endswith(asset)
            assert {"dead_letters_validation", "dead_letters_consumer", "kafka_end_offsets"} <= set(values)
        else:
            assert values["spark_seconds"].value > 0
    for asset, preview in [("analytics_03_trending_etfs", "trending"),
                           ("collected_04_etf_holdings", "largest_holdings"),
                           ("analytics_05_portfolio_allocation", "portfolio_preview")]:
        assert isinstance(metadata[asset][preview], MarkdownMetadataValue) and SESSION in metadata[asset][preview].value


@pytest.mark.integration
def test_a_failed_dagster_run_fails_the_airflow_task_with_the_reason(dagster_services, airflow):
    orchestration, _ = dagster_services
    warehouse = orchestration.warehouse
    # A warehouse without its first table: the run's first step fails in Dagster, not in Airflow.
    with warehouse_connection(warehouse) as conn:
        conn.execute("ALTER TABLE collected_01_daily_etf_ohlc RENAME TO collected_01_daily_etf_ohlc_hidden")
    try:
        done, states = airflow(at_2130_utc(FAILING_SESSION))
    finally:
        with warehouse_connection(warehouse) as conn:
            conn.execute("ALTER TABLE collected_01_daily_etf_ohlc_hidden RENAME TO collected_01_daily_etf_ohlc")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert states == {"nyse_session": "success", "launch_dagster_run": "success", "wait_for_dagster_run": "failed"}

    runs = [run for run in orchestration.dagster_runs() if run[2].get("dagster/partition") == FAILING_SESSION]
    assert [status for _, status, _ in runs] == ["FAILURE"]
    run_id = runs[0][0]
    assert f"Dagster run {run_id} ended FAILURE" in output
    reason = output[output.index(f"Dagster run {run_id} ended FAILURE"):]
    assert "step collected_01_daily_etf_ohlc failed" in reason
    # psycopg's message, as Airflow's log prints it (it may escape the quotes).
    assert re.search(r'relation \\?"collected_01_daily_etf_ohlc\\?" does not exist', reason), reason[:3000]


@pytest.mark.integration
def test_a_holiday_is_skipped_without_a_dagster_run(dagster_services, airflow):
    orchestration, _ = dagster_services
    before = orchestration.dagster_runs()
    done, states = airflow(at_2130_utc(HOLIDAY))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert states == {"nyse_session": "success", "launch_dagster_run": "skipped", "wait_for_dagster_run": "skipped"}
    assert f"{HOLIDAY} is not an NYSE session" in done.stdout + done.stderr
    assert orchestration.dagster_runs() == before


def warehouse_connection(warehouse):
    import psycopg

    return psycopg.connect(warehouse.database_url, autocommit=True)
