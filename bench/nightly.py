"""Benchmarks 2, 3, 4 and 6 from one set of runs, each in a fresh process with a cold JVM:

- the nightly run: `daily_pipeline` for one session (NIGHT) with a year of history already in the tables;
- a bare start and stop of one Spark session (benchmark 2's yardstick);
- the same night's work as a plain pandas + psycopg script (bench/plain_night.py) on a copy of the same history,
  whose tables must equal the night's (benchmark 2b's yardstick);
- the same nightly run with ten years of history in the tables (benchmark 3);
- a 60-session backfill as one run, with a year of history before it (benchmark 4);
- peak memory of every process of the nightly run (benchmark 6).

`measure(services, which)` runs only what the chosen benchmarks need; `bench.run_all` runs them all and reuses the
nightly run for every ratio that has it as denominator.
"""

from __future__ import annotations

import os
import time

import psutil

from bench.common import GIB, Outcome, Services, gib, seconds, within
from bench.pipeline import (
    NIGHT, RELATIVE_TOLERANCE, SESSIONS_PER_YEAR, ChildRun, backfill_run, describe_history,
    night_against_plain_script, nightly_run, spark_start_stop,
)
from trendfolio import settings, stack

OVERHEAD_TARGET = 2.0
PLAIN_TARGET = 5.0
INCREMENTAL_TARGET = 1.1
BACKFILL_TARGET = 1.2  # the speed issue: "≤ 1.2 (keep)"
BACKFILL_SESSIONS = 60
MEMORY_TARGET_GIB = 3.0
NIGHTLY, PLAIN, INCREMENTAL, BACKFILL, MEMORY = 2, "2b", 3, 4, 6
CONNECT_NIGHTLY, CONNECT_PLAIN = "2c", "2d"  # benchmarks 2 and 2b with the stack's Spark Connect server


def source_note() -> str:
    source = os.environ.get("TRENDFOLIO_SOURCE", "synthetic")
    if source == "synthetic":
        return "source: synthetic (TRENDFOLIO_SOURCE=replay measures on the real data of ../shared/marketdata)"
    return f"source: {source}"


def tables_equal(differences: list[str], floats: int, inexact: int) -> str:
    """Benchmark 2b's comparison of the night's tables with the plain script's, in one cell."""
    if differences:
        return "no: " + "; ".join(differences[:5])
    return (f"yes ({floats:,} float cells, {inexact:,} of them not bit-identical, all within {RELATIVE_TOLERANCE:g} "
            "relative)")


def steps(run: ChildRun, prefix: str = "") -> dict[str, str]:
    """The run's step times (the first Spark step includes the session's start) and Spark's job metrics as detail
    rows: the profile that says where a run's time goes."""
    rows = {f"  {prefix}step {name}": duration for name, duration in run.steps.items()}
    if run.spark:
        rows[f"  {prefix}Spark jobs"] = (f"{run.spark['jobs']} jobs, {run.spark['tasks']} tasks, "
                                         f"{run.spark['job_seconds']} s in jobs")
        for rank, job in enumerate(run.spark["longest"], 1):
            rows[f"  {prefix}Spark job #{rank} by time"] = job
    return rows


