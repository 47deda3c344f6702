"""The track record of a range of sessions, from the stored tables only: a Markdown file with a table per horizon and
PNG charts of the cumulative curves (`trendfolio report --start D1 --end D2`).

Every figure is computed here from the rows of analytics_05 (the portfolios, built for sessions in the range) and
analytics_08 (each portfolio's evaluation against its baselines): nothing is recomputed from prices, and the running
columns of analytics_08 are not used, so a report over a sub-range describes that sub-range alone. Why a portfolio of a
session with a trending ETF is not a stock portfolio of at least MIN_STOCKS stocks is read from the stored inputs of
analytics_05 (analytics_03's trending ETFs, collected_04's lists, collected_06's closes).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from trendfolio import calendar
from trendfolio.analytics.allocation import (
    FALLBACK_BENCHMARK,
    FALLBACK_TRENDING_ETFS,
    LOOKBACK_SESSIONS,
    SCORE_INVERSE_VOL,
    AllocationRule,
)
from trendfolio.collect import held_lists

MIN_STOCKS = 10  # a "real" stock portfolio: at least this many stocks
# Why a session with a trending ETF has no stock portfolio of MIN_STOCKS: the first that applies, in this order.
SHORTFALL_CAUSES = {
    "holdings": "a trending ETF had no holdings list dated within {age} days of the session",
    "prices": f"a held stock lacked one of the {LOOKBACK_SESSIONS} closes its measures need",
    "scores": f"fewer than {MIN_STOCKS} held stocks scored above 0 (every list and close stored)",
}
BASELINE_NAMES = {"trending_etfs": "trending ETFs (equal weight)", "sector_etfs": "11 sector ETFs (equal weight)",
                  "spy": "SPY"}


@dataclass
class Report:
    markdown: str
    charts: list[Path]
    figures: dict[int, dict[str, float]]


def _frame(conn: psycopg.Connection, sql: str, params) -> pd.DataFrame:
    cursor = conn.execute(sql, params)
    return pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])


def shortfall_causes(conn: psycopg.Connection, start: dt.date, end: dt.date, max_age_days: int) -> dict[dt.date, str]:
    """For each session in [start, end] with a trending ETF, the first of SHORTFALL_CAUSES that applies to it (the
    stored lists and closes decide; `scores` when both are complete)."""
    trending = conn.execute("SELECT session_date, ticker FROM analytics_03_trending_etfs "
                            "WHERE is_trending AND session_date BETWEEN %s AND %s", (start, end)).fetchall()
    listed: dict[dt.date, set[str]] = {}
    held: set[tuple[dt.date, str]] = set()
    for session, etf, _, stock in held_lists(conn, start, end, max_age_days):
        listed.setdefault(session, set()).add(etf)
        held.add((session, stock))
    pairs = sorted(held)
    closes = {} if not pairs else dict(((session, stock), count) for session, stock, count in conn.execute(
        "SELECT w.session, w.stock, count(p.trade_date) FROM unnest(%s::date[], %s::text[], %s::date[]) "
        "AS w(session, stock, first) LEFT JOIN collected_06_daily_stock_history AS p "
        "ON p.ticker = w.stock AND p.trade_date BETWEEN w.first AND w.session GROUP BY 1, 2",
        ([d for d, _ in pairs], [s for _, s in pairs],
         [calendar.previous_sessions(d, LOOKBACK_SESSIONS)[0] for d, _ in pairs])).fetchall())
    unpriced = {session for (session, _), count in closes.items() if count < LOOKBACK_SESSIONS}
    causes = {}
    for session, etf in trending:
        if etf not in listed.get(session, ()):
            causes[session] = "holdings"
        else:
            causes.setdefault(session, "prices" if session in unpriced else "scores")
    return causes


def load(database_url: str, start: dt.date, end: dt.date,
         max_age_days: int = AllocationRule().max_holdings_age_days) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The portfolios (one row per session, horizon and method, with the cause of a shortfall where it applies) and
    their evaluations."""
    with psycopg.connect(database_url) as conn:
        portfolios = _frame(conn, (
            "SELECT session_date, horizon, method, count(*) AS holdings, max(weight) - min(weight) AS weight_spread, "
            "bool_or(constraint_note IS NOT NULL) AS relaxed FROM analytics_05_portfolio_allocation "
            "WHERE session_date BETWEEN %s AND %s GROUP BY session_date, horizon, method"), (start, end))
        scored = _frame(conn, (
            "SELECT * FROM analytics_08_portfolio_baselines WHERE session_date BETWEEN %s AND %s "
            "ORDER BY horizon, evaluated_on"), (start, end))
        causes = shortfall_causes(conn, start, end, max_age_days)
    portfolios["shortfall_cause"] = portfolios.session_date.map(causes)
    return portfolios, scored


