"""`trendfolio`: start the local stack, migrate, run the nightly job, and serve the API from the command line."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from trendfolio import calendar, console, failures, settings, stack
from trendfolio_app import services
from trendfolio.stack.host import wait_for_port
from trendfolio.tables import PIPELINE_TABLES

EVENT_BATCH_SIZE = 500  # materialization events per INSERT of a range run (a 5-year backfill: ≈ 1,250 per step)
DEFAULT_UI_PORT = 3000
DEFAULT_API_PORT = 8000
DEFAULT_AIRFLOW_PORT = 8080
SOURCES = ("synthetic", "replay", "yfinance")


def cmd_stack(args: argparse.Namespace) -> int:
    if args.action == "status":
        return cmd_status(args)
    for line in stack.up(args.external) if args.action == "up" else stack.down():
        print(line)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Is the pipeline healthy; runs a killed process left STARTED are marked failed first. `trendfolio status` exits
    1 when something is wrong; `stack status` only reports."""
    from trendfolio_app import health

    tidied = clear_leftovers()
    report = health.status(args.external)
    for line in [*tidied, *report.lines]:
        print(line)
    return 1 if report.problems and args.command == "status" else 0


def pooled(instance):
    """The instance, its PostgreSQL storages keeping one connection open (plus 2 on demand) for the command's life.
    dagster-postgres opens a fresh, password-authenticated connection for every event by default (NullPool), which
    made an event write cost 41–48 ms against 11–15 ms pooled (bench/README.md, "Dagster bookkeeping").
    A range run's per-partition materializations of one step are written in batches of EVENT_BATCH_SIZE (one INSERT
    and one index transaction each; Dagster's DAGSTER_EVENT_BATCH_SIZE, off unless set) instead of one by one, and it
    plans each asset once for its partition range instead of once per partition (DAGSTER_EMIT_PARTITION_SUBSET_IN_
    PLANNED_EVENTS: a 5-year backfill wrote 8,778 planned events one by one before its first step). Its cost: the
    partitions of a backfill that fails show in the Dagster UI as missing, not failed (the command says it failed)."""
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=2)  # 0: no timeout
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
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


def rows_for(conn, table: str, day: dt.date) -> int | None:
    """Rows `table` holds for `day`; None for a step that is not a pipeline table."""
    dated = {t.name: t.date_column for t in PIPELINE_TABLES}
    if table not in dated:
        return None
    return conn.execute(f"SELECT count(*) FROM {table} WHERE {dated[table]} = %s", (day,)).fetchone()[0]


def run_log(dates: dt.date | str) -> Path:
    """Where a run's Dagster and Spark logs go unless --verbose."""
    return settings.local_stack_paths().root / "logs" / f"run-{dates}.log"


def shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def stack_line(external: set[str]) -> str:
    """The services a run uses, in one line, with no secret in it."""
    database = urlsplit(os.environ["DATABASE_URL"])
    broker = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    return (f"stack: postgres {database.hostname}:{database.port or 5432}"
            f"{' (external)' if 'postgres' in external else ''}, "
            f"broker {broker}{' (external)' if 'kafka' in external else ' (embedded, topics in memory)'}, "
            f"spark {settings.spark_remote() or os.environ['SPARK_MASTER_URL']}")


def next_steps() -> list[str]:
    """Where to look after a run: the real ports of the API and the UI (the running ones, or the defaults they start
    on), and the warehouse's URL without its password."""
    api = services.running("api") or f"http://127.0.0.1:{DEFAULT_API_PORT}"
    ui = services.running("ui") or f"http://127.0.0.1:{DEFAULT_UI_PORT}"
    return [f"next: trendfolio api -> {api}/dashboard   trendfolio ui -> {ui}   trendfolio status",
            f"warehouse: {console.mask_url(os.environ['DATABASE_URL'])}"]


