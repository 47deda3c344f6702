"""The read-only API (OpenAPI docs at /docs) and the dashboard page (/dashboard) over the warehouse tables: one
APIRouter per resource (api/*_router.py), the error handling of api/errors.py, the database of api/database.py."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api import errors
from api.database import Database, api_database_url
from trendfolio import calendar
from api import dashboard_router, performance_router, sessions_router, status_router, tickers_router


def create_app(database_url: str | None = None, database: Database | None = None) -> FastAPI:
    """The app over `database` (or `database_url`, or the configured API database) with its default timeouts."""
    database = database or Database(database_url or api_database_url())
    # FastAPIOffline serves Swagger UI and ReDoc from its own wheel: /docs works without a CDN, like the dashboard.
    app = FastAPIOffline(
        title="Trendfolio API",
        description="Read-only access to the trending ETFs, the 5-, 10- and 20-session portfolios, their realized "
                    "performance and the pipeline's status. Every list answers CSV with `format=csv` or "
                    "`Accept: text/csv`. The dashboard is at /dashboard.",
        version="1.1.0",
    )
    app.state.database = database
    calendar.nyse()  # the NYSE calendar takes seconds to build: here, not in the first request
    errors.install(app, database)
    for module in (sessions_router, tickers_router, performance_router, status_router, dashboard_router):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=dashboard_router.STATIC_DIR), name="static")
    return app
