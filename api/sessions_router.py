"""The computed sessions and what each holds: the ETF ranking, the portfolios (with what they are and what changed),
the trending history, and the market's closed weekdays for date axes."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Path as PathParam, Query

from api import explain, queries
from api.export import CSV_RESPONSE, AsCsv, page
from api.models import (
    Change,
    Changes,
    MarketClosures,
    Page,
    Portfolio,
    Position,
    Session,
    TrendingEtf,
    TrendingEtfs,
    TrendingHistory,
    TrendingHistoryRow,
)
from api.params import (
    DB,
    ERRORS,
    IsoDate,
    Limit,
    Offset,
    require_computed,
    require_horizon,
    require_range,
    require_session_day,
    source_label,
)
from trendfolio import calendar

router = APIRouter(tags=["sessions"], responses=ERRORS)
MAX_HISTORY_SESSIONS = 260


@router.get("/api/sessions", response_model=Page[Session], responses=CSV_RESPONSE)
def sessions(db: DB, as_csv: AsCsv, limit: int = Limit(), offset: int = Offset()):
    """The sessions the pipeline has computed, newest first, with their data source."""
    with db.connect() as conn:
        total, items = queries.computed_sessions(conn, limit, offset)
    for item in items:
        item["source_label"] = source_label(item["source"])
    return page({"total": total, "limit": limit, "offset": offset, "items": items}, as_csv, Session, "sessions")


@router.get("/api/sessions/{session_date}/trending-etfs", response_model=TrendingEtfs, responses=CSV_RESPONSE)
def trending_etfs(db: DB, as_csv: AsCsv, session_date: IsoDate, only_trending: bool = False, limit: int = Limit(),
                  offset: int = Offset()):
    """Every ETF's metrics for the session, ranked by score; `is_trending` marks the trending ones and
    `trending_since` the first session of their current trending run."""
    require_session_day(session_date)
    with db.connect() as conn:
        require_computed(conn, session_date, queries.TRENDING_TABLE)
        total, items = queries.trending_etfs(conn, session_date, only_trending, limit, offset)
    return page({"session_date": session_date, "total": total, "limit": limit, "offset": offset, "items": items},
                as_csv, TrendingEtf, f"trending-etfs-{session_date}")


@router.get("/api/sessions/{session_date}/portfolios/{horizon}", response_model=Portfolio, responses=CSV_RESPONSE)
def portfolio(db: DB, as_csv: AsCsv, session_date: IsoDate,
              horizon: int = PathParam(description="5, 10 or 20 sessions"), limit: int = Limit(),
              offset: int = Offset()):
    """The portfolio built on the session for a 5-, 10- or 20-session horizon, largest weight first, with what it is
    (`explanation`: the method and why, the caps, the age of the holdings it was built from)."""
    require_horizon(horizon)
    require_session_day(session_date)
    with db.connect() as conn:
        require_computed(conn, session_date, queries.PORTFOLIO_TABLE)
        total, items = queries.portfolio(conn, session_date, horizon, limit, offset)
        trending = queries.trending_tickers(conn, session_date)
        explanation = explain.explain(session_date, horizon, queries.portfolio_positions(conn, session_date, horizon),
                                      trending, queries.candidate_counts(conn, session_date, trending))
    return page({"session_date": session_date, "horizon": horizon, "total": total, "limit": limit, "offset": offset,
                 "items": items, "explanation": explanation}, as_csv, Position,
                f"portfolio-{session_date}-h{horizon}")


@router.get("/api/sessions/{session_date}/portfolios/{horizon}/changes", response_model=Changes,
            responses=CSV_RESPONSE)
def portfolio_changes(db: DB, as_csv: AsCsv, session_date: IsoDate,
                      horizon: int = PathParam(description="5, 10 or 20 sessions"), limit: int = Limit(),
                      offset: int = Offset()):
    """What entered, left and changed weight in the portfolio since the previous computed session's portfolio of the
    same horizon, and the turnover (Σ|Δw| / 2) against the previous session's portfolio: null for the first portfolio
    and for the first after sessions never run (their changes are listed, but no trade spans a gap)."""
    require_horizon(horizon)
    require_session_day(session_date)
    with db.connect() as conn:
        require_computed(conn, session_date, queries.PORTFOLIO_TABLE)
        previous = queries.previous_portfolio_session(conn, session_date, horizon)
        rows = queries.portfolio_changes(conn, session_date, previous, horizon)
        turnover = queries.portfolio_turnover(conn, session_date, horizon)
    return page({"session_date": session_date, "horizon": horizon, "previous_session": previous,
                 "turnover": turnover, "total": len(rows), "limit": limit, "offset": offset,
                 "items": rows[offset:offset + limit]}, as_csv, Change, f"changes-{session_date}-h{horizon}")


@router.get("/api/trending-history", response_model=TrendingHistory, responses=CSV_RESPONSE)
def trending_history(db: DB, as_csv: AsCsv, end: IsoDate | None = Query(
                         None, description="the last session shown (default: the latest computed)"),
                     sessions: int = Query(40, ge=1, le=MAX_HISTORY_SESSIONS,
                                           description="how many computed sessions up to `end`"),
                     limit: int = Limit(1000), offset: int = Offset()):
    """Every ETF's rank and trending flag over the last `sessions` computed sessions, oldest first (the heatmap)."""
    with db.connect() as conn:
        days, total, items = queries.trending_history(conn, end, sessions, limit, offset)
    return page({"sessions": days, "total": total, "limit": limit, "offset": offset, "items": items}, as_csv,
                TrendingHistoryRow, f"trending-history-{days[-1] if days else 'none'}")


@router.get("/api/market-closures", response_model=MarketClosures)
def market_closures(start: IsoDate, end: IsoDate):
    """The weekdays NYSE was closed in [start, end] (holidays), for date axes that skip non-sessions."""
    require_range(start, end)
    first, last = calendar.nyse().first_session.date(), calendar.nyse().last_session.date()
    if not (first <= start and end <= last):
        raise HTTPException(422, f"the NYSE calendar covers {first} .. {last}: pick start and end within it")
    return {"start": start, "end": end, "closed_weekdays": calendar.non_session_weekdays(start, end)}
