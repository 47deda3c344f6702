"""Response shapes, for the OpenAPI document at /docs."""

from __future__ import annotations

import datetime as dt
from typing import Generic, TypeVar

from pydantic import BaseModel

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    total: int
    limit: int
    offset: int
    items: list[Item]


class Session(BaseModel):
    session_date: dt.date
    source: str
    source_label: str
    trending_count: int
    has_portfolios: bool


class TrendingEtf(BaseModel):
    ticker: str
    etf_role: str
    adj_close: float
    ret_5: float | None
    ret_10: float | None
    ret_20: float | None
    ret_60: float | None
    excess_5: float | None
    excess_10: float | None
    excess_20: float | None
    excess_60: float | None
    vol_20: float | None
    ma_50: float | None
    above_ma_50: bool | None
    score: float | None
    score_rank: int | None
    is_trending: bool
    rule: str
    source: str


class TrendingEtfs(Page[TrendingEtf]):
    session_date: dt.date


class Position(BaseModel):
    ticker: str
    weight: float
    score: float | None
    volatility: float | None
    source_etfs: str
    method: str
    prices_as_of: dt.date
    holdings_as_of: dt.date | None
    source: str


class Portfolio(Page[Position]):
    session_date: dt.date
    horizon: int


class Holding(BaseModel):
    holding_ticker: str
    holding_name: str | None
    weight: float
    source: str


class Holdings(Page[Holding]):
    etf_ticker: str
    as_of_date: dt.date


class Price(BaseModel):
    trade_date: dt.date
    open: float
    high: float
    low: float
    close: float
    adj_close: float
    volume: int
    source: str


class PriceHistory(Page[Price]):
    ticker: str
    table: str


class Performance(BaseModel):
    session_date: dt.date  # the session the portfolio was built for
    horizon: int
    evaluated_on: dt.date  # the session its horizon ended on
    holdings: int
    portfolio_return: float | None  # None: the allocation could not be priced (status 'unpriced' in the table)
    benchmark_return: float
    excess_return: float | None
    hit: bool | None  # None: benchmark held (a tie) or unpriced
    hit_rate: float | None  # running, per horizon; None before the track's first evaluated allocation
    cumulative_return: float
    cumulative_benchmark_return: float
    source: str


class TableStatus(BaseModel):
    table: str
    exists: bool
    row_count: int
    min_date: dt.date | None
    max_date: dt.date | None
    sources: list[str]
    last_loaded_at: dt.datetime | None
    dead_letters: int = 0


class PipelineStatus(BaseModel):
    data_source: str
    latest_session: dt.date | None
    tables: list[TableStatus]


class Problem(BaseModel):
    detail: str
