"""Response shapes, for the OpenAPI document at /docs."""

from __future__ import annotations

import datetime as dt
from typing import Generic, Literal, TypeVar

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
    selection: str  # why it is (not) trending: trending, not_top_n, below_ma_50, insufficient_history, benchmark…
    rule: str
    source: str
    trending_since: dt.date | None  # first session of its current unbroken trending run (computed sessions)


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


class Explanation(BaseModel):
    method: str | None  # score_inv_vol_capped, fallback_trending_etfs or fallback_benchmark
    label: str  # what a user calls it: weighted stocks, trending-ETFs fallback, SPY fallback
    reason: str  # why this method, in one sentence
    notes: list[str]  # how the caps shaped the weights
    trending_etfs: list[str]
    holdings_as_of: dt.date | None
    holdings_age_sessions: int | None  # sessions between the holdings snapshot and the session
    candidates: int  # stocks the trending ETFs hold on the session
    priced_candidates: int  # of which have a price on the session


class Portfolio(Page[Position]):
    session_date: dt.date
    horizon: int
    explanation: Explanation


class Change(BaseModel):
    ticker: str
    change: str  # entered, left, increased, decreased, unchanged
    previous_weight: float | None
    weight: float | None
    weight_change: float


class Changes(Page[Change]):
    session_date: dt.date
    horizon: int
    previous_session: dt.date | None
    turnover: float | None  # Σ|Δw| / 2 against the previous session's portfolio; None when that session has none


class TrendingHistoryRow(BaseModel):
    session_date: dt.date
    ticker: str
    etf_role: str
    score: float | None
    score_rank: int | None
    is_trending: bool
    selection: str


class TrendingHistory(Page[TrendingHistoryRow]):
    sessions: list[dt.date]


class Turnover(BaseModel):
    session_date: dt.date
    horizon: int
    previous_session: dt.date
    turnover: float
    entered: int
    left_count: int


class WeightHistoryRow(BaseModel):
    session_date: dt.date
    horizon: int
    weight: float
    score: float | None
    method: str
    source_etfs: str
    evaluated_on: dt.date | None  # the session the horizon ended (once it has)
    ticker_return: float | None
    contribution: float | None  # weight × ticker_return
    portfolio_return: float | None


class WeightHistory(Page[WeightHistoryRow]):
    ticker: str


class HorizonRecord(BaseModel):
    horizon: int
    evaluations: int  # scored portfolios (analytics_08)
    first_evaluated_on: dt.date | None
    last_evaluated_on: dt.date | None
    hit_rate: float | None  # against SPY (running, latest)
    hit_rate_vs_trending_etfs: float | None  # the session's trending ETFs, equally weighted
    hit_rate_vs_sector_etfs: float | None  # the 11 sector ETFs, equally weighted
    mean_excess_return: float | None  # against SPY, per portfolio
    mean_excess_vs_trending_etfs: float | None
    mean_excess_vs_sector_etfs: float | None
    cumulative_return: float | None
    cumulative_net_return: float | None  # after cost_per_turnover × turnover
    cumulative_benchmark_return: float | None  # SPY
    cumulative_trending_etfs_return: float | None
    cumulative_sector_etfs_return: float | None
    max_drawdown: float | None  # of the cumulative curve, peak to trough (a negative fraction)
    benchmark_max_drawdown: float | None  # of SPY's curve over the same portfolios
    annualized_volatility: float | None
    mean_turnover: float | None
    cost_per_turnover: float | None
    portfolios: int  # computed portfolios of the horizon, scored or not
    weighted_share: float | None  # share of them that are weighted stocks, not a fallback


class CurvePoint(BaseModel):
    evaluated_on: dt.date
    session_date: dt.date
    horizon: int
    cumulative_return: float
    cumulative_net_return: float
    cumulative_benchmark_return: float
    cumulative_trending_etfs_return: float
    cumulative_sector_etfs_return: float
    drawdown: float


class TrackRecord(BaseModel):
    horizons: list[HorizonRecord]
    curves: list[CurvePoint]


class MarketClosures(BaseModel):
    start: dt.date
    end: dt.date
    closed_weekdays: list[dt.date]


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
    # evaluated; benchmark_held (a fallback_benchmark portfolio, 100 % SPY: a tie, outside the hit rate, in the curves);
    # unpriced (a holding without a price at either end: no return, outside the hit rate and the curves)
    status: Literal["evaluated", "benchmark_held", "unpriced"]
    method: str | None  # the allocation's method (analytics_05); None on rows written before it was recorded
    unpriced_tickers: str | None  # comma-separated holdings without a price, for an unpriced portfolio
    # First evaluation session of the uninterrupted track the running figures cover: a later track_start than the
    # previous row's means the track restarted after a gap (sessions never run). None until the table's next write.
    track_start: dt.date | None


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
