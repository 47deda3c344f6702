"""An independent reference for analytics_03, _05 and _07, written from the formulas in ARCHITECTURE.md with plain
pandas/numpy (no code shared with the Spark path): prices as a date × ticker table, one session at a time, the stock
cap by iterative cap-and-redistribute instead of the closed form the Spark code uses, and the ETF cap's multipliers
kept in dictionaries, one ETF at a time."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

TREND_HORIZONS = (5, 10, 20, 60)
PORTFOLIO_HORIZONS = (5, 10, 20)


def close_table(prices: pd.DataFrame, calendar: pd.Index) -> pd.DataFrame:
    """adj_close as sessions × tickers on the benchmark's calendar (NaN where a ticker has no row)."""
    return prices.pivot(index="trade_date", columns="ticker", values="adj_close").reindex(calendar)


def _history(closes: pd.Series, day: dt.date) -> np.ndarray:
    return closes.loc[:day].to_numpy(dtype=float)


def _ret(p: np.ndarray, h: int) -> float:
    return p[-1] / p[-1 - h] - 1 if len(p) > h and not (np.isnan(p[-1]) or np.isnan(p[-1 - h])) else math.nan


def _vol(p: np.ndarray) -> float:
    if len(p) < 21 or np.isnan(p[-21:]).any():
        return math.nan
    logs = np.log(p[-20:] / p[-21:-1])
    return float(np.std(logs, ddof=1) * math.sqrt(252))


def trending(etf_closes: pd.DataFrame, roles: dict[str, str], day: dt.date, top_n: int = 3,
             weights: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)) -> pd.DataFrame:
    """analytics_03 for one session, indexed by ticker."""
    spy = _history(etf_closes["SPY"], day)
    rows = {}
    for ticker, role in roles.items():
        p = _history(etf_closes[ticker], day)
        row = {"etf_role": role, "adj_close": p[-1]}
        for h in TREND_HORIZONS:
            row[f"ret_{h}"] = _ret(p, h)
            row[f"excess_{h}"] = row[f"ret_{h}"] - _ret(spy, h)
        row["vol_20"] = _vol(p)
        row["ma_50"] = float(np.mean(p[-50:])) if len(p) >= 50 else math.nan
        row["above_ma_50"] = bool(p[-1] > row["ma_50"]) if len(p) >= 50 else None
        row["score"] = sum(w * row[f"excess_{h}"] for h, w in zip(TREND_HORIZONS, weights))
        rows[ticker] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame["score_rank"] = np.nan
    for role in ("sector", "benchmark"):
        ranked = sorted((t for t in frame.index if frame.at[t, "etf_role"] == role and not np.isnan(frame.at[t, "score"])),
                        key=lambda t: (-frame.at[t, "score"], t))
        for rank, ticker in enumerate(ranked, start=1):
            frame.at[ticker, "score_rank"] = rank
    frame["is_trending"] = (frame["etf_role"] == "sector") & (frame["score_rank"] <= top_n) & (
        frame["above_ma_50"] == True)  # noqa: E712 (None is not True)
    return frame


def capped_proportional(values: np.ndarray, cap: float) -> np.ndarray:
    """Weights ∝ values summing to 1, none above cap: cap the largest offenders and redistribute until none is over."""
    capped = np.zeros(len(values), dtype=bool)
    while True:
        if capped.all():  # n × cap = 1: everything at the cap
            return np.full(len(values), cap)
        budget = 1 - cap * capped.sum()
        weights = np.where(capped, cap, values * budget / values[~capped].sum())
        over = ~capped & (weights > cap)
        if not over.any():
            return weights
        capped |= over