# A backfill's duration on two cores (bench/RESULTS.md, benchmark 4: 60 sessions in 55 s, one session in 34 s).
BACKFILL_STARTUP_S, BACKFILL_S_PER_SESSION = 34.0, 0.36


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
    from trendfolio.sources import SOURCE_NAMES, check_holdings_per_etf
    from trendfolio.universe import Universe

    source = os.environ["TRENDFOLIO_SOURCE"]
    if source not in SOURCE_NAMES:
        raise stack.StackError(f"TRENDFOLIO_SOURCE={source!r} is not a market-data source: use "
                               f"{', '.join(SOURCE_NAMES)}")
    try:
        check_holdings_per_etf(source, Universe.from_environment().holdings_per_etf)
    except settings.SettingInvalid as error:
        raise stack.StackError(str(error)) from None
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
    started = time.monotonic()
    stack_lines = stack.up(args.external)
    check_database(os.environ["DATABASE_URL"])
    check_broker(os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    stack_lines.append("preflight: PostgreSQL and the Kafka broker answer")
    for line in stack_lines if args.verbose else [stack_line(args.external)]:
        args.say(line)

    from dagster import DagsterInstance

    from trendfolio_app.definitions import defs
    from trendfolio.migrations import migrate
    from trendfolio.session_run import run_session

    from trendfolio import leftovers

    migrate(os.environ["DATABASE_URL"])
    args.say(f"daily_pipeline for {day}, source {os.environ['TRENDFOLIO_SOURCE']}:")
    log = run_log(day)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        with contextlib.nullcontext() if args.verbose else console.stderr_to(log):
            with pooled(DagsterInstance.get()) as instance:
                for line in clear_leftovers(instance):
                    args.say(line)
                result, lines = run_session(defs.resolve_job_def("daily_pipeline"), instance, day,
                                            rows_stored=lambda table: rows_for(conn, table, day), echo=args.progress,
                                            tags=leftovers.process_tags())
            stop_spark()
    seconds = time.monotonic() - started
    where = "" if args.verbose else f"; Dagster and Spark logs: {shown_path(log)}"
    if not result.success:
        print(f"trendfolio: daily_pipeline FAILED for {day} after {seconds:.0f} s at "
              f"{failures.run_failure(result.all_events)} (run {result.run_id}){where}", file=sys.stderr)
        return 1
    warnings = f", {lines.warnings} warning{'s' if lines.warnings != 1 else ''} above" if lines.warnings else ""
    print(f"daily_pipeline succeeded for {day} in {seconds:.0f} s (run {result.run_id}){warnings}.")
    for line in next_steps():
        args.say(line)
    if not args.verbose:
        args.say(f"Dagster and Spark logs: {shown_path(log)} (--verbose prints them)")
    return 0


def stop_spark() -> None:
    """Stop the run's SparkSession (if it started one) before the interpreter exits, so that py4j's shutdown does not
    log through handlers whose streams are gone."""
    if "pyspark" not in sys.modules:
        return
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


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
    args.say(f"estimate: {sessions} sessions, about {estimate_min:.0f} min on 2 cores (bench/RESULTS.md, benchmark 4); "
             "an interrupted backfill can be re-run over the same range")
    if args.dry_run:
        return 0
    check_settings()
    stack_lines = stack.up(args.external)
    for line in stack_lines if args.verbose else [stack_line(args.external)]:
        args.say(line)
    migrate(os.environ["DATABASE_URL"])
    log = run_log(f"{args.start}-{args.end}")
    with contextlib.nullcontext() if args.verbose else console.stderr_to(log):
        with DagsterInstance.get() as instance:
            pooled(instance)
            for line in clear_leftovers(instance):
                args.say(line)
            result = backfill(defs.resolve_job_def("daily_pipeline"), instance, args.start, args.end,
                              echo=args.progress)
        stop_spark()
    if result is None:
        return 0
    where = "" if args.verbose else f"; Dagster and Spark logs: {shown_path(log)}"
    if not result.success:
        print(f"trendfolio: backfill FAILED at {failures.run_failure(result.failures)} (run {result.run_id}); re-running the "
              f"same range is safe{where}", file=sys.stderr)
        return 1
    print(f"backfill succeeded (run {result.run_id}); re-running the same range rewrites the same rows.")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
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


def start_dagster(port: int, log_dir: Path | None = None) -> dict[str, "subprocess.Popen"]:
    """dagster-webserver on 127.0.0.1:`port` and dagster-daemon (it runs the queued runs), from the repository root
    (workspace.yaml); their output goes to the terminal, or to files in `log_dir`."""
    import subprocess

    bin_dir = Path(sys.executable).parent
    commands = {"daemon": [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                "webserver": [str(bin_dir / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1",
                              "-p", str(port)]}
    processes = {}
    for name, command in commands.items():
        output = open(log_dir / f"dagster-{name}.log", "ab") if log_dir else None
        processes[name] = subprocess.Popen(command, cwd=settings.REPO_ROOT, stdout=output,
                                           stderr=subprocess.STDOUT if output else None)
    return processes


def cmd_ui(args: argparse.Namespace) -> int:
    for line in stack.up(args.external):
        print(line)
    print(f"Dagster instance: {os.environ['DAGSTER_HOME']}/dagster.yaml (runs and events in PostgreSQL)")
    print(f"Dagster UI: http://127.0.0.1:{args.port}  (dagster-daemon runs the queued runs; Ctrl-C stops both)")
    processes = start_dagster(args.port)
    services.record("ui", f"http://127.0.0.1:{args.port}")
    try:
        return processes["webserver"].wait()
    finally:
        services.forget("ui")
        for process in processes.values():
            process.terminate()


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def cmd_airflow(args: argparse.Namespace) -> int:
    import signal

    from trendfolio.migrations import migrate
    from trendfolio_app import local_airflow

    running = services.running("airflow")
    if running:
        print(f"Airflow already runs at {running}; `trendfolio status` shows the services")
        return 0
    for line in stack.up(args.external):
        args.say(line)
    migrate(os.environ["DATABASE_URL"])
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the components as Ctrl-C does
    processes: dict = {}
    dagster_url = args.dagster_url or services.running("ui")
    try:
        if not dagster_url:
            log_dir = local_airflow.airflow_home() / "logs"
            log_dir.mkdir(parents=True, exist_ok=True)
            processes.update(start_dagster(args.dagster_port, log_dir))
            dagster_url = f"http://127.0.0.1:{args.dagster_port}"
            if not wait_for_port(args.dagster_port, timeout_s=300):
                raise stack.StackError(f"the Dagster UI did not open port {args.dagster_port}: see {log_dir}")
            services.record("ui", dagster_url, pid=processes["webserver"].pid)
            args.say(f"Dagster UI: {dagster_url}  (started for Airflow; logs in {log_dir})")
        airflow, api = local_airflow.start(args.port, dagster_url, args.say)
        processes.update(airflow)
        services.record("airflow", api)
        while all(process.poll() is None for process in processes.values()):
            time.sleep(1)
        name = next(name for name, process in processes.items() if process.poll() is not None)
        print(f"trendfolio airflow: {name} exited with {processes[name].returncode}; stopping the others",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        local_airflow.stop(processes)
        services.forget("airflow")
        if not args.dagster_url and "webserver" in processes:
            services.forget("ui")


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
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    services.record("api", f"http://{host}:{args.port}")
    try:
        uvicorn.run(create_app(api_database_url()), host=args.host, port=args.port, log_level="info")
    finally:
        services.forget("api")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trendfolio", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('trendfolio')}")
    output = argparse.ArgumentParser(add_help=False)
    loudness = output.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="print the stack's details and Dagster's and Spark's logs instead of a log file")
    loudness.add_argument("-q", "--quiet", action="store_true",
                          help="print only warnings, failures and the outcome")
    output.add_argument("--source", choices=SOURCES,
                        help="where the market data comes from (default: TRENDFOLIO_SOURCE, else synthetic)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("stack", help="start, stop or show the embedded PostgreSQL and Kafka broker")
    p.add_argument("action", choices=["up", "down", "status"],
                   help="up: start what is not external; down: stop; status: is the pipeline healthy")
    p.set_defaults(func=cmd_stack)
    p = sub.add_parser("status", help="is the pipeline healthy: services, schema, latest session per table, "
                                      "the last run's failed checks and dead letters")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("migrate", help="apply the SQL migrations in sql/")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser("run", parents=[output],
                       help="run daily_pipeline for one session (default: the latest completed one)")
    p.add_argument("--date", type=dt.date.fromisoformat, help="session date, YYYY-MM-DD")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("backfill", parents=[output],
                       help="run daily_pipeline for every session in [--start, --end] as one run")
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
    p.add_argument("--port", type=int, default=DEFAULT_UI_PORT,
                   help=f"the port of the Dagster UI on 127.0.0.1 (default {DEFAULT_UI_PORT})")
    p.set_defaults(func=cmd_ui)
    p = sub.add_parser("airflow", parents=[output],
                       help="start a local Airflow 3 running daily_pipeline_controller against the local Dagster")
    p.add_argument("--port", type=int, default=DEFAULT_AIRFLOW_PORT,
                   help=f"the port of Airflow's API server and UI on 127.0.0.1 (default {DEFAULT_AIRFLOW_PORT})")
    p.add_argument("--dagster-url", help="a Dagster webserver already running (default: the one `trendfolio ui` "
                                         "started, else one is started on --dagster-port)")
    p.add_argument("--dagster-port", type=int, default=DEFAULT_UI_PORT,
                   help=f"the port of the Dagster UI started for Airflow (default {DEFAULT_UI_PORT})")
    p.set_defaults(func=cmd_airflow)
    p = sub.add_parser("api", help="serve the read-only API (/docs) and the dashboard (/dashboard) on the local stack")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_API_PORT,
                   help=f"the port to listen on (default {DEFAULT_API_PORT})")
    p.set_defaults(func=cmd_api)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "source", None):
        os.environ["TRENDFOLIO_SOURCE"] = args.source
    args.verbose, args.quiet = getattr(args, "verbose", False), getattr(args, "quiet", False)
    if not args.verbose:
        console.silence_library_warnings()
    # --quiet keeps the warnings and failures of the progress lines, and the outcome.
    args.say = (lambda line: None) if args.quiet else print
    args.progress = (lambda line: print(line, flush=True)) if not args.quiet else (
        lambda line: [print(kept, flush=True) for kept in line.splitlines() if "warning:" in kept or "failed" in kept.lower()])
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
