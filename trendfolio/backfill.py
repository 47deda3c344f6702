"""A range of sessions as one Dagster run, with a progress display read from the run's event log.

One run for the whole range: every asset has `BackfillPolicy.single_run()` and reads its partition range, so the
collection assets fetch the range in one batch and both Spark assets share one SparkSession. The run is recorded in the
instance (PostgreSQL through dagster-postgres) like any other, tagged with the range.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from typing import Callable

from dagster import DagsterEventType, DagsterInstance, JobDefinition

from trendfolio import calendar
from trendfolio.leftovers import process_tags

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PROGRESS_EVENTS = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE,
                   DagsterEventType.ASSET_MATERIALIZATION}
SHOWN_METADATA = ("rows_written", "dead_letters_validation", "dead_letters_consumer", "spark_seconds")
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the progress lines replace it


def range_tags(sessions: list[dt.date]) -> dict[str, str]:
    return {RANGE_START_TAG: sessions[0].isoformat(), RANGE_END_TAG: sessions[-1].isoformat()}


class Progress:
    """Turns the run's step events into lines, e.g. `  41.2s  analytics_03_trending_etfs  succeeded: 7 partitions …`.
    A range run records one materialization per partition: they are summed up on the step's success line."""

    event_types = PROGRESS_EVENTS

    def __init__(self, started: float):
        self.started = started
        self.materialized: dict[str, list] = {}

    def line(self, event) -> str | None:
        elapsed = f"{event.timestamp - self.started:7.1f}s"
        dagster_event = event.dagster_event
        step = dagster_event.step_key or ""
        kind = dagster_event.event_type
        if kind == DagsterEventType.ASSET_MATERIALIZATION:
            self.materialized.setdefault(step, []).append(dagster_event.event_specific_data.materialization.metadata)
            return None
        if kind == DagsterEventType.STEP_START:
            return f"{elapsed}  {step:36s} started"
        if kind == DagsterEventType.STEP_FAILURE:
            error = dagster_event.event_specific_data.error
            return f"{elapsed}  {step:36s} FAILED: {error.message.strip() if error else 'see the event log'}"
        materializations = self.materialized.get(step, [])
        # Every partition's materialization carries the run's metadata (one write for the whole range): show it once.
        shown = ", ".join(f"{k}={materializations[-1][k].value}" for k in SHOWN_METADATA
                          if materializations and k in materializations[-1])
        return f"{elapsed}  {step:36s} succeeded: {len(materializations)} partitions materialized  {shown}"


class ProgressPrinter(threading.Thread):
    """Polls the run's event log (its own instance: the run's one may be busy) and prints progress lines: those of
    `progress` (an object with `line(event)` and the `event_types` it reads), by default a backfill's `Progress`."""

    def __init__(self, run_id: str, echo: Callable[[str], None], interval_s: float = 1.0, progress=None):
        super().__init__(daemon=True)
        self.run_id, self.echo, self.interval_s = run_id, echo, interval_s
        self.progress = progress or Progress(time.time())
        self.cursor: str | None = None
        self.done = threading.Event()

    def poll(self, instance: DagsterInstance) -> None:
        while True:
            connection = instance.get_records_for_run(self.run_id, cursor=self.cursor,
                                                      of_type=self.progress.event_types,
                                                      limit=100)
            for record in connection.records:
                line = self.progress.line(record.event_log_entry)
                if line:
                    self.echo(line)
            self.cursor = connection.cursor
            if not connection.has_more:
                return

    def run(self) -> None:
        with DagsterInstance.get() as instance:
            while not self.done.wait(self.interval_s):
                self.poll(instance)
            self.poll(instance)  # what arrived after the last tick

    def finish(self) -> None:
        self.done.set()
        self.join()


def backfill(job: JobDefinition, instance: DagsterInstance, start: dt.date, end: dt.date,
             echo: Callable[[str], None] = print):
    """Run `job` once for the sessions in [start, end]; returns the ExecuteInProcessResult, or None for no session."""
    sessions = calendar.sessions_between(start, end)
    if not sessions:
        echo(f"no NYSE session between {start} and {end}: nothing to run")
        return None
    run_id = str(uuid.uuid4())  # known before the run starts, so the progress display can follow it
    echo(f"backfilling {len(sessions)} sessions {sessions[0]} … {sessions[-1]} as one run of {job.name} "
         f"(run {run_id})")
    progress = ProgressPrinter(run_id, echo)
    progress.start()
    try:
        return job.execute_in_process(run_config=QUIET_CONSOLE, instance=instance, run_id=run_id,
                                      tags={**range_tags(sessions), **process_tags()}, raise_on_error=False)
    finally:
        progress.finish()
