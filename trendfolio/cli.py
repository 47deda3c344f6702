"""`trendfolio`: start the local stack, migrate, and run the nightly job from the command line."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys

from trendfolio import calendar, settings, stack

TABLES = (
    "collected_01_daily_etf_ohlc",
    "analytics_03_trending_etfs",
    "collected_04_etf_holdings",
    "collected_06_daily_stock_history",
    "analytics_05_portfolio_allocation",
)
DATE_COLUMNS = {"collected_04_etf_holdings": "as_of_date"}


def cmd_stack(args: argparse.Namespace) -> int:
    lines = {"up": lambda: stack.up(args.external), "down": stack.down, "status": stack.status}[args.action]()
    for line in lines:
        print(line)
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from trendfolio.migrations import migrate

    applied = migrate(os.environ["DATABASE_URL"])
    print(f"applied: {', '.join(applied)}" if applied else "schema up to date")
    return 0


def table_counts(database_url: str, day: dt.date) -> dict[str, int]:
    import psycopg

    counts = {}
    with psycopg.connect(database_url) as conn:
        for table in TABLES:
            column = DATE_COLUMNS.get(table, "session_date" if table.startswith("analytics") else "trade_date")
            counts[table] = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (day,)).fetchone()[0]
    return counts


def cmd_run(args: argparse.Namespace) -> int:
    from trendfolio import preflight

    day = args.date or calendar.latest_completed_session()
    if not calendar.is_session(day):
        print(f"{day} is not an NYSE session: the market was closed, nothing to run")
        return 0
    for line in stack.up(args.external):
        print(line)
    for line in preflight.check_services(os.environ["DATABASE_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"]):
        print(line)

    from dagster import DagsterInstance

    from trendfolio.definitions import defs
    from trendfolio.migrations import migrate

    migrate(os.environ["DATABASE_URL"])
    print(f"running daily_pipeline for {day} (source: {os.environ['TRENDFOLIO_SOURCE']}) ...", flush=True)
    result = defs.resolve_job_def("daily_pipeline").execute_in_process(
        partition_key=day.isoformat(), instance=DagsterInstance.get(), raise_on_error=False
    )
    counts = table_counts(os.environ["DATABASE_URL"], day)
    for table, count in counts.items():
        print(f"  {table:40s} {count:6d} rows for {day}")
    if not result.success:
        print(f"daily_pipeline FAILED for {day} (run {result.run_id}): see the Dagster UI or its event log")
        return 1
    print(f"daily_pipeline succeeded for {day} (run {result.run_id}).")
    print(f"Results: psql {os.environ['DATABASE_URL']} -c 'SELECT * FROM analytics_05_portfolio_allocation "
          f"WHERE session_date = '\\''{day}'\\'''")
    print("Dagster UI (lineage, every materialization): uv run trendfolio ui   then open http://127.0.0.1:3000")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    import subprocess

    for line in stack.up(args.external):
        print(line)
    daemon = subprocess.Popen(["dagster-daemon", "run", "-w", "workspace.yaml"], cwd=settings.REPO_ROOT)
    try:
        return subprocess.call(
            ["dagster-webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(args.port)],
            cwd=settings.REPO_ROOT,
        )
    finally:
        daemon.terminate()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trendfolio", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("stack", help="start, stop or show the embedded PostgreSQL and Kafka broker")
    p.add_argument("action", choices=["up", "down", "status"])
    p.set_defaults(func=cmd_stack)
    p = sub.add_parser("migrate", help="apply the SQL migrations in sql/")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("run", help="run daily_pipeline for one session (default: the latest completed one)")
    p.add_argument("--date", type=dt.date.fromisoformat, help="session date, YYYY-MM-DD")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("ui", help="start dagster-webserver and dagster-daemon on the local stack")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.external = settings.external_services()  # read before the defaults fill the environment in
    settings.apply_local_defaults()
    try:
        return args.func(args)
    except stack.StackError as error:
        print(f"trendfolio: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
