"""NYSE sessions (exchange_calendars XNYS): the only dates the pipeline has partitions for."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

# The sector SPDRs, the oldest ETFs of the universe, began trading on 1998-12-22: the calendar starts before them.
CALENDAR_START = dt.date(1998, 12, 1)
FIRST_DATA = dt.date(1998, 12, 22)


@lru_cache(maxsize=1)
def nyse():
    return xcals.get_calendar("XNYS", start=CALENDAR_START.isoformat())


@lru_cache(maxsize=65536)  # validation asks once per row; a run has a few thousand distinct dates at most
def is_session(day: dt.date) -> bool:
    calendar = nyse()
    if not (calendar.first_session.date() <= day <= calendar.last_session.date()):
        return False
    return calendar.is_session(pd.Timestamp(day))


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Sessions in [start, end], both inclusive."""
    return [ts.date() for ts in nyse().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def previous_sessions(day: dt.date, count: int) -> list[dt.date]:
    """The `count` sessions ending at `day` (inclusive when `day` is a session), oldest first."""
    calendar = nyse()
    last = calendar.date_to_session(pd.Timestamp(day), direction="previous")
    return [ts.date() for ts in calendar.sessions_window(last, -count)]


def session_before(session: dt.date, count: int) -> dt.date:
    """The `count`-th session before `session`: where a computation over `count` sessions of history begins."""
    return previous_sessions(session, count + 1)[0]


def session_after(day: dt.date, count: int) -> dt.date:
    """The `count`-th session after `day` (the calendar's last session when it ends sooner)."""
    last = nyse().last_session.date()
    following = sessions_between(day + dt.timedelta(days=1), min(day + dt.timedelta(days=2 * count + 10), last))
    return following[count - 1] if len(following) >= count else last


def latest_completed_session(now: dt.datetime | None = None) -> dt.date:
    """The last session whose close has passed (in New York time)."""
    calendar = nyse()
    now = pd.Timestamp(now or dt.datetime.now(dt.timezone.utc))
    if now.tzinfo is None:
        now = now.tz_localize("UTC")
    session = calendar.minute_to_past_session(now.floor("min"), count=1)
    return session.date()


def non_session_weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    """Weekdays that are NYSE holidays: the exclusions of the weekday partitions."""
    sessions = set(sessions_between(start, end))
    return [d.date() for d in pd.bdate_range(start, end) if d.date() not in sessions]
