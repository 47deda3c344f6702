"""Asset checks of the analytics assets: what the trending and allocation rules promise, read back from PostgreSQL
after the write (ARCHITECTURE.md, "Analytics rules")."""

from __future__ import annotations

import datetime as dt

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec

from trendfolio import quality
from trendfolio.analytics.allocation import PORTFOLIO_HORIZONS, SCORE_INVERSE_VOL, AllocationRule
from trendfolio.universe import listed_on

EVERY_SECTOR_RANKED = "every_sector_ranked"
WEIGHTS_SUM_TO_ONE = "weights_sum_to_one"
STOCK_CAP_HOLDS = "stock_cap_holds"
NO_EMPTY_PORTFOLIO = "no_portfolio_without_rows"

TRENDING_CHECKS = [
    AssetCheckSpec(EVERY_SECTOR_RANKED, asset="analytics_03_trending_etfs", blocking=True,
                   description="every sector ETF has a row for each session from its first trading day, ranked unless it "
                               "lacks the history (ERROR)"),
]
ALLOCATION_CHECKS = [
    AssetCheckSpec(WEIGHTS_SUM_TO_ONE, asset="analytics_05_portfolio_allocation", blocking=True,
                   description="the weights of each (session, horizon) portfolio sum to 1"),
    AssetCheckSpec(STOCK_CAP_HOLDS, asset="analytics_05_portfolio_allocation", blocking=True,
                   description="no stock of a score × inverse-volatility portfolio weighs more than the cap "
                               "(relaxed to 1/n when n stocks cannot fill 100 % under it)"),
    AssetCheckSpec(NO_EMPTY_PORTFOLIO, asset="analytics_05_portfolio_allocation", blocking=True,
                   description="every session has a portfolio with rows for each horizon (5, 10, 20)"),
]


def trending_check_results(conn, sessions: list[dt.date], sectors: tuple[str, ...]) -> list[AssetCheckResult]:
    """`sectors`: the configured sector ETFs (TRENDFOLIO_SECTOR_ETFS), each expected from its first trading day."""
    unranked = quality.sectors_unranked(conn, [(day, sector) for day in sessions for sector in sectors
                                               if listed_on(sector, day)])
    return [AssetCheckResult(check_name=EVERY_SECTOR_RANKED, passed=not unranked, severity=AssetCheckSeverity.ERROR,
                             metadata={"unranked": unranked, "sessions": len(sessions)})]


def allocation_check_results(conn, sessions: list[dt.date], rule: AllocationRule) -> list[AssetCheckResult]:
    if not sessions:
        return [AssetCheckResult(check_name=spec.name, passed=True, metadata={"skipped": "no NYSE session"})
                for spec in ALLOCATION_CHECKS]
    start, end = sessions[0], sessions[-1]
    off = quality.weights_not_summing_to_one(conn, start, end)
    over = quality.weights_over_stock_cap(conn, start, end, SCORE_INVERSE_VOL, rule.max_stock_weight)
    empty = quality.portfolios_without_rows(conn, sessions, list(PORTFOLIO_HORIZONS))
    return [
        AssetCheckResult(check_name=WEIGHTS_SUM_TO_ONE, passed=not off, severity=AssetCheckSeverity.ERROR,
                         metadata={"portfolios_off": off}),
        AssetCheckResult(check_name=STOCK_CAP_HOLDS, passed=not over, severity=AssetCheckSeverity.ERROR,
                         metadata={"over_cap": over, "max_stock_weight": rule.max_stock_weight}),
        AssetCheckResult(check_name=NO_EMPTY_PORTFOLIO, passed=not empty, severity=AssetCheckSeverity.ERROR,
                         metadata={"without_rows": empty}),
    ]
