"""The read-only API (OpenAPI docs at /docs) and the dashboard page (/dashboard) over the warehouse tables."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated

import plotly
import psycopg
from fastapi import FastAPI, HTTPException, Path as PathParam, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BeforeValidator
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import queries
from api.database import Database, api_database_url
from api.models import (
    Holdings,
    Page,
    Performance,
    PipelineStatus,
    Portfolio,
    PriceHistory,
    Problem,
    Session,
    TableStatus,
    TrendingEtfs,
)
from trendfolio import calendar
from trendfolio.universe import ALL_ETFS

STATIC_DIR = Path(__file__).resolve().parent / "static"
# plotly.js ships inside the plotly wheel: the dashboard needs no CDN and no front-end build.
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
HORIZONS = (5, 10, 20)
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000
TICKER_PATTERN = r"^[A-Za-z][A-Za-z0-9.\-]{0,9}$"
SOURCE_LABELS = {"synthetic": "SYNTHETIC", "replay": "REPLAY", "yfinance": "YAHOO"}
ERRORS = {404: {"model": Problem}, 422: {"model": Problem}}


def source_label(sources: list[str] | str) -> str:
    """One label for the banner; synthetic wins over anything it is mixed with, so it can never pass for real."""
    names = sources.split(",") if isinstance(sources, str) else list(sources)
    labels = [SOURCE_LABELS.get(name, name.upper()) for name in names if name]
    if not labels:
        return "NO DATA"
    return "SYNTHETIC" if "SYNTHETIC" in labels else "+".join(sorted(set(labels)))


ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


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
    if horizon not in HORIZONS:
        raise HTTPException(422, f"horizon must be one of {', '.join(map(str, HORIZONS))} sessions, not {horizon}")


def create_app(database_url: str | None = None) -> FastAPI:
    db = Database(database_url or api_database_url())
    # FastAPIOffline serves Swagger UI and ReDoc from its own wheel: /docs works without a CDN, like the dashboard.
    app = FastAPIOffline(
        title="Trendfolio API",
        description="Read-only access to the trending ETFs, the 5-, 10- and 20-session portfolios, their realized "
                    "performance and the pipeline's status. The dashboard is at /dashboard.",
        version="1.0.0",
    )

    @app.exception_handler(RequestValidationError)
    async def validation_problem(_: Request, error: RequestValidationError) -> JSONResponse:
        # One readable sentence first ("limit: Input should be less than or equal to 1000"), the details after.
        messages = ["{}: {}".format(".".join(str(part) for part in item["loc"][1:]) or item["loc"][0], item["msg"])
                    for item in error.errors()]
        return JSONResponse(status_code=422, content={"detail": "; ".join(messages),
                                                      "errors": jsonable_errors(error)})

    @app.exception_handler(StarletteHTTPException)
    async def no_such_path(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # The router's bare "Not Found" (no route matched) says where the paths are; the endpoints' own 404s pass.
        if error.status_code == 404 and error.detail == "Not Found":
            return JSONResponse(status_code=404, content={
                "detail": f"no such path {request.url.path[:200]!r}: the API's paths are listed at /docs "
                          "(a parameter cannot contain '/', even percent-encoded)"})
        return await http_exception_handler(request, error)

    @app.exception_handler(psycopg.errors.InsufficientPrivilege)
    async def not_permitted(_: Request, error: psycopg.Error) -> JSONResponse:
        return JSONResponse(status_code=503, content={
            "detail": f"the API's database role may not read this table ({error.diag.message_primary}): "
                      "apply the migrations (`uv run trendfolio migrate`), which grant it SELECT"})

    @app.exception_handler(psycopg.OperationalError)
    async def database_unreachable(_: Request, error: psycopg.Error) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": f"the database is unreachable: {error}"})

    @app.get("/api/sessions", response_model=Page[Session], tags=["sessions"], responses=ERRORS)
    def sessions(limit: int = Limit(), offset: int = Offset()):
        """The sessions the pipeline has computed, newest first, with their data source."""
        with db.connect() as conn:
            total, items = queries.computed_sessions(conn, limit, offset)
        for item in items:
            item["source_label"] = source_label(item["source"])
        return {"total": total, "limit": limit, "offset": offset, "items": items}

    @app.get("/api/sessions/{session_date}/trending-etfs", response_model=TrendingEtfs, tags=["sessions"],
             responses=ERRORS)
    def trending_etfs(session_date: IsoDate, only_trending: bool = False, limit: int = Limit(),
                      offset: int = Offset()):
        """Every ETF's metrics for the session, ranked by score; `is_trending` marks the trending ones."""
        require_session_day(session_date)
        with db.connect() as conn:
            require_computed(conn, session_date, queries.TRENDING_TABLE)
            total, items = queries.trending_etfs(conn, session_date, only_trending, limit, offset)
        return {"session_date": session_date, "total": total, "limit": limit, "offset": offset, "items": items}

    @app.get("/api/sessions/{session_date}/portfolios/{horizon}", response_model=Portfolio, tags=["sessions"],
             responses=ERRORS)
    def portfolio(session_date: IsoDate, horizon: int = PathParam(description="5, 10 or 20 sessions"),
                  limit: int = Limit(), offset: int = Offset()):
        """The portfolio built on the session for a 5-, 10- or 20-session horizon, largest weight first."""
        require_horizon(horizon)
        require_session_day(session_date)
        with db.connect() as conn:
            require_computed(conn, session_date, queries.PORTFOLIO_TABLE)
            total, items = queries.portfolio(conn, session_date, horizon, limit, offset)
        return {"session_date": session_date, "horizon": horizon, "total": total, "limit": limit, "offset": offset,
                "items": items}

    @app.get("/api/etfs/{ticker}/holdings", response_model=Holdings, tags=["tickers"], responses=ERRORS)
    def etf_holdings(ticker: str = PathParam(pattern=TICKER_PATTERN), as_of: IsoDate | None = Query(
                         None, description="a session; the latest snapshot on or before it (default: the latest)"),
                     limit: int = Limit(), offset: int = Offset()):
        """An ETF's holdings as collected for a session (holdings are collected for trending ETFs only)."""
        etf = ticker.upper()
        if etf not in ALL_ETFS:
            raise HTTPException(404, f"unknown ETF {etf}: the pipeline watches {', '.join(ALL_ETFS)}")
        if as_of is not None:
            require_session_day(as_of)
        with db.connect() as conn:
            snapshot = queries.holdings_date(conn, etf, as_of)
            if snapshot is None:
                when = f" on or before {as_of}" if as_of else ""
                raise HTTPException(404, f"no holdings of {etf} collected{when}: holdings are collected only on "
                                         "sessions where the ETF is trending")
            total, items = queries.holdings(conn, etf, snapshot, limit, offset)
        return {"etf_ticker": etf, "as_of_date": snapshot, "total": total, "limit": limit, "offset": offset,
                "items": items}

    @app.get("/api/tickers/{ticker}/prices", response_model=PriceHistory, tags=["tickers"], responses=ERRORS)
    def ticker_prices(ticker: str = PathParam(pattern=TICKER_PATTERN), start: IsoDate | None = None,
                      end: IsoDate | None = None, limit: int = Limit(), offset: int = Offset()):
        """Daily OHLC of an ETF or of a stock held by a trending ETF, oldest first, within [start, end]."""
        if start and end and start > end:
            raise HTTPException(422, f"start {start} is after end {end}")
        symbol = ticker.upper()
        with db.connect() as conn:
            table = queries.price_table(conn, symbol)
            if table is None:
                raise HTTPException(404, f"unknown ticker {symbol}: no prices collected for it")
            total, items = queries.prices(conn, table, symbol, start, end, limit, offset)
        return {"ticker": symbol, "table": table, "total": total, "limit": limit, "offset": offset, "items": items}

    @app.get("/api/performance", response_model=Page[Performance], tags=["performance"],
             responses={**ERRORS, 503: {"model": Problem}})
    def realized_performance(horizon: int | None = Query(None, description="5, 10 or 20; default: all three"),
                             limit: int = Limit(), offset: int = Offset()):
        """Realized return of each session's portfolio over its horizon against SPY, oldest session first."""
        if horizon is not None:
            require_horizon(horizon)
        with db.connect() as conn:
            if not queries.table_exists(conn, queries.PERFORMANCE_TABLE):
                raise HTTPException(503, f"realized performance is not available yet: the table "
                                         f"{queries.PERFORMANCE_TABLE} does not exist in this database (apply the "
                                         "migrations and run the pipeline once the asset that fills it is deployed)")
            missing = set(queries.PERFORMANCE_COLUMNS) - queries.table_columns(conn, queries.PERFORMANCE_TABLE)
            if missing:
                raise HTTPException(503, f"{queries.PERFORMANCE_TABLE} lacks the columns {', '.join(sorted(missing))} "
                                         "the API serves: adapt api/queries.py PERFORMANCE_COLUMNS")
            total, items = queries.performance(conn, horizon, limit, offset)
        return {"total": total, "limit": limit, "offset": offset, "items": items}

    @app.get("/api/status", response_model=PipelineStatus, tags=["status"])
    def pipeline_status():
        """What each table holds now: row count, date range, data sources, when it was last written."""
        with db.connect() as conn:
            tables = [queries.table_status(conn, table, column) for table, column in queries.STATUS_TABLES.items()]
        trending = next(t for t in tables if t["table"] == queries.TRENDING_TABLE)
        sources = sorted({source for table in tables for source in table["sources"]})
        return {"data_source": source_label(sources), "latest_session": trending["max_date"],
                "tables": [TableStatus(**table) for table in tables]}

    @app.get("/", include_in_schema=False)
    def home():
        return RedirectResponse("/dashboard")

    @app.get("/dashboard", include_in_schema=False)
    def dashboard():
        return FileResponse(STATIC_DIR / "dashboard.html", media_type="text/html")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js():
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def jsonable_errors(error: RequestValidationError) -> list[dict]:
    # The raw errors may carry the offending value as bytes or an exception object: keep what JSON can carry.
    return [{"loc": [str(part) for part in item["loc"]], "msg": item["msg"], "type": item["type"]}
            for item in error.errors()]
