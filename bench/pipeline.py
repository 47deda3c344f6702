"""The nightly-run measurements shared by benchmarks 2, 3, 4 and 6: tables pre-loaded with history, the pipeline and a
bare Spark start timed in fresh processes, peak memory sampled over every process of the run.

One measured night is the session `NIGHT`; the tables hold the synthetic market's history up to the session before
(what earlier nights would have left), so the run does what a steady-state nightly run does: fetch the trailing
window, compute, write one session.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import psycopg

from bench.common import PeakRss, Services, copy_frame, service_pids
from trendfolio import calendar, settings
from trendfolio.tables import ANALYTICS, COLLECTED, TABLES
from trendfolio.analytics.allocation import PORTFOLIO_HORIZONS
from trendfolio.sources.synthetic import SyntheticSource
from trendfolio.universe import ALL_ETFS, BENCHMARK, HOLDINGS_PER_ETF, HOLDINGS_PER_ETF_VARIABLE, SECTOR_ETFS, etf_role

NIGHT = dt.date(2026, 11, 25)
SESSIONS_PER_YEAR = 252
SOURCE = "synthetic"


def sessions_before(day: dt.date, count: int) -> list[dt.date]:
    """The `count` sessions that end the session before `day`."""
    return calendar.previous_sessions(day, count + 1)[:-1]


# --- history in the tables ---------------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _holdings(etf: str, year: int, month: int, holdings_per_etf: int) -> pd.DataFrame:
    # weights change by month only
    return SyntheticSource(top_n=holdings_per_etf).etf_holdings(etf, dt.date(year, month, 1))


def synthetic_stocks(holdings_per_etf: int) -> list[str]:
    """Every stock any synthetic ETF lists at `holdings_per_etf` holdings per ETF."""
    month = dt.date(2026, 1, 1)  # the members do not change with the date, only their weights
    return sorted({stock for etf in ALL_ETFS for stock in _holdings(etf, month.year, month.month,
                                                                     holdings_per_etf).holding_ticker})


def history_frames(first: dt.date, last: dt.date, holdings_per_etf: int = HOLDINGS_PER_ETF) -> dict[str, pd.DataFrame]:
    """Every table's rows for the sessions [first, last] as earlier nights would have left them: the synthetic
    source's prices, trending = 20-session excess return over SPY > 0 (the skeleton rule), the trending ETFs' holdings
    and an equal-weight portfolio of them per horizon."""
    source = SyntheticSource()
    etfs = source.daily_ohlc(list(ALL_ETFS), first, last)
    etfs = etfs.assign(etf_role=etfs["ticker"].map(etf_role), source=SOURCE)
    stocks = source.daily_ohlc(synthetic_stocks(holdings_per_etf), first, last).assign(source=SOURCE)

    closes = etfs.pivot(index="trade_date", columns="ticker", values="adj_close")
    excess_20 = (closes / closes.shift(20) - 1).sub(closes[BENCHMARK] / closes[BENCHMARK].shift(20) - 1, axis=0)
    excess = excess_20.stack(future_stack=True).rename("excess_20").reset_index()
    trend = etfs[["trade_date", "ticker", "etf_role", "adj_close"]].merge(excess, on=["trade_date", "ticker"])
    trend = trend.rename(columns={"trade_date": "session_date"}).assign(
        is_trending=lambda t: (t.etf_role == "sector") & (t.excess_20 > 0), rule="excess_20>0", source=SOURCE)
    trend["selection"] = trend.is_trending.map({True: "trending", False: "not_top_n"}).where(
        trend.etf_role == "sector", "benchmark")  # migration 003's NOT NULL column: why a row is (not) trending

    leaders = trend.loc[trend.is_trending, ["session_date", "ticker"]].rename(columns={"ticker": "etf_ticker"})
    leaders = leaders.assign(year=[d.year for d in leaders.session_date], month=[d.month for d in leaders.session_date])
    lists = pd.concat([_holdings(etf, year, month, holdings_per_etf).assign(year=year, month=month)
                       for etf, year, month in leaders[["etf_ticker", "year", "month"]].drop_duplicates()
                       .itertuples(index=False)], ignore_index=True)
    holdings = leaders.merge(lists, on=["etf_ticker", "year", "month"]).drop(columns=["year", "month"])
    holdings = holdings.rename(columns={"session_date": "as_of_date"}).assign(source=SOURCE)
    universe = (holdings.sort_values("etf_ticker").groupby(["as_of_date", "holding_ticker"])["etf_ticker"]
                .agg(",".join).rename("source_etfs").reset_index())
    universe["weight"] = 1.0 / universe.groupby("as_of_date")["holding_ticker"].transform("count")
    universe = universe.rename(columns={"as_of_date": "session_date", "holding_ticker": "ticker"})
    portfolio = universe.merge(pd.DataFrame({"horizon": PORTFOLIO_HORIZONS}), how="cross").assign(
        method="equal_weight", prices_as_of=lambda p: p.session_date, holdings_as_of=lambda p: p.session_date,
        source=SOURCE)
    return {
        "collected_01_daily_etf_ohlc": etfs,
        "collected_06_daily_stock_history": stocks,
        "analytics_03_trending_etfs": trend,
        "collected_04_etf_holdings": holdings,
        "analytics_05_portfolio_allocation": portfolio,
    }


def preload_history(database_url: str, first: dt.date, last: dt.date, checkpoint_url: str,
                    holdings_per_etf: int = HOLDINGS_PER_ETF) -> dict[str, int]:
    """COPY the history into the (empty, migrated) tables, VACUUM ANALYZE them and CHECKPOINT, so that the measured
    run finds them as a steady-state database would (not writing hint bits or flushing the load's WAL); returns the
    rows per table. CHECKPOINT is the server's: `checkpoint_url` names a role allowed to run it (the warehouse owner is
    not a superuser)."""
    counts = {}
    for table, frame in history_frames(first, last, holdings_per_etf).items():
        copy_frame(database_url, table, frame)
        counts[table] = len(frame)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in counts:
            conn.execute(f"VACUUM ANALYZE {table}")
    with psycopg.connect(checkpoint_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    return counts


def database_with_history(services: Services, before: dt.date, sessions: int,
                          holdings_per_etf: int = HOLDINGS_PER_ETF) -> tuple[str, dict[str, int]]:
    url = services.new_database("bench_night")
    first, last = sessions_before(before, sessions)[0], sessions_before(before, 1)[0]
    return url, preload_history(url, first, last, services.superuser_url(), holdings_per_etf)


# --- timed runs in fresh processes -------------------------------------------------------------------------------
@dataclass
class ChildRun:
    seconds: float  # the timed part, as the child measured it
    peak_rss: int  # bytes: the child, its JVM and every other descendant, plus the embedded PostgreSQL and broker
    peak_pss: int  # the same processes' proportional set size: shared pages (PostgreSQL's buffers) counted once
    steps: dict[str, str] = field(default_factory=dict)  # Dagster's own time per step, from the run's event log
    spark: dict = field(default_factory=dict)  # Spark's own job metrics for the run (bench.child.spark_jobs_summary)


STEP_FINISHED = re.compile(r'Finished execution of step "(\w+)" in ([0-9.]+(?:ms|s)|[0-9hms]+)')


def step_times(log_text: str) -> dict[str, str]:
    """Each step's duration as Dagster logged it (STEP_SUCCESS), in run order."""
    return {step: duration for step, duration in STEP_FINISHED.findall(log_text)}


