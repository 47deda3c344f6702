"""`trendfolio airflow`: a local Airflow 3 that runs `daily_pipeline_controller` against the local Dagster, in one
command.

Airflow's metadata lives in an `airflow` database on the warehouse's PostgreSQL server (the embedded one by default;
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN overrides it), its home under the local stack's folder. Three components run:
the API server (UI, REST API and the execution API the tasks report to), the scheduler (LocalExecutor) and the DAG
processor (no triggerer: nothing defers). The DAG folder, the Dagster URL and the execution
API URL are set, the DAG is unpaused, and the admin login is printed (the password stays in its file).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from trendfolio import settings, stack

DAG_ID = "daily_pipeline_controller"
ADMIN = "admin"
COMPONENTS = {"api-server": ["api-server"], "scheduler": ["scheduler"], "dag-processor": ["dag-processor"]}
BIN = Path(sys.executable).parent


class AirflowError(stack.StackError):
    """Airflow did not come up; the message says which component and where its log is."""


def airflow_home() -> Path:
    return settings.local_stack_paths().root / "airflow"


def metadata_url(database_url: str) -> str:
    """Airflow's metadata database: `airflow` on the warehouse's server, created when missing (SQLAlchemy URL)."""
    configured = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if configured:
        return configured
    server = urlsplit(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'").fetchone():
            conn.execute('CREATE DATABASE "airflow"')
    return urlunsplit(server._replace(scheme="postgresql+psycopg2", path="/airflow"))


def async_url(sync_url: str) -> str:
    """Airflow 3 also opens its metadata database asynchronously; it would pick asyncpg, which is not installed:
    psycopg 3's async driver instead."""
    configured = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC")
    if configured:
        return configured
    scheme, rest = sync_url.split(":", 1)
    return f"postgresql+psycopg_async:{rest}" if scheme.startswith("postgresql") else sync_url


def environment(home: Path, port: int, dagster_url: str, database_url: str) -> dict[str, str]:
    api = f"http://127.0.0.1:{port}"
    metadata = metadata_url(database_url)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.REPO_ROOT / "airflow_bridge"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",  # LocalExecutor starts this many worker processes
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_url(metadata),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",  # a laptop's UI: one worker process, not four
        "AIRFLOW__API__BASE_URL": api,
        # Tasks report to the execution API of this API server, not the default :8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",  # 5 s by default: too short on a busy laptop
        "AIRFLOW_VAR_DAGSTER_URL": dagster_url,
    }


def request(url: str, payload: dict | None = None, token: str | None = None, method: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(payload).encode() if payload is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method=method),
                                timeout=30) as response:
        return json.load(response)


def admin_password(home: Path) -> str:
    return json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())[ADMIN]


def token(api: str, home: Path) -> str:
    return request(f"{api}/auth/token", {"username": ADMIN, "password": admin_password(home)})["access_token"]


def wait_until(what: str, probe, processes: dict[str, subprocess.Popen], logs: Path, timeout_s: float = 300):
    """Call `probe` until it returns a value; fail naming the component that exited, or `what` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise AirflowError(f"airflow {name} exited with {process.returncode}: see {logs / f'{name}.log'}")
        try:
            value = probe()
            if value:
                return value
        except (OSError, urllib.error.URLError, KeyError, ValueError):
            pass
        time.sleep(2)
    raise AirflowError(f"Airflow: {what} within {timeout_s:.0f} s: see the logs in {logs}")


def start(port: int, dagster_url: str, say) -> tuple[dict[str, subprocess.Popen], str]:
    """Migrate the metadata database, start the components, wait for the DAG and unpause it; the processes and the
    API server's URL. The components stay in this process group: Ctrl-C (or a signal to the group) stops them."""
    home = airflow_home()
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = environment(home, port, dagster_url, os.environ["DATABASE_URL"])
    api = f"http://127.0.0.1:{port}"
    with open(logs / "db-migrate.log", "wb") as log:
        if subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT,
                          timeout=900).returncode != 0:
            raise AirflowError(f"airflow db migrate failed: see {logs / 'db-migrate.log'}")
    processes = {}

    def launch(name: str) -> None:
        with open(logs / f"{name}.log", "ab") as log:
            processes[name] = subprocess.Popen([str(BIN / "airflow"), *COMPONENTS[name]], env=env, stdout=log,
                                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    try:
        # The API server first: the tasks the scheduler starts report to its execution API from their first second.
        launch("api-server")
        access = wait_until("the API server did not answer", lambda: token(api, home), processes, logs)
        launch("dag-processor")
        launch("scheduler")
        wait_until(f"the DAG processor did not load {DAG_ID}",
                   lambda: request(f"{api}/api/v2/dags/{DAG_ID}", token=access), processes, logs)
        request(f"{api}/api/v2/dags/{DAG_ID}", {"is_paused": False}, token=access, method="PATCH")
    except BaseException:
        stop(processes)
        raise
    say(f"Airflow: {api}  (login {ADMIN}, password in {home / 'simple_auth_manager_passwords.json.generated'})")
    say(f"DAG {DAG_ID}: unpaused, runs daily_pipeline on Dagster at {dagster_url}; a session of your choice: "
        f"Trigger with config {{\"session_date\": \"YYYY-MM-DD\"}}")
    say(f"Airflow logs: {logs}  (Ctrl-C stops Airflow)")
    return processes, api


def stop(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
