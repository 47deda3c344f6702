"""Has the strategy beaten SPY and its own ETFs? Per horizon, from analytics_08 (each scored portfolio against the
trending ETFs, the 11 sector ETFs and SPY, net of costs, with running figures) and the methods of analytics_05."""

from __future__ import annotations

from statistics import fmean

from trendfolio.analytics.allocation import PORTFOLIO_HORIZONS, SCORE_INVERSE_VOL

CURVES = {"cumulative_return": "cumulative_return", "cumulative_net_return": "cumulative_net_return",
          "cumulative_benchmark_return": "cumulative_spy_return",
          "cumulative_trending_etfs_return": "cumulative_trending_etfs_return",
          "cumulative_sector_etfs_return": "cumulative_sector_etfs_return"}
LATEST = {"hit_rate": "hit_rate_vs_spy", "hit_rate_vs_trending_etfs": "hit_rate_vs_trending_etfs",
          "hit_rate_vs_sector_etfs": "hit_rate_vs_sector_etfs", "max_drawdown": "max_drawdown",
          "annualized_volatility": "annualized_volatility", "cost_per_turnover": "cost_per_turnover", **CURVES}
MEANS = {"mean_excess_return": "excess_vs_spy", "mean_excess_vs_trending_etfs": "excess_vs_trending_etfs",
         "mean_excess_vs_sector_etfs": "excess_vs_sector_etfs", "mean_turnover": "turnover"}


def drawdowns(curve: list[float]) -> list[float]:
    """Drawdown at each point of a cumulative-return curve: wealth against its running peak (starting at 1)."""
    peak, out = 1.0, []
    for cumulative in curve:
        wealth = 1.0 + cumulative
        peak = max(peak, wealth)
        out.append(wealth / peak - 1.0)
    return out


def mean(values: list) -> float | None:
    present = [value for value in values if value is not None]
    return fmean(present) if present else None


def track_record(baselines: list[dict], methods: dict) -> dict:
    """`baselines`: analytics_08 rows oldest first; `methods`: {(horizon, method): portfolios} from analytics_05."""
    horizons, curves = [], []
    for horizon in PORTFOLIO_HORIZONS:
        rows = [row for row in baselines if row["horizon"] == horizon]
        own = drawdowns([row["cumulative_return"] for row in rows])
        spy = drawdowns([row["cumulative_spy_return"] for row in rows])
        curves += [{"evaluated_on": row["evaluated_on"], "session_date": row["session_date"], "horizon": horizon,
                    **{key: row[column] for key, column in CURVES.items()}, "drawdown": drawdown}
                   for row, drawdown in zip(rows, own)]
        portfolios = sum(count for (h, _), count in methods.items() if h == horizon)
        last = rows[-1] if rows else {}
        horizons.append({
            "horizon": horizon, "evaluations": len(rows),
            "first_evaluated_on": rows[0]["evaluated_on"] if rows else None,
            "last_evaluated_on": last.get("evaluated_on"),
            **{key: last.get(column) for key, column in LATEST.items()},  # the running figures of the latest row
            **{key: mean([row[column] for row in rows]) for key, column in MEANS.items()},
            "benchmark_max_drawdown": min(spy) if rows else None,
            "portfolios": portfolios,
            "weighted_share": methods.get((horizon, SCORE_INVERSE_VOL), 0) / portfolios if portfolios else None,
        })
    return {"horizons": horizons, "curves": curves}
