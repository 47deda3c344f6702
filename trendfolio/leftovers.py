"""What a killed run leaves behind, found and cleared by the next command: its Dagster run still STARTED, and its
staging tables (`trendfolio.warehouse.drop_orphan_staging_tables`).

A run the CLI starts carries the host, pid and the process's start time as tags; a STARTED run whose process is gone
on this host (no such pid, or a pid reused by a process started at another time) is marked failed. A run of another
host, or one without the tags (launched by the Dagster daemon, whose own run monitoring covers it), is left alone.
"""

from __future__ import annotations

import os
import socket

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from trendfolio.processes import process_start
from trendfolio.warehouse import drop_orphan_staging_tables

HOST_TAG, PID_TAG, PROCESS_START_TAG = "trendfolio/host", "trendfolio/pid", "trendfolio/process_start"


def process_tags() -> dict[str, str]:
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), PROCESS_START_TAG: process_start(pid) or ""}


def process_is_gone(tags: dict[str, str]) -> bool:
    """Only for a run of this host with the tags: whether its process no longer exists."""
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return False
    return process_start(int(tags[PID_TAG])) != tags.get(PROCESS_START_TAG)


def fail_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark failed the STARTED runs whose process is gone; returns their ids."""
    failed = []
    for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])):
        if process_is_gone(run.tags):
            instance.report_run_failed(
                run, f"the process that ran it (pid {run.tags[PID_TAG]} on {run.tags[HOST_TAG]}) is gone: killed")
            failed.append(run.run_id)
    return failed


def clear(database_url: str, instance: DagsterInstance) -> list[str]:
    """Both kinds of leftover; one line per thing done, for the user."""
    lines = [f"leftover: run {run_id} marked failed (its process was killed)" for run_id in fail_dead_runs(instance)]
    lines += [f"leftover: staging table {name} dropped (its run was killed)"
              for name in drop_orphan_staging_tables(database_url)]
    return lines
