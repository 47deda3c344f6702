"""Did it work: each scored portfolio against SPY, the turnover between sessions, and the track record per horizon."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from api import queries
from api.export import CSV_RESPONSE, AsCsv, page
from api.models import Page, Performance, TrackRecord, Turnover
from api.params import DB, ERRORS, Limit, Offset, require_horizon
from api.track_record import track_record

router = APIRouter(tags=["performance"], responses=ERRORS)
HORIZON = Query(None, description="5, 10 or 20; default: all three")


def require_performance_table(conn) -> None:
    if not queries.table_exists(conn, queries.PERFORMANCE_TABLE):
        raise HTTPException(503, f"realized performance is not available yet: the table {queries.PERFORMANCE_TABLE} "
                                 "does not exist in this database (apply the migrations and run the pipeline once "
                                 "the asset that fills it is deployed)")
    missing = set(queries.PERFORMANCE_COLUMNS) - queries.table_columns(conn, queries.PERFORMANCE_TABLE)
    if missing:
        raise HTTPException(503, f"{queries.PERFORMANCE_TABLE} lacks the columns {', '.join(sorted(missing))} "
                                 "the API serves: adapt api/queries.py PERFORMANCE_COLUMNS")


@router.get("/api/performance", response_model=Page[Performance], responses=CSV_RESPONSE)
def realized_performance(db: DB, as_csv: AsCsv, horizon: int | None = HORIZON, limit: int = Limit(),
                         offset: int = Offset()):
    """Realized return of each session's portfolio over its horizon against SPY, oldest session first."""
    if horizon is not None:
        require_horizon(horizon)
    with db.connect() as conn:
        require_performance_table(conn)
        total, items = queries.performance(conn, horizon, limit, offset)
    return page({"total": total, "limit": limit, "offset": offset, "items": items}, as_csv, Performance,
                "performance")


@router.get("/api/turnover", response_model=Page[Turnover], responses=CSV_RESPONSE)
def turnover(db: DB, as_csv: AsCsv, horizon: int | None = HORIZON, limit: int = Limit(1000), offset: int = Offset()):
    """Per session and horizon: the turnover against the previous session's portfolio (Σ|Δw| / 2) and how many
    tickers entered and left, oldest first; a portfolio whose previous session has none (the first, or the first after
    sessions never run) has no turnover and is not listed."""
    if horizon is not None:
        require_horizon(horizon)
    with db.connect() as conn:
        rows = queries.turnover(conn, horizon)
    return page({"total": len(rows), "limit": limit, "offset": offset, "items": rows[offset:offset + limit]}, as_csv,
                Turnover, "turnover")


@router.get("/api/track-record", response_model=TrackRecord)
def track_record_summary(db: DB):
    """Per horizon, from analytics_08: hit rate and mean excess against SPY, the trending ETFs and the 11 sector
    ETFs, cumulative returns (also net of costs), max drawdown, volatility, mean turnover, the share of weighted (not
    fallback) portfolios; and the curves."""
    with db.connect() as conn:
        return track_record(queries.baselines(conn), queries.portfolio_methods(conn))
