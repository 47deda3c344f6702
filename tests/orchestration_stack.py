"""What the orchestration tests share: fresh databases on the test server, and the environment that points the
project's own processes (CLI, dagster-webserver, dagster-daemon) at them and at the test broker."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
from conftest import Warehouse

from trendfolio import settings
from trendfolio.migrations import migrate

BIN = Path(sys.executable).parent  # the venv's console scripts: trendfolio, dagster-webserver, airflow, …


def create_database(admin_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))


def drop_database(admin_url: str, url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{urlparse(url).path.lstrip("/")}" WITH (FORCE)')


class OrchestrationStack:
    """A warehouse database with the schema, a Dagster instance database, and a DAGSTER_HOME with the repo's own
    dagster.yaml (runs and events in PostgreSQL through DAGSTER_PG_URL)."""

    def __init__(self, admin_url: str, bootstrap_servers: str, root: Path):
        self.admin_url = admin_url
        self.database_url = create_database(admin_url, "orch")
        migrate(self.database_url)
        self.dagster_db_url = create_database(admin_url, "dagster")
        self.dagster_home = root / "dagster_home"
        self.dagster_home.mkdir()
        shutil.copy(settings.REPO_ROOT / "dagster_home" / "dagster.yaml", self.dagster_home / "dagster.yaml")
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "KAFKA_NAMESPACE": urlparse(self.database_url).path.lstrip("/"),  # topics of their own on the broker
            "SPARK_MASTER_URL": "local[2]",
            "TRENDFOLIO_SOURCE": "synthetic",
            "TRENDFOLIO_HOME": str(root / "stack"),
            "DAGSTER_HOME": str(self.dagster_home),
            # dagster-postgres speaks psycopg2 (settings.apply_local_defaults does the same for the embedded server).
            "DAGSTER_PG_URL": self.dagster_db_url.replace("postgresql://", "postgresql+psycopg2://"),
        }

        self.warehouse = Warehouse(self.database_url, bootstrap_servers, namespace=self.env["KAFKA_NAMESPACE"])
        self.instance_db = Warehouse(self.dagster_db_url, bootstrap_servers, namespace="")

    def dagster_runs(self) -> list[tuple[str, str, dict]]:
        """(run id, status, tags) of every run the Postgres-backed instance recorded, oldest first."""
        runs = self.instance_db.query("SELECT run_id, status FROM runs ORDER BY id")
        tags = self.instance_db.query("SELECT run_id, key, value FROM run_tags")
        return [(run_id, status, {k: v for r, k, v in tags if r == run_id}) for run_id, status in runs]

    def close(self) -> None:
        drop_database(self.admin_url, self.database_url)
        drop_database(self.admin_url, self.dagster_db_url)