def measure(services: Services, which: set[int]) -> list[Outcome]:
    outcomes = []
    # The yardstick is timed before and after the nightly run and averaged: one Spark start swings 2x with the load.
    spark_before = spark_start_stop(services) if NIGHTLY in which else None
    if PLAIN in which:
        night, plain, one_year, (differences, floats, inexact) = night_against_plain_script(services,
                                                                                           SESSIONS_PER_YEAR)
    else:
        night, one_year = nightly_run(services, SESSIONS_PER_YEAR)
    notes = [source_note(), f"one year of history before {NIGHT}: {describe_history(one_year)} rows",
             "each timed part runs in a fresh Python process (cold JVM); imports excluded on both sides"]
    if NIGHTLY in which:
        spark_after = spark_start_stop(services)
        spark_seconds = (spark_before.seconds + spark_after.seconds) / 2
        ratio = night.seconds / spark_seconds
        outcomes.append(Outcome(
            NIGHTLY, "nightly overhead",
            f"wall time of daily_pipeline for one session ({NIGHT}, default universe) against the bare start and "
            "stop of one Spark session, same run",
            ratio, f"≤ {OVERHEAD_TARGET} ×", within(ratio, OVERHEAD_TARGET),
            {"daily_pipeline, one session": seconds(night.seconds),
             "Spark start + stop (mean of before and after)": seconds(spark_seconds),
             "  before the nightly run": seconds(spark_before.seconds),
             "  after the nightly run": seconds(spark_after.seconds), **steps(night)},
            notes,
        ))
    if PLAIN in which:
        # Equal tables or no figure: a script that skipped part of the night would make any ratio look good.
        ratio = None if differences else night.seconds / plain.seconds
        outcomes.append(Outcome(
            PLAIN, "nightly run against a plain script",
            f"wall time of daily_pipeline for one session ({NIGHT}) against bench/plain_night.py doing the same "
            "session's work in one process with pandas and psycopg (collect, validate, upsert; analytics_03, _05, "
            "_07, _08; COPY), each on its own copy of the same history; every pipeline table of the two must be "
            "equal afterwards",
            ratio, f"≤ {PLAIN_TARGET} ×", None if ratio is None and not differences else
            (False if differences else within(ratio, PLAIN_TARGET)),
            {"daily_pipeline, one session": seconds(night.seconds),
             "plain pandas + psycopg script, same session": seconds(plain.seconds),
             "tables equal": tables_equal(differences, floats, inexact)},
            notes,
        ))
    if INCREMENTAL in which:
        # In ABBA order (1 year, 10 years, 10 years, 1 year), so that a load that rises or falls during the
        # benchmark weighs on both sides alike.
        decade, ten_years = nightly_run(services, 10 * SESSIONS_PER_YEAR)
        decade_again, _ = nightly_run(services, 10 * SESSIONS_PER_YEAR)
        night_again, _ = nightly_run(services, SESSIONS_PER_YEAR)
        ratio = (decade.seconds + decade_again.seconds) / (night.seconds + night_again.seconds)
        outcomes.append(Outcome(
            INCREMENTAL, "incremental cost",
            "the same one-session run with 10 years of history in the tables against 1 year, same run, each twice "
            "in ABBA order; the ratio of the sums",
            ratio, f"≤ {INCREMENTAL_TARGET} ×", within(ratio, INCREMENTAL_TARGET),
            {"one session, 10 years of history": f"{seconds(decade.seconds)}, {seconds(decade_again.seconds)}",
             "one session, 1 year of history": f"{seconds(night.seconds)}, {seconds(night_again.seconds)}",
             **steps(night, "1 year: "), **steps(decade, "10 years: ")},
            notes + [f"ten years: {describe_history(ten_years)} rows"],
        ))
    if BACKFILL in which:
        backfill, _ = backfill_run(services, BACKFILL_SESSIONS, SESSIONS_PER_YEAR)
        ratio = backfill.seconds / night.seconds
        outcomes.append(Outcome(
            BACKFILL, "backfill amortization",
            f"a {BACKFILL_SESSIONS}-session backfill (one run, partition-range tags) against a one-session run",
            ratio, f"≤ {BACKFILL_TARGET} ×", within(ratio, BACKFILL_TARGET),
            {f"{BACKFILL_SESSIONS} sessions, one run": seconds(backfill.seconds),
             "one session": seconds(night.seconds), **steps(backfill, f"{BACKFILL_SESSIONS} sessions: ")},
            notes[:1] + ["the backfill runs through the job's partition-range tags (what a single-run backfill "
                         "launches, as `trendfolio backfill --start --end` does)"],
        ))
    if MEMORY in which:
        peak = night.peak_rss / GIB
        outcomes.append(Outcome(
            MEMORY, "memory",
            "peak resident memory of the nightly run, summed over every process: the Python driver and its "
            "descendants (the Spark JVM), the embedded PostgreSQL (all backends) and the broker; sampled every 0.25 s",
            peak, f"≤ {MEMORY_TARGET_GIB} GiB (sum of RSS)", within(peak, MEMORY_TARGET_GIB),
            {"peak sum of RSS": gib(night.peak_rss),
             "peak sum of PSS (shared pages counted once)": gib(night.peak_pss),
             "run time": seconds(night.seconds)},
            notes[:1] + ["RSS counts PostgreSQL's shared buffers once per backend: the RSS sum overstates, PSS is "
                         "the memory actually taken"],
        ))
    return outcomes



