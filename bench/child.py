"""What a benchmark times in a fresh Python process, so that every measurement starts with a cold JVM like a nightly
run does. Prints one JSON line: {"seconds": …} for the timed part only (imports excluded on both sides).

    python -m bench.child spark
    python -m bench.child pipeline --start 2026-11-25 --end 2026-11-25
    python -m bench.child plain-night --start 2026-11-25   (benchmark 2b's script, bench/plain_night.py)
    python -m bench.child analytics-spark --etfs 200 --stocks 5000 --years 10   (or analytics-pandas)

The pipeline is the `daily_pipeline` job of the code location (trendfolio_app.definitions), configured from the
environment (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, TRENDFOLIO_SOURCE, SPARK_MASTER_URL) exactly as `trendfolio run`
is; a range of sessions runs as one run through the partition-range tags, as a single-run backfill does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
import urllib.request


def time_spark_start_stop() -> float:
    from resources import SparkResource

    began = time.perf_counter()
    session = SparkResource(master_url=os.environ.get("SPARK_MASTER_URL", "local[2]")).session()
    session.stop()
    return time.perf_counter() - began


def pipeline_run_tags(start: str, end: str) -> dict[str, str]:
    """One session runs as its partition; a range as one run over the range (the single-run backfill's tags)."""
    if start == end:
        return {}
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}


def spark_jobs_summary() -> dict:
    """Spark's own metrics for the jobs the run left in the process's session (from its UI's REST API): how many jobs,
    the sum of their durations, and the longest ones with what started them."""
    from pyspark.sql import SparkSession
    from pyspark.sql.utils import is_remote

    if is_remote():  # a Spark Connect server's jobs are not the client's to list (its UI is off)
        return {}
    session = SparkSession.getActiveSession()
    if session is None or not session.sparkContext.uiWebUrl:
        return {}
    context = session.sparkContext
    url = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/jobs"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            jobs = json.load(response)
    except OSError as error:  # the UI did not answer on a loaded machine: the timed run itself still counts
        return {"jobs": "?", "tasks": "?", "job_seconds": f"? (Spark UI: {error})", "longest": []}

    def seconds(job: dict) -> float:
        parse = lambda stamp: dt.datetime.strptime(stamp.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
        return (parse(job["completionTime"]) - parse(job["submissionTime"])).total_seconds() \
            if job.get("completionTime") else 0.0

    timed = sorted(((seconds(job), job.get("name", "")[:80]) for job in jobs), reverse=True)
    return {"jobs": len(jobs), "job_seconds": round(sum(t for t, _ in timed), 2),
            "tasks": sum(job.get("numTasks", 0) for job in jobs),
            "longest": [f"{t:.1f} s {name}" for t, name in timed[:5]]}


def time_pipeline(start: str, end: str) -> float:
    from dagster import DagsterInstance

    from trendfolio_app.definitions import defs

    job = defs.resolve_job_def("daily_pipeline")
    began = time.perf_counter()
    result = job.execute_in_process(
        partition_key=start if start == end else None, tags=pipeline_run_tags(start, end),
        instance=DagsterInstance.ephemeral(), raise_on_error=True,
    )
    elapsed = time.perf_counter() - began
    if not result.success:
        raise SystemExit(f"daily_pipeline failed for {start}..{end}")
    return elapsed, spark_jobs_summary()


def time_plain_night(day: str) -> float:
    from bench.plain_night import night
    from trendfolio_app.definitions import defs

    # The source and universe the night's resource makes from the same environment.
    market_data = defs.resources["market_data"].process_config_and_initialize()
    began = time.perf_counter()
    night(os.environ["DATABASE_URL"], dt.date.fromisoformat(day), market_data.client(), market_data.universe())
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["spark", "pipeline", "plain-night", "analytics-spark", "analytics-pandas"])
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--etfs", type=int)
    parser.add_argument("--stocks", type=int)
    parser.add_argument("--years", type=int)
    args = parser.parse_args()
    spark = {}
    if args.what == "spark":
        seconds = time_spark_start_stop()
    elif args.what == "pipeline":
        seconds, spark = time_pipeline(args.start, args.end)
    elif args.what == "plain-night":
        seconds = time_plain_night(args.start)
    else:
        from bench import analytics_scale

        timed = analytics_scale.time_spark if args.what == "analytics-spark" else analytics_scale.time_pandas
        seconds = timed(args.etfs, args.stocks, args.years)
    print(json.dumps({"seconds": seconds, "spark": spark}), flush=True)


if __name__ == "__main__":
    main()
