"""A range of sessions as one Dagster run, with a progress display read from the run's event log.

One run for the whole range: every asset has `BackfillPolicy.single_run()` and reads its partition range, so the
collection assets fetch the range in one batch and both Spark assets share one SparkSession. The run is recorded in the
instance (PostgreSQL through dagster-postgres) like any other, tagged with the range.

The run goes through the instance event by event (`execute_streaming`) instead of `execute_in_process`, whose result
keeps every event of the run in memory: a 5-year range is ≈ 1,250 partitions × 7 assets of materializations and checks.
Only the failure events are kept; the progress display reads the event log, as the Dagster UI does.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRunStatus, JobDefinition
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import create_execution_plan, execute_run_iterator

from trendfolio import calendar
from trendfolio.failures import is_failure_event
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
        self.materialized: dict[str, int] = {}  # step → partitions materialized so far
        self.last_metadata: dict[str, dict] = {}  # step → its latest materialization's metadata

    def line(self, event) -> str | None:
        elapsed = f"{event.timestamp - self.started:7.1f}s"
        dagster_event = event.dagster_event
        step = dagster_event.step_key or ""
        kind = dagster_event.event_type
        if kind == DagsterEventType.ASSET_MATERIALIZATION:
            self.materialized[step] = self.materialized.get(step, 0) + 1
            self.last_metadata[step] = dagster_event.event_specific_data.materialization.metadata
            return None
        if kind == DagsterEventType.STEP_START:
            return f"{elapsed}  {step:36s} started"
        if kind == DagsterEventType.STEP_FAILURE:
            error = dagster_event.event_specific_data.error
            return f"{elapsed}  {step:36s} FAILED: {error.message.strip() if error else 'see the event log'}"
        # Every partition's materialization carries the run's metadata (one write for the whole range): show it once.
        metadata = self.last_metadata.get(step, {})
        shown = ", ".join(f"{k}={metadata[k].value}" for k in SHOWN_METADATA if k in metadata)
        return f"{elapsed}  {step:36s} succeeded: {self.materialized.get(step, 0)} partitions materialized  {shown}"


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


@dataclass
class StreamedRun:
    """What a streamed run leaves in memory: its id, whether it succeeded, and its failure events (for the one line
    that says why: trendfolio.failures.run_failure)."""

    run_id: str
    success: bool
    failures: list[DagsterEvent] = field(default_factory=list)


def execute_streaming(job: JobDefinition, instance: DagsterInstance, run_id: str, tags: dict[str, str],
                      run_config: dict | None = None) -> StreamedRun:
    """`job` in this process on the in-process executor, as `execute_in_process` runs it, recorded in `instance`, its
    events written to the instance's event log as they come and then dropped, except the failures."""
    in_process = InMemoryJob(job.as_ephemeral_job(resource_defs={}, input_values={}))
    definition = in_process.get_definition()
    plan = create_execution_plan(in_process, run_config=run_config or {},
                                 instance_ref=instance.get_ref() if instance.is_persistent else None)
    run = instance.create_run_for_job(job_def=definition, execution_plan=plan, run_id=run_id,
                                      run_config=run_config or {}, tags={**definition.run_tags, **tags})
    failures = [event for event in execute_run_iterator(in_process, run, instance) if is_failure_event(event)]
    finished = instance.get_run_by_id(run_id)
    return StreamedRun(run_id, finished is not None and finished.status == DagsterRunStatus.SUCCESS, failures)


def backfill(job: JobDefinition, instance: DagsterInstance, start: dt.date, end: dt.date,
             echo: Callable[[str], None] = print):
    """Run `job` once for the sessions in [start, end]; returns the StreamedRun, or None for no session."""
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
        return execute_streaming(job, instance, run_id, {**range_tags(sessions), **process_tags()}, QUIET_CONSOLE)
    finally:
        progress.finish()