def child_environment(services: Services, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap_servers,
        "TRENDFOLIO_SOURCE": os.environ.get("TRENDFOLIO_SOURCE", SOURCE),
        "SPARK_MASTER_URL": os.environ.get("SPARK_MASTER_URL", "local[2]"),
        "DAGSTER_HOME": str(services.root / "dagster_home"),
    })
    os.makedirs(env["DAGSTER_HOME"], exist_ok=True)
    return env


def run_child(services: Services, database_url: str, *args: str, with_services: bool = True,
              settings_: dict[str, str] | None = None) -> ChildRun:
    """`python -m bench.child ARGS` with the bench's stack (and the settings `settings_` adds to its environment);
    memory sampled over its whole process tree, plus the embedded PostgreSQL and broker when `with_services`."""
    log_path = services.root / f"child-{args[0]}-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.child", *args], env={**child_environment(services, database_url), **(settings_ or {})},
            cwd=settings.REPO_ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
        )
        with PeakRss(root_pid=process.pid, extra_pids=service_pids(services) if with_services else ()) as memory:
            output, _ = process.communicate()
    if process.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"bench.child {' '.join(args)} failed with exit code {process.returncode}:\n{tail}")
    result = json.loads(output.strip().splitlines()[-1])
    steps = step_times(log_path.read_text(errors="replace"))
    return ChildRun(result["seconds"], memory.peak_rss, memory.peak_pss, steps, result.get("spark", {}))


def spark_start_stop(services: Services) -> ChildRun:
    return run_child(services, services.admin_url, "spark")


def pipeline_run(services: Services, database_url: str, start: dt.date, end: dt.date,
                 settings_: dict[str, str] | None = None) -> ChildRun:
    return run_child(services, database_url, "pipeline", "--start", start.isoformat(), "--end", end.isoformat(),
                     settings_=settings_)


