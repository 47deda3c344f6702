"""`daily_pipeline`: every table for one NYSE session (or, as a backfill, one range of sessions in a single run)."""

import datetime as dt
from zoneinfo import ZoneInfo

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
)

from assets.partitions import nyse_sessions
from trendfolio import calendar

NEW_YORK = ZoneInfo("America/New_York")

daily_pipeline = define_asset_job(
    name="daily_pipeline",
    selection=AssetSelection.groups("collection", "analytics"),
    partitions_def=nyse_sessions,
    # In process: both Spark assets share the run's one SparkSession instead of starting a JVM each.
    executor_def=in_process_executor,
)


def session_of_evening(moment: dt.datetime) -> dt.date:
    """The New York calendar date at `moment`: at 21:30 UTC (16:30 or 17:30 in New York) that day's session has
    closed. Explicit, because neither a cron tick's own date in UTC nor a midnight partition start says this."""
    return moment.astimezone(NEW_YORK).date()


# Off by default: Airflow's daily_pipeline_controller (airflow_bridge/) is the scheduler. This is the same trigger for
# a deployment without Airflow; turn it on in the Dagster UI (Automation) and keep only one of the two running.
@schedule(
    job=daily_pipeline,
    cron_schedule="30 21 * * 1-5",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
)
def daily_pipeline_at_2130_utc(context: ScheduleEvaluationContext):
    session = session_of_evening(context.scheduled_execution_time)
    if not calendar.is_session(session):
        return SkipReason(f"{session} is not an NYSE session (holiday): nothing to run")
    return RunRequest(run_key=session.isoformat(), partition_key=session.isoformat())
