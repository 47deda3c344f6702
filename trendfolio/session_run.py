"""`daily_pipeline` for one session, shown as one line per asset while it runs and the warnings that matter in plain
words: checks that failed, rows quarantined as dead letters, tickers the source had nothing for."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Callable

from dagster import DagsterEventType, DagsterInstance, JobDefinition

from trendfolio.backfill import PROGRESS_EVENTS, ProgressPrinter
from trendfolio.failures import describe_check, names

def _value(metadata_value):
    return getattr(metadata_value, "value", metadata_value)


class AssetLines:
    """Turns a one-session run's events into a table: a header, then a line per asset as it finishes
    (`asset  started  seconds  rows written  rows stored for the session`), each followed by its warnings."""

    event_types = PROGRESS_EVENTS | {DagsterEventType.ASSET_CHECK_EVALUATION}

    def __init__(self, started: float, rows_stored: Callable[[str], int | None]):
        self.started = started
        self.rows_stored = rows_stored
        self.step_started: dict[str, float] = {}
        self.metadata: dict[str, dict] = {}
        self.failed_checks: dict[str, list[str]] = {}
        self.finished: set[str] = set()
        self.warnings = 0

    @staticmethod
    def header(day: dt.date) -> str:
        return f"  {'asset':36s} {'start':>7s} {'seconds':>8s} {'written':>8s} {f'rows for {day}':>20s}"

    def line(self, event) -> str | None:
        dagster_event = event.dagster_event
        step = dagster_event.step_key or ""
        kind = dagster_event.event_type
        if kind == DagsterEventType.STEP_START:
            self.step_started[step] = event.timestamp
            return None
        if kind == DagsterEventType.ASSET_MATERIALIZATION:
            metadata = dagster_event.event_specific_data.materialization.metadata
            self.metadata[step] = {key: _value(value) for key, value in metadata.items()}
            return None
        if kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = dagster_event.event_specific_data
            if not evaluation.passed:
                self.failed_checks.setdefault(step, []).append(describe_check(evaluation))
            return None
        self.finished.add(step)
        began = self.step_started.get(step, event.timestamp)
        timing = f"{began - self.started:6.1f}s {event.timestamp - began:7.1f}s"
        if kind == DagsterEventType.STEP_FAILURE:
            return f"  {step:36s} {timing}  failed (why: the last line)"
        metadata = self.metadata.get(step, {})
        written = metadata.get("rows_written", "")
        stored = self.rows_stored(step)
        lines = [f"  {step:36s} {timing} {written!s:>8s} {'' if stored is None else stored!s:>20s}"]
        lines += [f"    warning: {text}" for text in self.warnings_for(step, metadata)]
        return "\n".join(lines)

    def warnings_for(self, step: str, metadata: dict) -> list[str]:
        found = []
        dead = int(metadata.get("dead_letters_validation") or 0) + int(metadata.get("dead_letters_consumer") or 0)
        if dead:
            rules = {**(metadata.get("dead_letters_by_rule") or {}), **(metadata.get("dead_letters_consumer_by_rule") or {})}
            found.append(f"{dead} rows quarantined in ops_dead_letters ({names(f'{r}: {n}' for r, n in rules.items())})")
        missing = metadata.get("tickers_missing") or []
        if missing:
            found.append(f"no data from the source for {len(missing)} tickers: {names(missing)}")
        found += self.failed_checks.get(step, [])
        self.warnings += len(found)
        return found


def run_session(job: JobDefinition, instance: DagsterInstance, day: dt.date, rows_stored: Callable[[str], int | None],
                echo: Callable[[str], None], tags: dict[str, str] | None = None):
    """Run `job` for `day`'s partition in this process, echoing the asset lines as they come; returns the
    ExecuteInProcessResult and the AssetLines (which assets finished, how many warnings). Dagster's own console log
    goes to stderr as usual (the CLI sends it to a file unless --verbose)."""
    run_id = str(uuid.uuid4())  # known before the run starts, so the lines can follow it
    lines = AssetLines(time.time(), rows_stored)
    echo(lines.header(day))
    printer = ProgressPrinter(run_id, echo, progress=lines)
    printer.start()
    try:
        result = job.execute_in_process(partition_key=day.isoformat(),
                                        instance=instance, run_id=run_id, tags=tags, raise_on_error=False)
    finally:
        printer.finish()
    return result, lines
