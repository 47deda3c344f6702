"""`trendfolio status`: is the pipeline healthy? The services (up or down, where), the schema version, the latest
session of each table, and the last `daily_pipeline` run with its failed checks and dead letters.

Each part is read on its own: a service that is down makes the parts that need it say so, not the whole report fail.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psycopg

from trendfolio import settings
from trendfolio_app import services
from trendfolio.stack.host import wait_for_port
from trendfolio.stack.spark import connect_address
from trendfolio.console import mask_url
from trendfolio.migrations import migration_files
from trendfolio.tables import DEAD_LETTERS, PIPELINE_TABLES

JOB = "daily_pipeline"


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, line: str, problem: str | None = None) -> None:
        self.lines.append(line)
        if problem:
            self.problems.append(problem)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"


def check_services(report: Report, external: set[str]) -> bool:
    """Lines for PostgreSQL, the broker and the long-running services; whether PostgreSQL answers."""
    database_url = os.environ["DATABASE_URL"]
    report.add("services:")
    try:
        psycopg.connect(database_url, connect_timeout=3).close()
        database_up = True
    except psycopg.Error:
        database_up = False
    kind = "external" if "postgres" in external else f"embedded, data in {settings.local_stack_paths().pgdata}"
    report.add(f"  postgres    {'up' if database_up else 'DOWN':5s} {_where(database_url)} ({kind})",
               None if database_up else "PostgreSQL does not answer: `trendfolio stack up` starts the embedded one")
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    broker_up = wait_for_port(int(port), timeout_s=1, host=host or "127.0.0.1")
    kind = "external" if "kafka" in external else \
        "embedded Tansu: topics live in memory and are gone when it stops; the tables keep every row"
    report.add(f"  broker      {'up' if broker_up else 'DOWN':5s} {bootstrap} ({kind})",
               None if broker_up else "the Kafka broker does not answer: `trendfolio stack up` starts the embedded one")
    remote = settings.spark_remote()
    if remote:
        host, port = connect_address(remote)
        spark_up = wait_for_port(port, timeout_s=1, host=host)
        kind = "embedded" if settings.spark_connect_embedded() else "external"
        report.add(f"  spark       {'up' if spark_up else 'DOWN':5s} {remote} (Spark Connect server, {kind})",
                   None if spark_up else "the Spark Connect server does not answer: `trendfolio stack up` starts the "
                   "embedded one (TRENDFOLIO_SPARK_CONNECT=embedded)")
    for name, label, start in (("ui", "dagster ui", "trendfolio ui"), ("api", "api", "trendfolio api"),
                               ("airflow", "airflow", "trendfolio airflow")):
        url = services.running(name)
        report.add(f"  {label:11s} {'up' if url else 'down':5s} {url or f'(`{start}` starts it)'}")
    return database_up


def check_schema(report: Report, conn) -> None:
    applied = [row[0] for row in conn.execute(
        "SELECT version FROM ops_schema_migrations ORDER BY version").fetchall()] \
        if conn.execute("SELECT to_regclass('ops_schema_migrations')").fetchone()[0] else []
    pending = [path.stem for path in migration_files() if path.stem not in applied]
    latest = applied[-1] if applied else "none"
    report.add(f"schema: {latest} ({len(applied)} migrations applied"
               f"{', pending: ' + ', '.join(pending) if pending else ', none pending'})",
               f"migrations pending ({', '.join(pending)}): `trendfolio migrate` applies them" if pending else None)


def check_tables(report: Report, conn) -> None:
    report.add(f"  {'table':36s} {'latest session':>14s} {'rows on it':>10s}")
    for table, column in ((table.name, table.date_column) for table in PIPELINE_TABLES):
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
            report.add(f"  {table:36s} {'(no table)':>14s}")
            continue
        latest = conn.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]
        rows = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (latest,)).fetchone()[0] \
            if latest else 0
        report.add(f"  {table:36s} {str(latest or 'empty'):>14s} {rows:>10d}")


def check_last_run(report: Report, conn) -> None:
    """The last daily_pipeline run in the Dagster instance: its status, failed checks and dead letters."""
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

    try:
        with DagsterInstance.get() as instance:
            runs = instance.get_runs(filters=RunsFilter(job_name=JOB), limit=1)
            if not runs:
                report.add(f"last run: no {JOB} run in the Dagster instance yet")
                return
            run = runs[0]
            records = instance.get_records_for_run(
                run.run_id, of_type={DagsterEventType.ASSET_CHECK_EVALUATION}, limit=1000).records
            record = instance.get_run_record_by_id(run.run_id)
    except Exception as error:  # the instance's database is down or unreadable: say so, keep the rest
        report.add(f"last run: cannot read the Dagster instance ({os.environ.get('DAGSTER_HOME')}): "
                   f"{' '.join(str(error).split())[:200]}", "the Dagster instance cannot be read")
        return
    sessions = run.tags.get("dagster/partition") or "{} .. {}".format(
        run.tags.get("dagster/asset_partition_range_start"), run.tags.get("dagster/asset_partition_range_end"))
    when = dt.datetime.fromtimestamp(record.end_time or record.start_time or record.create_timestamp.timestamp(),
                                     dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if record else "?"
    ok = run.status == DagsterRunStatus.SUCCESS
    report.add(f"last run: {JOB} for {sessions}: {run.status.value} at {when} (run {run.run_id})",
               None if ok or run.status in (DagsterRunStatus.STARTED, DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING)
               else f"the last {JOB} run ended {run.status.value}")
    failed = [record.event_log_entry.dagster_event.event_specific_data for record in records]
    failed = [e for e in failed if not e.passed]
    report.add("  failed checks: " + ("none" if not failed else ", ".join(
        f"{e.asset_key.to_user_string()}.{e.check_name} ({e.severity.value})" for e in failed)),
        f"{len(failed)} checks failed in the last run" if failed else None)
    dead = conn.execute(f"SELECT target_table, rule, count(*) FROM {DEAD_LETTERS.name} WHERE run_id = %s "
                        "GROUP BY 1, 2 ORDER BY 1, 2", (run.run_id,)).fetchall() \
        if conn.execute("SELECT to_regclass(%s)", (DEAD_LETTERS.name,)).fetchone()[0] else []
    report.add("  dead letters: " + ("none" if not dead else ", ".join(
        f"{table} {rule}: {count}" for table, rule, count in dead)))


def status(external: set[str]) -> Report:
    report = Report()
    if check_services(report, external):
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            check_schema(report, conn)
            check_tables(report, conn)
            check_last_run(report, conn)
    else:
        report.add(f"warehouse {mask_url(os.environ['DATABASE_URL'])} unreachable: no schema, tables or runs to show")
    report.add("healthy" if not report.problems else "NOT healthy: " + "; ".join(report.problems))
    return report
