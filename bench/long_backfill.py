"""Benchmark 4b. a long replay backfill as an operator runs it: `trendfolio backfill --start --end` in a fresh process,
on the replayed real data, against the bench's own stack, with the project's Dagster instance (dagster_home/: runs and
events in PostgreSQL, the `dagster` database of the bench's server), as the CLI uses it.

    uv run python -m bench.long_backfill [--start 2021-07-01 --end 2026-06-30]

Seconds per session is the marginal cost: (the range's wall time - a one-session backfill's) / (sessions - 1), both
timed the same way in the same run, so the fixed cost (imports, instance, Spark start) cancels out. Peak memory is
the sum over every process (the CLI, its Spark JVM, every PostgreSQL backend, the broker), sampled as bench/memory.py
does. The default range is the longest 5-year span the replay data supports with the holdings window inside it: the 15
ETFs' prices run 2018-06-19 (XLC's first day) .. 2026-07-01, the holdings snapshots 2021-07-09 .. 2022-08-25.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time

from bench.common import GIB, Outcome, PeakRss, Services, gib, run_main, seconds, service_pids, within
from trendfolio import calendar, settings

DEFAULT_START, DEFAULT_END = dt.date(2021, 7, 1), dt.date(2026, 6, 30)
SECONDS_PER_SESSION_TARGET = 0.08
MEMORY_TARGET_GIB = 2.5


def cli_environment(services: Services, database_url: str) -> dict[str, str]:
    port = database_url.rsplit(":", 1)[1].split("/")[0]
    dagster_url = settings.local_database_url(settings.DAGSTER_DATABASE, int(port))
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap_servers,
        "TRENDFOLIO_SOURCE": "replay",
        "TRENDFOLIO_HOME": str(services.root / "cli-home"),  # the CLI's run logs and last-error file
        "DAGSTER_HOME": str(settings.REPO_ROOT / "dagster_home"),
        "DAGSTER_PG_URL": dagster_url.replace("postgresql://", "postgresql+psycopg2://"),
    })
    return env


def timed_backfill(services: Services, start: dt.date, end: dt.date) -> tuple[float, int, int]:
    """(wall seconds, peak RSS sum, peak PSS sum) of `trendfolio backfill` over [start, end] on a fresh database."""
    url = services.new_database("bench_long")
    try:
        command = [sys.executable, "-m", "trendfolio_app.cli", "backfill", "--start", start.isoformat(),
                   "--end", end.isoformat(), "--quiet"]
        began = time.perf_counter()
        process = subprocess.Popen(command, env=cli_environment(services, url), cwd=settings.REPO_ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with PeakRss(root_pid=process.pid, extra_pids=service_pids(services)) as memory:
            output, _ = process.communicate()
        elapsed = time.perf_counter() - began
        if process.returncode != 0:
            raise RuntimeError(f"trendfolio backfill {start}..{end} failed ({process.returncode}): "
                               + " | ".join(output.strip().splitlines()[-5:]))
        return elapsed, memory.peak_rss, memory.peak_pss
    finally:
        services.drop_database(url)


def measure(services: Services, start: dt.date, end: dt.date) -> list[Outcome]:
    sessions = calendar.sessions_between(start, end)
    one, _, _ = timed_backfill(services, sessions[-1], sessions[-1])
    whole, peak_rss, peak_pss = timed_backfill(services, start, end)
    per_session = (whole - one) / (len(sessions) - 1)
    peak = peak_rss / GIB
    details = {f"{len(sessions)} sessions {sessions[0]} … {sessions[-1]}, one run": seconds(whole),
               f"one session ({sessions[-1]})": seconds(one),
               "whole run / sessions": f"{whole / len(sessions):.3f} s",
               "peak sum of RSS": gib(peak_rss), "peak sum of PSS (shared pages counted once)": gib(peak_pss)}
    notes = ["source: replay (../shared/marketdata); each backfill in a fresh process on a fresh database",
             "Dagster instance: dagster_home/ on the bench server's `dagster` database, as `trendfolio backfill` uses it"]
    return [
        Outcome("4b", "long backfill, seconds per session",
                "marginal seconds per session of `trendfolio backfill` over the range: (range wall time - one-session "
                "wall time) / (sessions - 1)",
                per_session, f"≤ {SECONDS_PER_SESSION_TARGET} s", within(per_session, SECONDS_PER_SESSION_TARGET),
                details, notes),
        Outcome("4b", "long backfill, peak memory",
                "peak resident memory of the range's backfill, summed over the CLI, its Spark JVM, every PostgreSQL "
                "backend and the broker; sampled every 0.25 s",
                peak, f"≤ {MEMORY_TARGET_GIB} GiB (sum of RSS)", within(peak, MEMORY_TARGET_GIB), details, notes),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=DEFAULT_START)
    parser.add_argument("--end", type=dt.date.fromisoformat, default=DEFAULT_END)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    arguments = parser.parse_args()
    run_main(lambda services: measure(services, arguments.start, arguments.end), record=not arguments.no_record)
