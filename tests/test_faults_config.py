"""Wrong settings through the real CLI: `trendfolio run` stops at once with exit code 2 and one line on stderr that
names the setting, before any job starts (no stack trace from deep inside a run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from urllib.parse import urlparse, urlunparse

import pytest

from fault_support import SESSION, record_summary
from trendfolio import settings, stack

pytestmark = pytest.mark.integration

RESULTS: list[dict] = []


def _wrong_password(url: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(netloc=f"{parsed.username}:not-the-password@{parsed.hostname}:{parsed.port}"))


def _run_cli(tmp_path, **overrides) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "JAVA_HOME", "TRENDFOLIO_JDBC_JAR")}
    env.update(TRENDFOLIO_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(tmp_path / "dagster"), **overrides)
    began = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "trendfolio_app.cli", "run", "--date", SESSION.isoformat()],
                            cwd=settings.REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
    result.seconds = time.monotonic() - began
    return result


CASES = {
    "wrong_database_password": (
        lambda services: {"DATABASE_URL": _wrong_password(services.admin_url),
                          "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap_servers},
        'DATABASE_URL: password authentication failed for user "trendfolio"'),
    "unreachable_database": (
        lambda services: {"DATABASE_URL": settings.local_database_url("trendfolio", stack.free_port()),
                          "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap_servers},
        "DATABASE_URL: "),
    "unreachable_broker": (
        lambda services: {"DATABASE_URL": services.admin_url,
                          "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{stack.free_port()}"},
        "KAFKA_BOOTSTRAP_SERVERS: the Kafka broker at 127.0.0.1:"),
    "missing_jdbc_driver": (
        lambda services: {"DATABASE_URL": services.admin_url, "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap_servers,
                          "TRENDFOLIO_JDBC_JAR": "/nonexistent/postgresql.jar"},
        "TRENDFOLIO_JDBC_JAR=/nonexistent/postgresql.jar is not a file"),
    "missing_java": (
        lambda services: {"DATABASE_URL": services.admin_url, "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap_servers,
                          "JAVA_HOME": "/nonexistent/jdk"},
        "JAVA_HOME=/nonexistent/jdk has no bin/java"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_wrong_setting_stops_the_run_with_one_line_naming_it(services, tmp_path, case):
    overrides, expected = CASES[case]
    result = _run_cli(tmp_path, **overrides(services))
    lines = result.stderr.strip().splitlines()
    RESULTS.append({"case": case, "exit_code": result.returncode, "stderr": result.stderr.strip(),
                    "seconds": round(result.seconds, 1)})
    record_summary("configuration", {"input": "wrong settings through `trendfolio run`", "trials": len(RESULTS),
                                     "results": RESULTS, "rows_lost": 0, "duplicates": 0})
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("trendfolio: ") and expected in lines[0], lines[0]
    assert "not-the-password" not in result.stderr + result.stdout
    assert "running daily_pipeline" not in result.stdout, "the job started anyway"


def test_a_run_with_a_wrong_password_fails_at_resource_start(warehouse, resources):
    """The same check when a run starts without the CLI (the Dagster UI, the Airflow bridge): resource setup fails
    with the one line, before any asset step."""
    from dagster import materialize

    from assets import ALL_ASSETS
    from resources import PostgresResource

    broken = {**resources, "postgres": PostgresResource(database_url=_wrong_password(warehouse.database_url))}
    result = materialize(ALL_ASSETS, resources=broken, partition_key=SESSION.isoformat(), raise_on_error=False)
    assert not result.success
    events = {event.event_type_value: event for event in result.all_events}
    assert "RESOURCE_INIT_FAILURE" in events and "STEP_START" not in events, sorted(events)
    error = events["RESOURCE_INIT_FAILURE"].event_specific_data.error
    assert error.cls_name == "StackError"
    assert error.message.startswith('trendfolio.settings.StackError: DATABASE_URL: password authentication failed for '
                                    'user "trendfolio"'), error.message
    assert "not-the-password" not in error.message and error.message.count("\n") <= 1