def _curve(returns: pd.Series, horizon: int) -> pd.Series:
    """Each h-session return compounded at its per-session geometric rate, as analytics_07/08 do."""
    return np.exp(np.log1p(returns.astype(float)).cumsum() / horizon) - 1


def horizon_figures(portfolios: pd.DataFrame, scored: pd.DataFrame, horizon: int) -> dict[str, float]:
    built = portfolios[portfolios.horizon == horizon]
    rows = scored[scored.horizon == horizon]
    weighted = built[built.method == SCORE_INVERSE_VOL]
    with_trending = built[built.method != FALLBACK_BENCHMARK]
    short = with_trending[(with_trending.method != SCORE_INVERSE_VOL) | (with_trending.holdings < MIN_STOCKS)]
    figures = {
        "portfolios": len(built),
        "weighted_share": len(weighted) / len(built) if len(built) else math.nan,
        "fallback_trending_share": (built.method == FALLBACK_TRENDING_ETFS).mean() if len(built) else math.nan,
        "fallback_spy_share": (built.method == FALLBACK_BENCHMARK).mean() if len(built) else math.nan,
        "with_trending": len(with_trending),
        "weighted_10_share_of_trending": ((with_trending.method == SCORE_INVERSE_VOL)
                                          & (with_trending.holdings >= MIN_STOCKS)).mean()
        if len(with_trending) else math.nan,
        **{f"short_{cause}": int((short.shortfall_cause == cause).sum()) for cause in SHORTFALL_CAUSES},
        "weighted_unequal_share": (weighted.weight_spread > 1e-9).mean() if len(weighted) else math.nan,
        "weighted_relaxed_share": weighted.relaxed.mean() if len(weighted) else math.nan,
        "median_stocks": float(weighted.holdings.median()) if len(weighted) else math.nan,
        "scored": len(rows),
    }
    if rows.empty:
        return figures
    for name in BASELINE_NAMES:
        figures[f"hit_rate_vs_{name}"] = float((rows[f"excess_vs_{name}"] > 0).mean())
        figures[f"mean_excess_vs_{name}"] = float(rows[f"excess_vs_{name}"].mean())
        figures[f"cumulative_{name}"] = float(_curve(rows[f"{name}_return"], horizon).iloc[-1])
    curve = _curve(rows.portfolio_return, horizon)
    growth = 1 + curve
    figures.update({
        "cumulative_return": float(curve.iloc[-1]),
        "cumulative_net_return": float(_curve(rows.net_return, horizon).iloc[-1]),
        "max_drawdown": float((growth / np.maximum(growth.cummax(), 1.0) - 1).clip(upper=0).min()),
        "annualized_volatility": float(((1 + rows.portfolio_return) ** (1 / horizon) - 1).std(ddof=1)
                                       * math.sqrt(252)) if len(rows) > 1 else math.nan,
        "mean_turnover": float(rows.turnover.mean()),
        "cost_per_turnover": float(rows.cost_per_turnover.iloc[-1]),
    })
    return figures


def _pct(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:+.2%}"


def _share(value: float) -> str:
    return "–" if isinstance(value, float) and math.isnan(value) else f"{value:.1%}"


