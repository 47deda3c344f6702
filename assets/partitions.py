"""Partitions are NYSE sessions: weekdays minus the exchange's holidays, keyed by the session date."""

from __future__ import annotations

import datetime as dt

from dagster import AssetExecutionContext, TimeWindowPartitionsDefinition

from trendfolio import calendar

PARTITIONS_START = dt.date(2018, 1, 2)

nyse_sessions = TimeWindowPartitionsDefinition(
    start=PARTITIONS_START.isoformat(),
    fmt="%Y-%m-%d",
    cron_schedule="0 0 * * 1-5",
    timezone="America/New_York",
    # The session whose evening it is counts too (the job runs after the close, before the window ends at midnight).
    end_offset=1,
    exclusions=[
        dt.datetime(day.year, day.month, day.day) for day in calendar.non_session_weekdays(PARTITIONS_START, calendar.nyse().last_session.date())
    ],
)


def partition_sessions(context: AssetExecutionContext) -> tuple[dt.date, dt.date, list[dt.date]]:
    """First and last session of the run's partition range (one session for a nightly run), and the sessions."""
    key_range = context.partition_key_range
    start, end = dt.date.fromisoformat(key_range.start), dt.date.fromisoformat(key_range.end)
    return start, end, calendar.sessions_between(start, end)
