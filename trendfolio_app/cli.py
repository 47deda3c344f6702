"""`trendfolio`: start the local stack, migrate, run the nightly job, and serve the API from the command line."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import warnings

from trendfolio import calendar, failures, settings, stack
from trendfolio.tables import PIPELINE_TABLES


def cmd_stack(args: argparse.Namespace) -> int:
    lines = {"up": lambda: stack.up(args.external), "down": stack.down, "status": stack.status}[args.action]()
    if args.action == "status":
        lines += clear_leftovers()
    for line in lines:
        print(line)
    return 0


def pooled(instance):
    """The instance, its PostgreSQL storages keeping one connection open (plus 2 on demand) for the command's life.
    dagster-postgres opens a fresh, password-authenticated connection for every event by default (NullPool), which
    made an event write cost 41–48 ms against 11–15 ms pooled (bench/README.md, "Dagster bookkeeping")."""
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=2)  # 0: no timeout
    return instance


def clear_leftovers(instance=None) -> list[str]:
    """Runs left STARTED by a killed process are marked failed, their staging tables dropped (trendfolio.leftovers).
    Best effort where PostgreSQL does not answer: the status lines say so already."""
    from dagster import DagsterInstance

    from trendfolio import leftovers

    try:
        if instance is not None:
            return leftovers.clear(os.environ["DATABASE_URL"], instance)
        with DagsterInstance.get() as own:
            return leftovers.clear(os.environ["DATABASE_URL"], own)
    except Exception as error:  # noqa: BLE001 - a status must not fail on what it only tidies
        return [f"leftovers: not checked ({failures.explain_exception(error)})"]


def cmd_migrate(_: argparse.Namespace) -> int:
    from trendfolio.migrations import migrate

    applied = migrate(os.environ["DATABASE_URL"])
    print(f"applied: {', '.join(applied)}" if applied else "schema up to date")
    return 0


def table_counts(database_url: str, day: dt.date) -> dict[str, int]:
    import psycopg

    counts = {}
    with psycopg.connect(database_url) as conn:
        for table in PIPELINE_TABLES:
            counts[table.name] = conn.execute(
                f"SELECT count(*) FROM {table.name} WHERE {table.date_column} = %s", (day,)).fetchone()[0]
    return counts


# A backfill's duration on two cores (bench/RESULTS.md, benchmark 4: 60 sessions in 55 s, one session in 34 s).
BACKFILL_STARTUP_S, BACKFILL_S_PER_SESSION = 34.0, 0.36
# Dagster's console logger prints a failed step's whole traceback; the CLI says why in one line instead.
CONSOLE_ERRORS_ONLY_AS_A_LINE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def check_dates(start: dt.date, end: dt.date) -> None:
    """Dates the job has partitions for: within the NYSE calendar, from the first partition, not in the future.
    Checked before anything starts or is written."""
    from assets.partitions import PARTITIONS_START, nyse_sessions

    known = calendar.nyse().last_session.date()
    for day in (start, end):
        if day > known:
            raise stack.StackError(f"{day} is beyond the NYSE calendar, which knows sessions through {known}")
        if day < PARTITIONS_START:
            raise stack.StackError(f"{day} is before the first partition, {PARTITIONS_START}: the pipeline has no "
                                   "sessions before it")
    last = dt.date.fromisoformat(nyse_sessions.get_last_partition_key())
    if end > last:
        raise stack.StackError(f"{end} is in the future: the latest session that can run is {last}")


def check_settings() -> None:
    """The settings that need no service, checked before the stack starts."""
    from trendfolio.preflight import check_spark_master
    from trendfolio.sources import SOURCE_NAMES

    source = os.environ["TRENDFOLIO_SOURCE"]
    if source not in SOURCE_NAMES:
        raise stack.StackError(f"TRENDFOLIO_SOURCE={source!r} is not a market-data source: use "
                               f"{', '.join(SOURCE_NAMES)}")
    check_spark_master(os.environ["SPARK_MASTER_URL"])


def cmd_run(args: argparse.Namespace) -> int:
    from resources.kafka import check_broker
    from trendfolio.preflight import check_database

    day = args.date or calendar.latest_completed_session()
    if calendar.nyse().first_session.date() <= day <= calendar.nyse().last_session.date() \
            and not calendar.is_session(day):
        print(f"{day} is not an NYSE session: the market was closed, nothing to run")
        return 0
    check_dates(day, day)
    check_settings()
    for line in stack.up(args.external):
        print(line)
    check_database(os.environ["DATABASE_URL"])
    check_broker(os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    print("preflight: PostgreSQL and the Kafka broker answer")

    from dagster import DagsterInstance

    from trendfolio_app.definitions import defs
    from trendfolio.migrations import migrate

    from trendfolio import leftovers

    migrate(os.environ["DATABASE_URL"])
    instance = pooled(DagsterInstance.get())
    for line in clear_leftovers(instance):
        print(line)
    print(f"running daily_pipeline for {day} (source: {os.environ['TRENDFOLIO_SOURCE']}) ...", flush=True)
    result = defs.resolve_job_def("daily_pipeline").execute_in_process(
        partition_key=day.isoformat(), instance=instance, raise_on_error=False,
        run_config=CONSOLE_ERRORS_ONLY_AS_A_LINE, tags=leftovers.process_tags(),
    )
    if not result.success:
        print(f"trendfolio: daily_pipeline FAILED for {day} at {failures.run_failure(result)} (run {result.run_id})",
              file=sys.stderr)
        return 1
    counts = table_counts(os.environ["DATABASE_URL"], day)
    for table, count in counts.items():
        print(f"  {table:40s} {count:6d} rows for {day}")
    print(f"daily_pipeline succeeded for {day} (run {result.run_id}).")
    print(f"Dashboard and API: uv run trendfolio api   then open http://127.0.0.1:8000/dashboard (session {day})")
    print(f"Tables: PostgreSQL at {os.environ['DATABASE_URL']}")
    print("Dagster UI (lineage, every materialization): uv run trendfolio ui   then open http://127.0.0.1:3000")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from trendfolio.backfill import backfill
    from trendfolio_app.definitions import defs
    from trendfolio.migrations import migrate

    if args.end < args.start:
        print(f"trendfolio: --end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    check_dates(args.start, args.end)
    sessions = len(calendar.sessions_between(args.start, args.end))
    estimate_min = (BACKFILL_STARTUP_S + BACKFILL_S_PER_SESSION * sessions) / 60
    print(f"estimate: {sessions} sessions, about {estimate_min:.0f} min on 2 cores (bench/RESULTS.md, benchmark 4); "
          "an interrupted backfill can be re-run over the same range", flush=True)
    if args.dry_run:
        return 0
    check_settings()
    for line in stack.up(args.external):
        print(line)
    migrate(os.environ["DATABASE_URL"])
    with DagsterInstance.get() as instance:
        pooled(instance)
        for line in clear_leftovers(instance):
            print(line)
        result = backfill(defs.resolve_job_def("daily_pipeline"), instance, args.start, args.end,
                          echo=lambda line: print(line, flush=True))
    if result is None:
        return 0
    if not result.success:
        print(f"trendfolio: backfill FAILED at {failures.run_failure(result)} (run {result.run_id}); re-running the "
              "same range is safe", file=sys.stderr)
        return 1
    print(f"backfill succeeded (run {result.run_id}); re-running the same range rewrites the same rows.")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from trendfolio_app.report import write_report

    if args.end < args.start:
        print(f"--end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    if "postgres" not in args.external:
        stack.embedded_postgres().start()
    command = f"trendfolio report --start {args.start} --end {args.end} --out {args.out}"
    try:
        report = write_report(os.environ["DATABASE_URL"], args.start, args.end, Path(args.out), command)
    except ValueError as error:
        print(f"trendfolio report: {error}", file=sys.stderr)
        return 1
    print(f"wrote {Path(args.out) / 'README.md'} and {len(report.charts)} charts")
    for horizon, figures in report.figures.items():
        print(f"  h={horizon:2d}: {figures['portfolios']} portfolios, {figures['scored']} scored, "
              f"{figures['weighted_10_share_of_trending']:.1%} of sessions with a trending ETF weighted with ≥ 10 "
              f"stocks, {figures['weighted_unequal_share']:.1%} of weighted ones with unequal weights")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    import subprocess

    for line in stack.up(args.external):
        print(line)
    print(f"Dagster instance: {os.environ['DAGSTER_HOME']}/dagster.yaml (runs and events in PostgreSQL)")
    print(f"Dagster UI: http://127.0.0.1:{args.port}  (dagster-daemon runs the queued runs; Ctrl-C stops both)")
    daemon = subprocess.Popen(["dagster-daemon", "run", "-w", "workspace.yaml"], cwd=settings.REPO_ROOT)
    try:
        return subprocess.call(
            ["dagster-webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(args.port)],
            cwd=settings.REPO_ROOT,
        )
    finally:
        daemon.terminate()


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.database import api_database_is_external, api_database_url
    from trendfolio.migrations import migrate

    # The migrations create the read-only role the API connects as; they need the owner's DATABASE_URL. With only
    # API_DATABASE_URL set, the API serves a server someone else migrates.
    if "postgres" in args.external:
        migrate(os.environ["DATABASE_URL"])
    elif not api_database_is_external():
        stack.embedded_postgres().start()
        migrate(os.environ["DATABASE_URL"])
    print(f"API docs: http://{args.host}:{args.port}/docs   dashboard: http://{args.host}:{args.port}/dashboard",
          flush=True)
    uvicorn.run(create_app(api_database_url()), host=args.host, port=args.port, log_level="info")
    return 0


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
    p = sub.add_parser("backfill", help="run daily_pipeline for every session in [--start, --end] as one run")
    p.add_argument("--start", type=dt.date.fromisoformat, required=True, help="first date, YYYY-MM-DD")
    p.add_argument("--end", type=dt.date.fromisoformat, required=True, help="last date, YYYY-MM-DD (inclusive)")
    p.add_argument("--dry-run", action="store_true", help="check the range and print the estimate, run nothing")
    p.set_defaults(func=cmd_backfill)
    p = sub.add_parser("report", help="write the track record of [--start, --end] (Markdown and PNG charts) from the "
                                      "stored tables")
    p.add_argument("--start", type=dt.date.fromisoformat, required=True, help="first session, YYYY-MM-DD")
    p.add_argument("--end", type=dt.date.fromisoformat, required=True, help="last session, YYYY-MM-DD (inclusive)")
    p.add_argument("--out", default="docs/track-record", help="folder for README.md and the charts")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("ui", help="start dagster-webserver and dagster-daemon on the local stack")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)
    p = sub.add_parser("api", help="serve the read-only API (/docs) and the dashboard (/dashboard) on the local stack")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_api)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Dagster warns on import that BackfillPolicy is a beta parameter: nothing the operator can act on.
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    args = build_parser().parse_args(argv)
    args.external = settings.external_services()  # read before the defaults fill the environment in
    settings.apply_local_defaults()
    try:
        return args.func(args)
    except stack.StackError as error:
        print(f"trendfolio: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("trendfolio: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - one line for the operator, the traceback in a file
        saved = failures.save_traceback(error, settings.local_stack_paths().root)
        where = f" (traceback in {saved})" if saved else ""
        print(f"trendfolio: {failures.explain_exception(error)}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
