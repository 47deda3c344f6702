"""What the routers share: parameter types and the checks that turn a bad request into a 4xx with a readable detail."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BeforeValidator

from api import queries
from api.database import Database
from api.models import Problem
from trendfolio import calendar
from trendfolio.analytics.allocation import PORTFOLIO_HORIZONS

MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000
TICKER_PATTERN = r"^[A-Za-z][A-Za-z0-9.\-]{0,9}$"
SOURCE_LABELS = {"synthetic": "SYNTHETIC", "replay": "REPLAY", "yfinance": "YAHOO"}
# Every endpoint reads the database: a database that is unmigrated, unreachable or busy answers 503 with a reason.
ERRORS = {404: {"model": Problem}, 422: {"model": Problem}, 503: {"model": Problem}}
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def source_label(sources: list[str] | str) -> str:
    """One label for the banner; synthetic wins over anything it is mixed with, so it can never pass for real."""
    names = sources.split(",") if isinstance(sources, str) else list(sources)
    labels = [SOURCE_LABELS.get(name, name.upper()) for name in names if name]
    if not labels:
        return "NO DATA"
    return "SYNTHETIC" if "SYNTHETIC" in labels else "+".join(sorted(set(labels)))


def iso_date_text(value):
    # pydantic alone also takes "2026-11-23T00:00", unix timestamps and other spellings of a date: the API takes one.
    if isinstance(value, str) and not ISO_DATE.fullmatch(value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(iso_date_text)]


def Limit(default: int = 100):  # noqa: N802 - reads like the FastAPI parameter helpers it wraps
    return Query(default, ge=1, le=MAX_LIMIT, description=f"page size, 1 to {MAX_LIMIT}")


def Offset():  # noqa: N802
    return Query(0, ge=0, le=MAX_OFFSET, description=f"rows to skip, 0 to {MAX_OFFSET}")


def database(request: Request) -> Database:
    return request.app.state.database


DB = Annotated[Database, Depends(database)]


def require_session_day(day: dt.date) -> None:
    if not calendar.is_session(day):
        raise HTTPException(422, f"{day} is not an NYSE session (the exchange was closed): pick a trading day")


def require_computed(conn, day: dt.date, table: str) -> None:
    """404 for a session the pipeline has not produced `table` for, naming the latest one it has."""
    if queries.has_date(conn, table, "session_date", day):
        return
    latest = queries.latest_date(conn, table, "session_date")
    hint = f"the latest computed session is {latest}" if latest else "nothing has been computed yet"
    raise HTTPException(404, f"{day} has not been computed yet in {table} ({hint}); "
                             f"run `uv run trendfolio run --date {day}`")


def require_horizon(horizon: int) -> None:
    if horizon not in PORTFOLIO_HORIZONS:
        raise HTTPException(422, f"horizon must be one of {', '.join(map(str, PORTFOLIO_HORIZONS))} sessions, "
                                 f"not {horizon}")


def require_range(start: dt.date | None, end: dt.date | None) -> None:
    if start and end and start > end:
        raise HTTPException(422, f"start {start} is after end {end}")
