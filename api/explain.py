"""What a portfolio is, in words: the method that built it, why, and how the caps shaped its weights. Derived from the
stored rows and the rule's parameters (trendfolio/analytics/allocation.py; ARCHITECTURE.md, "Analytics rules")."""

from __future__ import annotations

import datetime as dt

from trendfolio import calendar
from trendfolio.analytics.allocation import (
    FALLBACK_BENCHMARK,
    FALLBACK_TRENDING_ETFS,
    SCORE_INVERSE_VOL,
    AllocationRule,
)
from trendfolio.universe import BENCHMARK

RULE = AllocationRule()
LABELS = {SCORE_INVERSE_VOL: "weighted stocks", FALLBACK_TRENDING_ETFS: "trending-ETFs fallback",
          FALLBACK_BENCHMARK: f"{BENCHMARK} fallback"}


def percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def cap_notes(positions: list[dict]) -> list[str]:
    """The stock cap (relaxed to 1/n for few stocks), how many positions sit at it, and each source ETF's share (a
    stock held by k of them counts 1/k to each) against the ETF cap (relaxed to 1/m for few ETFs)."""
    n = len(positions)
    stock_cap = max(RULE.max_stock_weight, 1 / n)
    at_cap = sum(p["weight"] >= stock_cap - 1e-9 for p in positions)
    relaxed = f"relaxed to 1/{n} (fewer than {round(1 / RULE.max_stock_weight)} stocks)" if stock_cap > \
        RULE.max_stock_weight else "not relaxed"
    notes = [f"stock cap {percent(stock_cap)} ({percent(RULE.max_stock_weight)} {relaxed}): "
             f"{at_cap} of {n} positions at the cap"]
    shares: dict[str, float] = {}
    for p in positions:
        etfs = [etf for etf in p["source_etfs"].split(",") if etf]
        for etf in etfs:
            shares[etf] = shares.get(etf, 0.0) + p["weight"] / len(etfs)
    if shares:
        etf_cap = max(RULE.max_etf_weight, 1 / len(shares))
        listed = ", ".join(f"{etf} {percent(share)}" for etf, share in sorted(shares.items(), key=lambda kv: -kv[1]))
        # A relaxed cap is recorded by the allocation itself (constraint_note): judge against the configured one only
        # when nothing was relaxed.
        relaxed_by_rule = any(p.get("constraint_note") for p in positions)
        over = [] if relaxed_by_rule else [etf for etf, share in shares.items() if share > etf_cap + 1e-6]
        notes.append(f"share by source ETF (cap {percent(etf_cap)}): {listed}"
                     + (f"; above the cap: {', '.join(sorted(over))}" if over else ""))
    return notes


def explain(session: dt.date, horizon: int, positions: list[dict], trending: list[str], counts: dict) -> dict:
    """`positions`: the whole portfolio (ticker, weight, method, source_etfs, holdings_as_of, constraint_note: a cap
    the allocation had to relax, recorded by analytics_05)."""
    methods = sorted({p["method"] for p in positions})
    method = methods[0] if len(methods) == 1 else ("+".join(methods) or None)
    held, priced = counts["held"], counts["priced"]
    universe = (f"the trending ETFs ({', '.join(trending)}) hold {held} stocks in their latest top-10 lists, "
                f"{priced} of them priced on {session}")
    if method == SCORE_INVERSE_VOL:
        reason = (f"{universe}; the {len(positions)} with a positive {horizon}-session excess return over {BENCHMARK} "
                  f"per unit of volatility are weighted by score / volatility")
    elif method == FALLBACK_TRENDING_ETFS:
        reason = (f"{universe}; fewer than {RULE.min_eligible} had a positive {horizon}-session score, so the "
                  f"trending ETFs themselves are held, equally weighted")
    elif method == FALLBACK_BENCHMARK:
        reason = f"no sector ETF was trending on {session}, so the portfolio holds {BENCHMARK}"
    else:
        reason = "no portfolio is stored for this session and horizon" if not positions else f"methods {method}"
    as_of = max((p["holdings_as_of"] for p in positions if p["holdings_as_of"]), default=None)
    age = len(calendar.sessions_between(as_of, session)) - 1 if as_of else None
    return {"method": method, "label": LABELS.get(method, method or "none"), "reason": reason,
            "notes": (cap_notes(positions) if method == SCORE_INVERSE_VOL else [])
            + sorted({p["constraint_note"] for p in positions if p["constraint_note"]}),
            "trending_etfs": trending, "holdings_as_of": as_of, "holdings_age_sessions": age,
            "candidates": held, "priced_candidates": priced}
