"""Partitions are NYSE sessions, and the (stopped) Dagster schedule picks the session Airflow's controller would."""

import datetime as dt

import pandas as pd
from dagster import DefaultScheduleStatus, Definitions, RunRequest, build_schedule_context

from assets import ALL_ASSETS
from assets.partitions import PARTITIONS_START, nyse_sessions
from resources import KafkaResource, MarketDataResource, PostgresResource, SparkResource
from jobs.daily_pipeline import daily_pipeline, daily_pipeline_at_2130_utc, session_of_evening
from trendfolio import calendar

UTC = dt.timezone.utc
# The evening of Wednesday 2026-11-25, the session before Thanksgiving, at the controller's 21:30 UTC.
NOW = dt.datetime(2026, 11, 25, 21, 30, tzinfo=UTC)


def keys(current_time=NOW) -> list[str]:
    return nyse_sessions.get_partition_keys(current_time=current_time)


def test_no_partition_on_a_weekend_or_a_holiday():
    days = [dt.date.fromisoformat(k) for k in keys()]
    assert not [d for d in days if d.weekday() >= 5]
    for holiday in ("2024-12-25", "2025-01-01", "2025-04-18", "2025-07-04", "2026-11-26", "2025-01-09"):
        assert holiday not in keys(), f"{holiday} is an NYSE holiday or closure"


def test_every_session_is_a_partition_keyed_by_its_date():
    days = [dt.date.fromisoformat(k) for k in keys()]
    assert days == calendar.sessions_between(PARTITIONS_START, dt.date(2026, 11, 25))
    assert keys()[:2] == ["1999-03-23", "1999-03-24"]  # LOOKBACK_SESSIONS after the sector ETFs' first session


def test_the_evening_session_has_its_partition_before_midnight():
    # end_offset=1: at 21:30 UTC the day's session is already a partition, though its time window ends at midnight.
    assert keys(NOW)[-1] == "2026-11-25"
    assert keys(dt.datetime(2026, 11, 25, 4, 0, tzinfo=UTC))[-1] == "2026-11-24"  # 23:00 in New York
    window = nyse_sessions.time_window_for_partition_key("2026-11-25")
    assert window.start == pd.Timestamp("2026-11-25", tz="America/New_York")


def test_a_partition_range_covers_exactly_the_sessions_between():
    subset = nyse_sessions.get_partition_keys_in_range(
        nyse_sessions.get_partition_key_range_for_time_window(
            nyse_sessions.time_window_for_partition_key("2026-11-20")._replace(
                end=nyse_sessions.time_window_for_partition_key("2026-11-27").end)))
    assert subset == ["2026-11-20", "2026-11-23", "2026-11-24", "2026-11-25", "2026-11-27"]


def test_session_of_evening_uses_new_york_time():
    assert session_of_evening(dt.datetime(2026, 11, 25, 21, 30, tzinfo=UTC)) == dt.date(2026, 11, 25)
    # Midnight UTC is still the previous evening in New York.
    assert session_of_evening(dt.datetime(2026, 11, 26, 0, 0, tzinfo=UTC)) == dt.date(2026, 11, 25)
    # Summer time: 21:30 UTC is 17:30 EDT, same calendar date.
    assert session_of_evening(dt.datetime(2026, 7, 2, 21, 30, tzinfo=UTC)) == dt.date(2026, 7, 2)


def test_the_dagster_schedule_is_off_and_matches_the_airflow_controller():
    assert daily_pipeline_at_2130_utc.default_status == DefaultScheduleStatus.STOPPED
    assert daily_pipeline_at_2130_utc.cron_schedule == "30 21 * * 1-5"
    assert daily_pipeline_at_2130_utc.execution_timezone == "UTC"
    unused = {"postgres": PostgresResource(database_url="postgresql://unused"),  # a tick only picks the partition
              "kafka": KafkaResource(bootstrap_servers="unused:9092"), "spark": SparkResource(),
              "market_data": MarketDataResource()}
    repository = Definitions(assets=ALL_ASSETS, jobs=[daily_pipeline], schedules=[daily_pipeline_at_2130_utc],
                             resources=unused).get_repository_def()

    session = daily_pipeline_at_2130_utc.evaluate_tick(build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 11, 25, 21, 30, tzinfo=UTC), repository_def=repository))
    assert [r.partition_key for r in session.run_requests] == ["2026-11-25"]
    assert isinstance(session.run_requests[0], RunRequest)

    holiday = daily_pipeline_at_2130_utc.evaluate_tick(build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 11, 26, 21, 30, tzinfo=UTC), repository_def=repository))
    assert not holiday.run_requests
    assert "2026-11-26 is not an NYSE session" in holiday.skip_message
