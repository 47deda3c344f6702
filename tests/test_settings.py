"""The production code location reads the environment as it is: importing it writes nothing, and a process missing a
setting it cannot run without fails with one line naming it. Local defaults apply only to the CLI and
workspace.yaml's local location."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCTION = {"DATABASE_URL": "postgresql://u:p@db.example:5432/trendfolio", "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
              "TRENDFOLIO_SOURCE": "yfinance"}
SHOW_ENVIRONMENT = ("import os, json; before = dict(os.environ); import {module}; "
                    "print(json.dumps({{k: v for k, v in os.environ.items() if before.get(k) != v}}))")


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items()
            if key not in (*PRODUCTION, "KAFKA_NAMESPACE", "SPARK_MASTER_URL", "TRENDFOLIO_REPLAY_DIR",
                           "TRENDFOLIO_YAHOO_BASE_URL", "DAGSTER_PG_URL")}
    return subprocess.run([sys.executable, "-W", "ignore", "-c", code], env={**base, **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=900)  # importing Dagster takes minutes on a loaded machine


def test_importing_the_production_code_location_writes_no_environment_variable():
    done = python(SHOW_ENVIRONMENT.format(module="trendfolio_app.definitions"), PRODUCTION)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "{}"


def test_a_production_process_without_database_url_fails_in_one_line_naming_it():
    env = {key: value for key, value in PRODUCTION.items() if key != "DATABASE_URL"}
    done = python("import trendfolio_app.definitions", env)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("trendfolio.settings.SettingMissing: DATABASE_URL is not set"), done.stderr[-2000:]


def test_the_local_location_fills_in_the_embedded_stack():
    done = python(SHOW_ENVIRONMENT.format(module="trendfolio_app.local"), {})
    assert done.returncode == 0, done.stderr[-2000:]
    filled = done.stdout.strip().splitlines()[-1]
    assert '"DATABASE_URL": "postgresql://trendfolio:trendfolio@127.0.0.1:' in filled
    assert '"TRENDFOLIO_SOURCE": "synthetic"' in filled