def both_caps(raw: dict[str, float], etfs: dict[str, list[str]], max_stock: float, max_etf: float,
              tolerance: float = 1e-12) -> tuple[dict[str, float], str | None]:
    """Weights ∝ raw under the stock cap and the ETF cap (an ETF's share: Σ weight / number of the stock's ETFs), as
    ARCHITECTURE.md states them: the caps relaxed in order (stock cap to 1/n, ETF cap to 1/m, then the ETF cap to the
    least the stocks can fill at the stock cap), then each ETF's multiplier (≤ 1) moved until every ETF is within
    its cap and every ETF with a multiplier below 1 sits on it."""
    tickers = list(raw)
    notes = []
    stock_cap = max_stock
    if len(tickers) * max_stock < 1:
        stock_cap = 1 / len(tickers)
        notes.append(f"stock cap {max_stock:g} -> 1/{len(tickers)}")
    names = sorted({e for t in tickers for e in etfs[t]})
    etf_cap = max_etf
    if len(names) * max_etf < 1:
        etf_cap = 1 / len(names)
        notes.append(f"etf cap {max_etf:g} -> 1/{len(names)}")
    room = {e: sum(stock_cap / len(etfs[t]) for t in tickers if e in etfs[t]) for e in names}
    if sum(min(etf_cap, r) for r in room.values()) < 1 - tolerance:
        # Raise the cap by bisection until the ETFs can hold 100 %.
        low, high = etf_cap, 1.0
        for _ in range(200):
            middle = (low + high) / 2
            low, high = (middle, high) if sum(min(middle, r) for r in room.values()) < 1 else (low, middle)
        notes.append(f"etf cap {etf_cap:.6g} -> {high:.6g} (the stocks cannot fill 100 % under it)")
        etf_cap = high
    multiplier = {e: 1.0 for e in names}
    for _ in range(100_000):
        values = np.array([raw[t] * sum(multiplier[e] for e in etfs[t]) / len(etfs[t]) for t in tickers])
        weights = dict(zip(tickers, capped_proportional(values, stock_cap)))
        if etf_cap >= 1:
            break
        share = {e: sum(weights[t] / len(etfs[t]) for t in tickers if e in etfs[t]) for e in names}
        if all(share[e] <= etf_cap + tolerance and (multiplier[e] == 1 or abs(share[e] - etf_cap) <= tolerance)
               for e in names):
            break
        for e in names:
            multiplier[e] = min(1.0, multiplier[e] * etf_cap * (1 - share[e]) / (share[e] * (1 - etf_cap)))
    else:
        raise AssertionError(f"the ETF multipliers did not settle: {share}")
    return weights, "; ".join(notes) or None


def allocation(day: dt.date, horizon: int, trend: pd.DataFrame, holdings: pd.DataFrame, stock_closes: pd.DataFrame,
               spy_closes: pd.Series, max_stock: float = 0.10, max_etf: float = 0.50,
               min_eligible: int = 5, max_holdings_age_days: int = 45) -> pd.DataFrame:
    """analytics_05 for one session and horizon: ticker, weight, score, volatility, source_etfs, method,
    holdings_as_of."""
    trending_etfs = sorted(trend.index[trend["is_trending"]])
    if not trending_etfs:
        return pd.DataFrame([dict(ticker="SPY", weight=1.0, score=math.nan, volatility=math.nan, source_etfs="SPY",
                                  method="fallback_benchmark", holdings_as_of=None)])
    sources: dict[str, list[str]] = {}
    as_of: dict[str, dt.date] = {}
    for etf in trending_etfs:
        known = holdings[(holdings["etf_ticker"] == etf) & (holdings["as_of_date"] <= day)]
        if known.empty:
            continue
        latest = known["as_of_date"].max()
        if (day - latest).days > max_holdings_age_days:
            continue  # too old to describe the ETF now: it has no holdings
        for ticker in known.loc[known["as_of_date"] == latest, "holding_ticker"]:
            sources.setdefault(ticker, []).append(etf)
            as_of[ticker] = max(as_of.get(ticker, latest), latest)
    spy = _history(spy_closes, day)
    rows = []
    for ticker, etfs in sources.items():
        if ticker not in stock_closes:
            continue  # no prices: out of the universe
        p = _history(stock_closes[ticker], day)
        vol = _vol(p)
        score = (_ret(p, horizon) - _ret(spy, horizon)) / vol
        if vol > 0 and score > 0:
            rows.append(dict(ticker=ticker, score=score, volatility=vol, etfs=sorted(etfs),
                             holdings_as_of=as_of[ticker]))
    if len(rows) < min_eligible:
        return pd.DataFrame([dict(
            ticker=etf, weight=1 / len(trending_etfs),
            score=trend.at[etf, f"excess_{horizon}"] / trend.at[etf, "vol_20"], volatility=trend.at[etf, "vol_20"],
            source_etfs=etf, method="fallback_trending_etfs", holdings_as_of=None) for etf in trending_etfs])
    stocks = pd.DataFrame(rows).set_index("ticker")
    stocks["raw"] = stocks["score"] / stocks["volatility"]
    weights, note = both_caps(stocks["raw"].to_dict(), stocks["etfs"].to_dict(), max_stock, max_etf)
    stocks["weight"] = pd.Series(weights)
    stocks["constraint_note"] = note
    stocks["source_etfs"] = stocks["etfs"].map(",".join)
    stocks["method"] = "score_inv_vol_capped"
    return stocks.reset_index()[["ticker", "weight", "score", "volatility", "source_etfs", "method", "holdings_as_of",
                                 "constraint_note"]]