def nightly_run(services: Services, history_sessions: int, holdings_per_etf: int = HOLDINGS_PER_ETF,
                settings_: dict[str, str] | None = None) -> tuple[ChildRun, dict[str, int]]:
    """One session (NIGHT) on tables that hold `history_sessions` sessions before it, `holdings_per_etf` holdings per
    ETF in the history and the run (with the settings `settings_` adds)."""
    url, counts = database_with_history(services, NIGHT, history_sessions, holdings_per_etf)
    try:
        return pipeline_run(services, url, NIGHT, NIGHT,
                            {HOLDINGS_PER_ETF_VARIABLE: str(holdings_per_etf), **(settings_ or {})}), counts
    finally:
        services.drop_database(url)


def backfill_run(services: Services, sessions: int, history_sessions: int) -> tuple[ChildRun, dict[str, int]]:
    """The `sessions` sessions ending at NIGHT as one run, on tables that hold `history_sessions` before them."""
    window = calendar.previous_sessions(NIGHT, sessions)
    url, counts = database_with_history(services, window[0], history_sessions)
    try:
        return pipeline_run(services, url, window[0], window[-1]), counts
    finally:
        services.drop_database(url)


def describe_history(counts: dict[str, int]) -> str:
    return ", ".join(f"{table.split('_', 2)[2]} {rows:,}" for table, rows in counts.items())


def plain_night_run(services: Services, database_url: str) -> ChildRun:
    """Benchmark 2b's yardstick: NIGHT's work as a plain pandas + psycopg script (bench/plain_night.py)."""
    return run_child(services, database_url, "plain-night", "--start", NIGHT.isoformat())


# Spark and the script may add the same numbers in a different order (a sum over a group): the last bits can differ.
RELATIVE_TOLERANCE = 1e-12


def table_differences(expected_url: str, actual_url: str) -> tuple[list[str], int, int]:
    """Every pipeline table (collected and analytics) of two databases compared row by row on all its columns but the
    load times: (the differences found, the number of float cells compared, how many of them differ in any bit)."""
    differences, floats, inexact = [], 0, 0
    for table in (t for t in TABLES if t.kind in (COLLECTED, ANALYTICS)):
        sql = f"SELECT {', '.join(table.columns)} FROM {table.name} ORDER BY {', '.join(table.key)}"
        frames = []
        for url in (expected_url, actual_url):
            with psycopg.connect(url) as conn:
                cursor = conn.execute(sql)
                frames.append(pd.DataFrame(cursor.fetchall(), columns=table.columns))
        expected, actual = frames
        if len(expected) != len(actual) or not expected[list(table.key)].equals(actual[list(table.key)]):
            keys = lambda frame: set(map(tuple, frame[list(table.key)].astype(str).to_numpy()))
            only = sorted(keys(expected) ^ keys(actual))[:3]
            differences.append(f"{table.name}: {len(expected)} rows against {len(actual)}, e.g. keys {only}")
            continue
        for column in table.columns:
            a, b = expected[column], actual[column]
            numeric = pd.api.types.is_float_dtype(a) or any(isinstance(v, float) for v in a.dropna()[:1])
            if numeric:
                a, b = a.astype(float).to_numpy(), b.astype(float).to_numpy()
                same = np.isclose(a, b, rtol=RELATIVE_TOLERANCE, atol=0.0, equal_nan=True)
                floats += int((~np.isnan(a)).sum())
                inexact += int((~((a == b) | (np.isnan(a) & np.isnan(b)))).sum())
            else:
                same = (a.isna() & b.isna()) | (a == b)
            if not same.all():
                where = int(np.flatnonzero(~np.asarray(same))[0])
                differences.append(f"{table.name}.{column}: {int((~np.asarray(same)).sum())} rows differ, e.g. "
                                   f"{dict(expected.loc[where, list(table.key)])}: {a[where]!r} against {b[where]!r}")
    return differences, floats, inexact


def night_against_plain_script(services: Services, history_sessions: int, settings_: dict[str, str] | None = None,
                               ) -> tuple[ChildRun, ChildRun, dict, tuple]:
    """NIGHT run by the pipeline (with the settings `settings_` adds) and by the plain script, each on its own copy of
    the same history, then every pipeline table of the two compared (`table_differences`)."""
    night_url, counts = database_with_history(services, NIGHT, history_sessions)
    plain_url, _ = database_with_history(services, NIGHT, history_sessions)
    try:
        night = pipeline_run(services, night_url, NIGHT, NIGHT, settings_)
        plain = plain_night_run(services, plain_url)
        return night, plain, counts, table_differences(night_url, plain_url)
    finally:
        services.drop_database(night_url)
        services.drop_database(plain_url)