def horizon_table(f: dict[str, float], horizon: int, max_age_days: int) -> str:
    lines = [f"### {horizon}-session portfolios", "", "| figure | value |", "|---|---|",
             f"| portfolios built | {f['portfolios']} |",
             f"| scored (horizon elapsed, every holding priced) | {f['scored']} |",
             f"| weighted stock portfolios (`{SCORE_INVERSE_VOL}`) | {_share(f['weighted_share'])} |",
             f"| fallback: trending ETFs | {_share(f['fallback_trending_share'])} |",
             f"| fallback: SPY (no trending ETF) | {_share(f['fallback_spy_share'])} |",
             f"| of sessions with a trending ETF: weighted with ≥ {MIN_STOCKS} stocks "
             f"| {_share(f['weighted_10_share_of_trending'])} of {f['with_trending']} |",
             *[f"| short of that because {SHORTFALL_CAUSES[cause].format(age=max_age_days)} | {f[f'short_{cause}']} |"
               for cause in SHORTFALL_CAUSES],
             f"| weighted portfolios whose weights differ (not all 1/n) | {_share(f['weighted_unequal_share'])} |",
             f"| weighted portfolios with a relaxed cap | {_share(f['weighted_relaxed_share'])} |",
             f"| median stocks in a weighted portfolio | {f['median_stocks']:.0f} |"]
    if f["scored"]:
        for name, label in BASELINE_NAMES.items():
            lines.append(f"| hit rate vs {label} | {_share(f[f'hit_rate_vs_{name}'])} |")
        for name, label in BASELINE_NAMES.items():
            lines.append(f"| mean excess over {label}, per portfolio | {_pct(f[f'mean_excess_vs_{name}'])} |")
        lines += [f"| cumulative return | {_pct(f['cumulative_return'])} |",
                  f"| cumulative return net of costs ({f['cost_per_turnover'] * 1e4:.0f} bp per unit of turnover) "
                  f"| {_pct(f['cumulative_net_return'])} |"]
        for name, label in BASELINE_NAMES.items():
            lines.append(f"| cumulative return of {label} | {_pct(f[f'cumulative_{name}'])} |")
        lines += [f"| max drawdown | {_pct(f['max_drawdown'])} |",
                  f"| annualized volatility | {_share(f['annualized_volatility'])} |",
                  f"| mean turnover per session (Σ\\|Δw\\| / 2) | {_share(f['mean_turnover'])} |"]
    return "\n".join(lines)


def chart(scored: pd.DataFrame, horizon: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = scored[scored.horizon == horizon]
    figure, axis = plt.subplots(figsize=(9, 4.5))
    axis.plot(rows.evaluated_on, _curve(rows.portfolio_return, horizon) * 100, label="portfolio", linewidth=2)
    axis.plot(rows.evaluated_on, _curve(rows.net_return, horizon) * 100, label="portfolio, net of costs",
              linestyle="--")
    for name, label in BASELINE_NAMES.items():
        axis.plot(rows.evaluated_on, _curve(rows[f"{name}_return"], horizon) * 100, label=label)
    axis.axhline(0, color="grey", linewidth=0.5)
    axis.set_title(f"{horizon}-session portfolios: cumulative return (per-session compounding)")
    axis.set_ylabel("%")
    axis.legend(loc="best", fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(database_url: str, start: dt.date, end: dt.date, out: Path, command: str,
                 horizons=(5, 10, 20), max_age_days: int = AllocationRule().max_holdings_age_days) -> Report:
    """Writes `out`/README.md and `out`/cumulative_h<h>.png; fails when the range holds no portfolio."""
    portfolios, scored = load(database_url, start, end, max_age_days)
    if portfolios.empty:
        raise ValueError(f"no portfolio stored for sessions {start} .. {end}: run the pipeline (or a backfill) first")
    out.mkdir(parents=True, exist_ok=True)
    figures = {h: horizon_figures(portfolios, scored, h) for h in horizons}
    charts = []
    for h in horizons:
        if figures[h]["scored"]:
            path = out / f"cumulative_h{h}.png"
            chart(scored, h, path)
            charts.append(path)
    sources = sorted(set(scored.source)) if not scored.empty else []
    sessions = portfolios.session_date.nunique()
    parts = [
        f"# Track record {start} .. {end}", "",
        f"Made by `{command}` from the stored tables (analytics_05_portfolio_allocation, "
        "analytics_08_portfolio_baselines) only. "
        f"{sessions} sessions with portfolios; data source: {', '.join(sources) or 'none scored'}.", "",
        "A portfolio built on session D for horizon h is scored once h sessions have passed (bought at D's close, held "
        "to the close h sessions later), against three baselines over the same sessions: the session's trending ETFs "
        "equally weighted (SPY when none trends), the 11 sector ETFs equally weighted, and SPY. The cumulative curves "
        "compound each portfolio's h-session return at its per-session rate, (1 + r)^(1/h), so overlapping daily "
        "portfolios do not count the same sessions h times. Costs: the cost per unit of turnover times the turnover "
        "against the previous session's portfolio of the same horizon. The rule's parameters are the defaults; none "
        "was tuned to this period.", "",
        "## Per horizon", "",
    ]
    for h in horizons:
        parts += [horizon_table(figures[h], h, max_age_days), ""]
        if figures[h]["scored"]:
            parts += [f"![cumulative returns, h = {h}](cumulative_h{h}.png)", ""]
    (out / "README.md").write_text("\n".join(parts))
    return Report("\n".join(parts), charts, figures)