def performance(allocations: pd.DataFrame, closes: pd.DataFrame, spy: str = "SPY") -> pd.DataFrame:
    """analytics_07 from every allocation (session_date, horizon, ticker, weight, method) whose horizon has elapsed in
    `closes` (sessions × tickers, SPY's calendar): every such allocation has a row; one with a holding unpriced at
    either end is `unpriced`, a `fallback_benchmark` one `benchmark_held`. Running figures per horizon over a track
    of consecutive sessions (a session whose previous session has no row of the horizon starts a new one): evaluations
    and hits over `evaluated` rows only, curves over all but `unpriced` ones."""
    sessions = list(closes.index)
    position = {day: i for i, day in enumerate(sessions)}
    rows = []
    for (day, horizon), held in allocations.groupby(["session_date", "horizon"]):
        i = position[day] + horizon
        if i >= len(sessions):
            continue
        exit_day = sessions[i]
        tickers = list(held["ticker"])
        entry, exit_ = closes.loc[day, tickers].to_numpy(), closes.loc[exit_day, tickers].to_numpy()
        missing = sorted(t for t, a, b in zip(tickers, entry, exit_) if np.isnan(a) or np.isnan(b))
        bench = closes.at[exit_day, spy] / closes.at[day, spy] - 1
        if missing:
            status, portfolio = "unpriced", math.nan
        else:
            status = "benchmark_held" if (held["method"] == "fallback_benchmark").any() else "evaluated"
            portfolio = float(np.sum(held["weight"].to_numpy() * (exit_ / entry - 1)))
        rows.append(dict(evaluated_on=exit_day, session_date=day, horizon=horizon, holdings=len(held), status=status,
                         unpriced_tickers=",".join(missing) or None, portfolio_return=portfolio,
                         benchmark_return=bench, excess_return=portfolio - bench))
    frame = pd.DataFrame(rows).sort_values(["horizon", "evaluated_on"]).reset_index(drop=True)
    frame["hit"] = np.where(frame["status"] == "evaluated", frame["excess_return"] > 0, None)
    running = []
    for _, one in frame.groupby("horizon", sort=True):
        evaluations = hits = held_count = unpriced = 0
        growth = bench_growth = 0.0
        previous = None
        for row in one.itertuples():
            if previous is None or position[row.evaluated_on] != position[previous] + 1:
                evaluations = hits = held_count = unpriced = 0
                growth = bench_growth = 0.0
                track_start = row.evaluated_on
            previous = row.evaluated_on
            evaluations += row.status == "evaluated"
            hits += row.status == "evaluated" and bool(row.hit)
            held_count += row.status == "benchmark_held"
            unpriced += row.status == "unpriced"
            if row.status != "unpriced":
                growth += math.log1p(row.portfolio_return) / row.horizon
                bench_growth += math.log1p(row.benchmark_return) / row.horizon
            running.append(dict(evaluations=evaluations, hits=hits, benchmark_held=held_count, unpriced=unpriced,
                                hit_rate=hits / evaluations if evaluations else math.nan,
                                cumulative_return=math.expm1(growth), cumulative_benchmark_return=math.expm1(bench_growth),
                                track_start=track_start))
    return pd.concat([frame, pd.DataFrame(running)], axis=1)


