"""Has the strategy beaten SPY and its own ETFs? Per horizon, from analytics_07 (scored portfolios), the turnover of
analytics_05, and the trending ETFs' own return over the same sessions (queries.trending_etf_baseline)."""

from __future__ import annotations

import math
from statistics import fmean

from api.params import HORIZONS

BASELINE_NOTE = ("trending ETFs: the session's trending sector ETFs equally weighted (SPY when none trended), held over "
                 "the same sessions as the portfolio (left out where one lacks a price); curves compound each "
                 "h-session return at (1 + r)^(1/h) per session, as analytics_07 does")


def drawdowns(curve: list[float]) -> list[float]:
    """Drawdown at each point of a cumulative-return curve: wealth against its running peak (starting at 1)."""
    peak, out = 1.0, []
    for cumulative in curve:
        wealth = 1.0 + cumulative
        peak = max(peak, wealth)
        out.append(wealth / peak - 1.0)
    return out


def mean(values: list[float]) -> float | None:
    return fmean(values) if values else None


def track_record(performance: list[dict], baseline: list[dict], turnover: list[dict], methods: dict) -> dict:
    """`performance`: analytics_07 rows oldest first; `baseline`: session_date, horizon, etf_return; `turnover`:
    per (session, horizon); `methods`: {(horizon, method): portfolios}."""
    etf_return = {(row["session_date"], row["horizon"]): row["etf_return"] for row in baseline}
    horizons, curves = [], []
    for horizon in HORIZONS:
        rows = [row for row in performance if row["horizon"] == horizon]
        etf_cum, log_sum = [], 0.0
        for row in rows:  # a portfolio whose ETFs lack a price leaves the baseline's curve without a point
            etf = etf_return.get((row["session_date"], horizon))
            if etf is not None:
                log_sum += math.log1p(etf) / horizon
            etf_cum.append(math.expm1(log_sum) if etf is not None else None)
        own = [row["cumulative_return"] for row in rows]
        own_dd, bench_dd = drawdowns(own), drawdowns([row["cumulative_benchmark_return"] for row in rows])
        for row, etf, drawdown in zip(rows, etf_cum, own_dd):
            curves.append({"evaluated_on": row["evaluated_on"], "session_date": row["session_date"],
                           "horizon": horizon, "cumulative_return": row["cumulative_return"],
                           "cumulative_benchmark_return": row["cumulative_benchmark_return"],
                           "cumulative_trending_etfs_return": etf, "drawdown": drawdown})
        versus = [row["portfolio_return"] - etf_return[(row["session_date"], horizon)] for row in rows
                  if etf_return.get((row["session_date"], horizon)) is not None]
        portfolios = sum(count for (h, _), count in methods.items() if h == horizon)
        weighted = methods.get((horizon, "score_inv_vol_capped"), 0)
        horizons.append({
            "horizon": horizon, "evaluations": len(rows),
            "first_evaluated_on": rows[0]["evaluated_on"] if rows else None,
            "last_evaluated_on": rows[-1]["evaluated_on"] if rows else None,
            "hit_rate": rows[-1]["hit_rate"] if rows else None,  # analytics_07's running figure
            "hit_rate_vs_trending_etfs": mean([float(v > 0) for v in versus]),
            "mean_excess_return": mean([row["excess_return"] for row in rows]),
            "mean_excess_vs_trending_etfs": mean(versus),
            "cumulative_return": own[-1] if rows else None,
            "cumulative_benchmark_return": rows[-1]["cumulative_benchmark_return"] if rows else None,
            "cumulative_trending_etfs_return": next((v for v in reversed(etf_cum) if v is not None), None),
            "max_drawdown": min(own_dd) if rows else None,
            "benchmark_max_drawdown": min(bench_dd) if rows else None,
            "mean_turnover": mean([row["turnover"] for row in turnover if row["horizon"] == horizon]),
            "portfolios": portfolios, "weighted_share": weighted / portfolios if portfolios else None,
        })
    return {"horizons": horizons, "curves": curves, "baseline_note": BASELINE_NOTE}
