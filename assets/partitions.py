"""Partitions are NYSE sessions: weekdays minus the exchange's holidays, keyed by the session date."""

from __future__ import annotations

import datetime as dt

from dagster import AssetExecutionContext, TimeWindowPartitionsDefinition

from trendfolio import calendar
from trendfolio.analytics.trending import LOOKBACK_SESSIONS

# The first session with the longest lookback of history behind it, counted from the oldest data (1999-03-…).
PARTITIONS_START = calendar.sessions_between(calendar.FIRST_DATA, calendar.FIRST_DATA + dt.timedelta(days=150))[
    LOOKBACK_SESSIONS]

nyse_sessions = TimeWindowPartitionsDefinition(
    start=PARTITIONS_START.isoformat(),
    fmt="%Y-%m-%d",
    cron_schedule="0 0 * * 1-5",
    timezone="America/New_York",
    # The session whose evening it is counts too (the job runs after the close, before the window ends at midnight).
    end_offset=1,
    exclusions=[
        dt.datetime(day.year, day.month, day.day)
        for day in calendar.non_session_weekdays(PARTITIONS_START, calendar.nyse().last_session.date())
    ],
)


def partition_sessions(context: AssetExecutionContext) -> tuple[dt.date, dt.date, list[dt.date]]:
    """First and last session of the run's partition range (one session for a nightly run), and the sessions."""
    key_range = context.partition_key_range
    start, end = dt.date.fromisoformat(key_range.start), dt.date.fromisoformat(key_range.end)
    return start, end, calendar.sessions_between(start, end)
