"""Per ticker: an ETF's holdings on a date, a ticker's prices, and a stock's weight in every portfolio that held it."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path as PathParam, Query

from api import queries
from api.export import CSV_RESPONSE, AsCsv, page
from api.models import Holding, Holdings, Price, PriceHistory, WeightHistory, WeightHistoryRow
from api.params import DB, ERRORS, TICKER_PATTERN, IsoDate, Limit, Offset, require_horizon, require_range, \
    require_session_day
from trendfolio.universe import Universe

router = APIRouter(tags=["tickers"], responses=ERRORS)


@router.get("/api/etfs/{ticker}/holdings", response_model=Holdings, responses=CSV_RESPONSE)
def etf_holdings(db: DB, as_csv: AsCsv, ticker: str = PathParam(pattern=TICKER_PATTERN), as_of: IsoDate | None = Query(
                     None, description="a session; the latest snapshot on or before it (default: the latest)"),
                 limit: int = Limit(), offset: int = Offset()):
    """An ETF's holdings as collected for a session (holdings are collected for trending ETFs only)."""
    etf = ticker.upper()
    watched = Universe.from_environment().etfs
    if etf not in watched:
        raise HTTPException(404, f"unknown ETF {etf}: the pipeline watches {', '.join(watched)}")
    if as_of is not None:
        require_session_day(as_of)
    with db.connect() as conn:
        snapshot = queries.holdings_date(conn, etf, as_of)
        if snapshot is None:
            when = f" on or before {as_of}" if as_of else ""
            raise HTTPException(404, f"no holdings of {etf} collected{when}: holdings are collected only on "
                                     "sessions where the ETF is trending")
        total, items = queries.holdings(conn, etf, snapshot, limit, offset)
    return page({"etf_ticker": etf, "as_of_date": snapshot, "total": total, "limit": limit, "offset": offset,
                 "items": items}, as_csv, Holding, f"holdings-{etf}-{snapshot}")


@router.get("/api/tickers/{ticker}/prices", response_model=PriceHistory, responses=CSV_RESPONSE)
def ticker_prices(db: DB, as_csv: AsCsv, ticker: str = PathParam(pattern=TICKER_PATTERN),
                  start: IsoDate | None = None, end: IsoDate | None = None, limit: int = Limit(),
                  offset: int = Offset()):
    """Daily OHLC of an ETF or of a stock held by a trending ETF, oldest first, within [start, end]."""
    require_range(start, end)
    symbol = ticker.upper()
    with db.connect() as conn:
        table = queries.price_table(conn, symbol)
        if table is None:
            raise HTTPException(404, f"unknown ticker {symbol}: no prices collected for it")
        total, items = queries.prices(conn, table, symbol, start, end, limit, offset)
    return page({"ticker": symbol, "table": table, "total": total, "limit": limit, "offset": offset, "items": items},
                as_csv, Price, f"prices-{symbol}")


@router.get("/api/tickers/{ticker}/weights", response_model=WeightHistory, responses=CSV_RESPONSE)
def weight_history(db: DB, as_csv: AsCsv, ticker: str = PathParam(pattern=TICKER_PATTERN),
                   horizon: int | None = Query(None, description="5, 10 or 20; default: all three"),
                   limit: int = Limit(1000), offset: int = Offset()):
    """The ticker's weight in every portfolio that held it, oldest first, and once a portfolio's horizon ended the
    ticker's return over it and its contribution (weight × return) to the portfolio's return."""
    if horizon is not None:
        require_horizon(horizon)
    symbol = ticker.upper()
    with db.connect() as conn:
        total, items = queries.weight_history(conn, symbol, horizon, limit, offset)
    return page({"ticker": symbol, "total": total, "limit": limit, "offset": offset, "items": items}, as_csv,
                WeightHistoryRow, f"weights-{symbol}")