def baselines(evaluated: pd.DataFrame, allocations: pd.DataFrame, trends: dict, closes: pd.DataFrame,
              sectors: tuple[str, ...], cost: float = 0.001) -> pd.DataFrame:
    """analytics_08 from the rows of `performance` (evaluated_on, session_date, horizon, portfolio_return,
    benchmark_return, track_start), the allocations (session_date, horizon, ticker, weight, method), each session's
    analytics_03 frame and the closes: one session and horizon at a time, running figures by cumulative loops over
    each horizon's tracks (analytics_07's)."""
    sessions = list(closes.index)
    rows = []
    for record in evaluated.sort_values(["horizon", "evaluated_on"]).itertuples(index=False):
        day, exit_day, h = record.session_date, record.evaluated_on, record.horizon
        held = allocations[(allocations.session_date == day) & (allocations.horizon == h)]
        method = held["method"].iloc[0]

        def ret(ticker):
            return closes.at[exit_day, ticker] / closes.at[day, ticker] - 1

        trend = trends[day]
        chosen = sorted(trend.index[trend["is_trending"]])
        trending_return = float(np.mean([ret(t) for t in chosen])) if chosen else record.benchmark_return
        sector_return = float(np.mean([ret(t) for t in sectors]))
        i = sessions.index(day)
        previous = allocations[(allocations.session_date == sessions[i - 1]) & (allocations.horizon == h)] \
            if i > 0 else allocations.iloc[0:0]
        if previous.empty:
            turnover = math.nan
        else:
            now, before = held.set_index("ticker")["weight"], previous.set_index("ticker")["weight"]
            tickers = now.index.union(before.index)
            turnover = float((now.reindex(tickers, fill_value=0) - before.reindex(tickers, fill_value=0)).abs().sum()
                             / 2)
        rows.append(dict(
            evaluated_on=exit_day, session_date=day, horizon=h, track_start=record.track_start, method=method,
            portfolio_return=record.portfolio_return,
            trending_etfs_return=trending_return, sector_etfs_return=sector_return, spy_return=record.benchmark_return,
            turnover=turnover, net_return=record.portfolio_return - cost * (0 if math.isnan(turnover) else turnover)))
    frame = pd.DataFrame(rows)
    for name in ("trending_etfs", "sector_etfs", "spy"):
        frame[f"excess_vs_{name}"] = frame["portfolio_return"] - frame[f"{name}_return"]
    out = []
    for (h, _), group in frame.groupby(["horizon", "track_start"]):
        group = group.reset_index(drop=True)
        growth = {c: 1.0 for c in ("portfolio_return", "net_return", "trending_etfs_return", "sector_etfs_return",
                                   "spy_return")}
        hits = {name: 0 for name in ("trending_etfs", "sector_etfs", "spy")}
        peak, worst, rates = 1.0, 0.0, []
        for k, row in group.iterrows():
            for column in growth:
                growth[column] *= (1 + row[column]) ** (1 / h)
            for name in hits:
                hits[name] += row[f"excess_vs_{name}"] > 0
            peak = max(peak, growth["portfolio_return"])
            worst = min(worst, growth["portfolio_return"] / peak - 1)
            rates.append((1 + row["portfolio_return"]) ** (1 / h) - 1)
            out.append(dict(
                row, evaluations=k + 1, **{f"hit_rate_vs_{n}": hits[n] / (k + 1) for n in hits},
                cumulative_return=growth["portfolio_return"] - 1, cumulative_net_return=growth["net_return"] - 1,
                cumulative_trending_etfs_return=growth["trending_etfs_return"] - 1,
                cumulative_sector_etfs_return=growth["sector_etfs_return"] - 1,
                cumulative_spy_return=growth["spy_return"] - 1, max_drawdown=worst,
                annualized_volatility=float(np.std(rates, ddof=1) * math.sqrt(252)) if len(rates) > 1 else math.nan))
    return pd.DataFrame(out)