def measure_connect(services: Services) -> list[Outcome]:
    """Benchmarks 2 and 2b with a Spark Connect server started with the stack (TRENDFOLIO_SPARK_CONNECT): the server's
    start is the stack's cost, timed and reported apart like PostgreSQL's. The first night on a fresh server pays its
    cold JIT and Python workers; the measured night is the next one, since every night after the first runs on a
    stack that stays up. The yardstick is still a bare Spark start in local mode, timed before and after."""
    began = time.perf_counter()
    with stack.private_spark_connect(services.root) as server:
        server_start = time.perf_counter() - began
        server_idle_rss = psutil.Process(server.pid()).memory_info().rss
        connect = {settings.SPARK_CONNECT_VARIABLE: server.url()}
        spark_before = spark_start_stop(services)
        first, _ = nightly_run(services, SESSIONS_PER_YEAR, settings_=connect)
        night, plain, one_year, (differences, floats, inexact) = night_against_plain_script(
            services, SESSIONS_PER_YEAR, connect)
        spark_after = spark_start_stop(services)
        server_rss = psutil.Process(server.pid()).memory_info().rss
    spark_seconds = (spark_before.seconds + spark_after.seconds) / 2
    ratio = night.seconds / spark_seconds
    notes = [source_note(), f"one year of history before {NIGHT}: {describe_history(one_year)} rows",
             "each night runs in a fresh Python process against the Spark Connect server started once before them; "
             "the bare Spark start in a fresh process (cold JVM, local mode); imports excluded on both sides"]
    server_rows = {
        "Spark Connect server start (the stack's, not the night's)": seconds(server_start),
        "Spark Connect server RSS: idle after its start / after the nights": f"{gib(server_idle_rss)} / {gib(server_rss)}",
        "first night after the server's start (cold server)": seconds(first.seconds),
        **steps(first, "first night: "),
    }
    outcomes = [Outcome(
        CONNECT_NIGHTLY, "nightly overhead with the stack's Spark Connect server",
        f"wall time of daily_pipeline for one session ({NIGHT}) through a Spark Connect server already up and past "
        "its first night, against the bare start and stop of one local Spark session, same run",
        ratio, f"≤ {OVERHEAD_TARGET} ×", within(ratio, OVERHEAD_TARGET),
        {"daily_pipeline, one session, through Spark Connect": seconds(night.seconds),
         "Spark start + stop, local mode (mean of before and after)": seconds(spark_seconds),
         "  before the nights": seconds(spark_before.seconds), "  after the nights": seconds(spark_after.seconds),
         **steps(night), **server_rows},
        notes,
    )]
    plain_ratio = None if differences else night.seconds / plain.seconds
    outcomes.append(Outcome(
        CONNECT_PLAIN, "nightly run with the stack's Spark Connect server against a plain script",
        f"the night of {CONNECT_NIGHTLY} against bench/plain_night.py doing the same session's work, each on its own "
        "copy of the same history; every pipeline table of the two must be equal afterwards",
        plain_ratio, f"≤ {PLAIN_TARGET} ×", False if differences else within(plain_ratio, PLAIN_TARGET),
        {"daily_pipeline, one session, through Spark Connect": seconds(night.seconds),
         "plain pandas + psycopg script, same session": seconds(plain.seconds),
         "tables equal": tables_equal(differences, floats, inexact)},
        notes,
    ))
    return outcomes
