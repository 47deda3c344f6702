"""Benchmark 2b's yardstick: one night's work as a user would write it by hand, in one process with pandas and psycopg,
no Dagster, no Kafka, no Spark: collect the session's prices, holdings and held stocks' prices from the same source
(validated with the same rules, dead letters recorded, upserted by COPY), compute analytics_03, _05, _07 and _08 for
the session exactly as ARCHITECTURE.md defines them, and replace the session's rows by COPY.

It reuses the domain core's pandas-free pieces (which window to fetch, validation, the cap solver `capped_weights`,
the running figures SQL of analytics_07) and computes the rest itself. Each input is read once and shared between the
steps that need it. `bench.nightly` runs it on a copy of the nightly run's database and checks that every pipeline
table ends equal to the night's (load times aside), so it cannot be a straw man: it does all the night's work.

Where Spark aggregates, this follows Spark's arithmetic (sums in row order, Welford's update for the sample standard
deviation), so most values agree to the last bit; the comparison allows 1e-12 relative for the order of sums Spark
does not fix.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import psycopg

from trendfolio import calendar
from trendfolio.analytics.allocation import (
    FALLBACK_BENCHMARK, FALLBACK_TRENDING_ETFS, PORTFOLIO_HORIZONS, SCORE_INVERSE_VOL, AllocationRule, capped_weights,
)
from trendfolio.analytics.allocation import LOOKBACK_SESSIONS as ALLOCATION_LOOKBACK
from trendfolio.analytics.baselines import BASELINES, ROW_COLUMNS, TRACK, TRADING_SESSIONS_PER_YEAR, CostRule
from trendfolio.analytics.baselines import LOOKBACK_SESSIONS as BASELINES_LOOKBACK
from trendfolio.analytics.performance import (
    BENCHMARK_HELD, EVALUATED, UNPRICED, refresh_running_figures, rewritten_through,
)
from trendfolio.analytics.trending import (
    BELOW_MA, BENCHMARK_ROLE, HORIZONS, MA_WINDOW, NO_SCORE, NOT_TOP_N, TRENDING, VOL_WINDOW, TrendRule,
)
from trendfolio.analytics.trending import BENCHMARK_HELD as SPY_HELD
from trendfolio.analytics.trending import LOOKBACK_SESSIONS as TREND_LOOKBACK
from trendfolio.collect import (
    in_windows, previous_closes, price_fetch_start, record_fetches, require_rows, stock_price_windows, windows_end,
)
from trendfolio.sources import MarketDataSource, refused_by_source
from trendfolio.tables import (
    DAILY_ETF_OHLC, DAILY_STOCK_HISTORY, ETF_HOLDINGS, PORTFOLIO_ALLOCATION, PORTFOLIO_BASELINES,
    PORTFOLIO_PERFORMANCE, PORTFOLIO_TURNOVER_BETWEEN, TRENDING_ETFS, Table,
)
from trendfolio.universe import BENCHMARK, SECTOR_ETFS, Universe
from trendfolio.validation import validate_holdings, validate_ohlc
from trendfolio.warehouse import replace_validation_dead_letters, upsert_rows

RUN_ID = "bench-plain-night"
EVALUATION_SESSIONS = max(PORTFOLIO_HORIZONS)


# --- reading and writing -----------------------------------------------------------------------------------------
def query(conn: psycopg.Connection, sql: str, params=()) -> pd.DataFrame:
    cursor = conn.execute(sql, params)
    return pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])


def replace_rows(conn: psycopg.Connection, table: Table, first: dt.date, last: dt.date, rows: pd.DataFrame) -> int:
    """Delete the table's rows dated [first, last] and COPY `rows` in, inside the caller's transaction."""
    conn.execute(f"DELETE FROM {table.name} WHERE {table.date_column} BETWEEN %s AND %s", (first, last))
    if rows.empty:
        return 0
    columns = [c for c in table.columns if c in rows.columns]
    values = rows[columns].astype(object)
    values = values.where(values.notna(), None)  # NaN is SQL NULL, not 'NaN'
    with conn.cursor().copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in values.itertuples(index=False, name=None):
            copy.write_row(row)
    return len(values)


def store_collected(conn, table: Table, rows: pd.DataFrame, rejected, wanted, day: dt.date, source: str,
                    every_session: bool = True) -> None:
    """What a collection step leaves: the rows upserted, the refused ones dead-lettered, the fetch recorded."""
    upsert_rows(conn, table, rows[list(table.columns)])
    replace_validation_dead_letters(conn, table.name, day, rejected, source, RUN_ID)
    if every_session:
        require_rows(conn, table.name, wanted, source)
    record_fetches(conn, table.name, wanted, source)


# --- the measures, as Spark computes them --------------------------------------------------------------------------
def running_stddev(values) -> list[float]:
    """The sample standard deviation of each prefix of `values`, with Spark's update (Welford's) in the order given;
    NaN below two values."""
    n = avg = m2 = 0.0
    out = []
    for value in values:
        n += 1.0
        delta = value - avg
        delta_n = delta / n
        avg += delta_n
        m2 += delta * (delta - delta_n)
        out.append(math.sqrt(m2 / (n - 1.0)) if n > 1 else math.nan)
    return out


def measures_at(series: pd.DataFrame, horizons, with_ma: bool = False) -> dict:
    """One ticker's rows (trade_date ascending, session_no on SPY's calendar, adj_close): ret_h, vol_20 (and ma_50) on
    its last row, null where a lookback crosses a session the ticker has no row for."""
    closes = series["adj_close"].to_numpy(dtype=float)
    numbers = series["session_no"].to_numpy()
    last = len(closes) - 1
    out = {}
    for h in horizons:
        exact = last >= h and numbers[last - h] == numbers[last] - h
        out[f"ret_{h}"] = closes[last] / closes[last - h] - 1 if exact else math.nan
    steps = [math.log(closes[j] / closes[j - 1]) for j in range(max(1, last - VOL_WINDOW + 1), last + 1)
             if numbers[j - 1] == numbers[j] - 1]
    out["vol_20"] = running_stddev(steps)[-1] * math.sqrt(float(TRADING_SESSIONS_PER_YEAR)) \
        if len(steps) == VOL_WINDOW else math.nan
    if with_ma:
        window = last >= MA_WINDOW - 1 and numbers[last] - numbers[last - MA_WINDOW + 1] == MA_WINDOW - 1
        total = 0.0
        for close in closes[last - MA_WINDOW + 1:last + 1] if window else ():
            total += close
        out["ma_50"] = total / MA_WINDOW if window else math.nan
    return out


def numbered(prices: pd.DataFrame) -> pd.DataFrame:
    """Prices on SPY's calendar: rows numbered by SPY's sessions, rows on other dates dropped."""
    days = np.sort(prices.loc[prices["ticker"] == BENCHMARK, "trade_date"].unique())
    calendar_no = pd.DataFrame({"trade_date": days, "session_no": np.arange(1, len(days) + 1)})
    return prices.merge(calendar_no, on="trade_date").sort_values(["ticker", "trade_date"], kind="stable")


def metrics_on(prices: pd.DataFrame, day: dt.date, horizons, with_ma: bool = False) -> pd.DataFrame:
    """ret_h, vol_20 (ma_50) and excess_h over SPY of every ticker with a row on `day`, indexed by ticker."""
    rows = {ticker: measures_at(series, horizons, with_ma)
            for ticker, series in numbered(prices).groupby("ticker", sort=True) if series["trade_date"].iloc[-1] == day}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    for h in horizons:
        frame[f"excess_{h}"] = frame[f"ret_{h}"] - frame.at[BENCHMARK, f"ret_{h}"] if BENCHMARK in frame.index \
            else math.nan
    return frame


# --- the steps -----------------------------------------------------------------------------------------------------
def collect_etf_prices(conn, source: MarketDataSource, universe: Universe, day: dt.date) -> None:
    tickers = list(universe.etfs)
    fetch_from = price_fetch_start(conn, DAILY_ETF_OHLC.name, tickers, day, TREND_LOOKBACK)
    fetched = source.daily_ohlc(tickers, fetch_from, day)
    refused, _ = refused_by_source(source)
    checked = validate_ohlc(fetched, partition_date=day, universe=tickers,
                            previous_close=previous_closes(conn, DAILY_ETF_OHLC.name, fetched))
    rows = checked.valid.assign(etf_role=checked.valid["ticker"].map(universe.role), source=source.name)
    store_collected(conn, DAILY_ETF_OHLC, rows, checked.rejected + refused, [(t, day) for t in tickers], day,
                    source.name)


def trending_etfs(conn, day: dt.date, rule: TrendRule) -> pd.DataFrame:
    """analytics_03 for `day`: written, and returned indexed by ticker."""
    history_from = calendar.session_before(day, TREND_LOOKBACK)
    prices = query(conn, "SELECT ticker, trade_date, etf_role, adj_close, source FROM collected_01_daily_etf_ohlc "
                         "WHERE trade_date BETWEEN %s AND %s", (history_from, day))
    frame = metrics_on(prices, day, HORIZONS, with_ma=True)
    today = prices[prices["trade_date"] == day].set_index("ticker")
    frame = frame.join(today[["etf_role", "adj_close", "source"]])
    frame["above_ma_50"] = pd.Series([None if math.isnan(ma) else bool(close > ma)
                                      for close, ma in zip(frame["adj_close"], frame["ma_50"])], index=frame.index)
    frame["score"] = [sum(row[f"excess_{h}"] * w for h, w in zip(HORIZONS, rule.horizon_weights))
                      for _, row in frame.iterrows()]
    frame["score_rank"] = None
    for _, role in frame.groupby("etf_role"):
        ranked = role[role["score"].notna()].assign(ticker=lambda r: r.index).sort_values(
            ["score", "ticker"], ascending=[False, True])
        frame.loc[ranked.index, "score_rank"] = list(range(1, len(ranked) + 1))
    sector = frame["etf_role"] == "sector"
    frame["is_trending"] = [bool(s and rank is not None and rank <= rule.top_n and above is True)
                            for s, rank, above in zip(sector, frame["score_rank"], frame["above_ma_50"])]
    any_trending = frame["is_trending"].any()

    def selection(ticker, row):
        if row.is_trending:
            return TRENDING
        if row.etf_role == "sector":
            if math.isnan(row.score):
                return NO_SCORE
            return NOT_TOP_N if row.score_rank > rule.top_n else BELOW_MA
        return SPY_HELD if ticker == BENCHMARK and not any_trending else BENCHMARK_ROLE

    frame["selection"] = [selection(ticker, row) for ticker, row in frame.iterrows()]
    frame = frame.assign(session_date=day, rule=rule.name, ticker=frame.index)
    replace_rows(conn, TRENDING_ETFS, day, day, frame)
    return frame


def collect_holdings(conn, source: MarketDataSource, day: dt.date, trending: list[str]) -> None:
    frames, requested = [], []
    for etf in trending:
        listed = source.etf_holdings(etf, day)
        if "as_of_date" not in listed.columns or listed.empty:
            listed = listed.assign(as_of_date=day)
        as_of = listed["as_of_date"].iloc[0] if not listed.empty else day
        if (etf, as_of) not in requested:
            requested.append((etf, as_of))
            frames.append(listed)
    if not frames:
        return
    checked = validate_holdings(pd.concat(frames, ignore_index=True), requested=requested)
    store_collected(conn, ETF_HOLDINGS, checked.valid.assign(source=source.name), checked.rejected,
                    [(etf, day) for etf in trending], day, source.name, every_session=False)


def collect_stock_prices(conn, source: MarketDataSource, day: dt.date, rule: AllocationRule) -> None:
    windows, ran = stock_price_windows(conn, [day], ALLOCATION_LOOKBACK, EVALUATION_SESSIONS,
                                       rule.max_holdings_age_days)
    through = windows_end(windows, day)
    tickers = sorted(windows)
    wanted = [(t, d) for t in tickers for d in ran if d >= day and in_windows(windows, t, d)]
    if not tickers:
        return
    fetch_from = price_fetch_start(conn, DAILY_STOCK_HISTORY.name, tickers, day, ALLOCATION_LOOKBACK)
    fetched = source.daily_ohlc(tickers, fetch_from, through)
    refused, _ = refused_by_source(source)
    checked = validate_ohlc(fetched, partition_date=through, universe=tickers,
                            previous_close=previous_closes(conn, DAILY_STOCK_HISTORY.name, fetched))
    valid = checked.valid
    kept = [in_windows(windows, t, d) for t, d in zip(valid["ticker"], valid["trade_date"])]
    store_collected(conn, DAILY_STOCK_HISTORY, valid.loc[kept].assign(source=source.name),
                    checked.rejected + refused, wanted, day, source.name)


def allocation(conn, day: dt.date, trend: pd.DataFrame, rule: AllocationRule) -> pd.DataFrame:
    """analytics_05 for `day`: written, and returned."""
    trending = sorted(trend.index[trend["is_trending"]])
    source = trend["source"].iloc[0]
    holdings = query(
        conn, "SELECT etf_ticker, as_of_date, holding_ticker FROM collected_04_etf_holdings AS h "
              "WHERE etf_ticker = ANY(%s) AND as_of_date = (SELECT max(as_of_date) FROM collected_04_etf_holdings "
              "  WHERE etf_ticker = h.etf_ticker AND as_of_date <= %s) AND as_of_date >= %s",
        (trending, day, day - dt.timedelta(days=rule.max_holdings_age_days)))
    universe = holdings.groupby("holding_ticker").agg(etfs=("etf_ticker", lambda e: sorted(set(e))),
                                                      holdings_as_of=("as_of_date", "max"))
    history_from = calendar.session_before(day, ALLOCATION_LOOKBACK)
    prices = query(conn, "SELECT ticker, trade_date, adj_close FROM collected_06_daily_stock_history "
                         "WHERE ticker = ANY(%s) AND trade_date BETWEEN %s AND %s "
                         "UNION ALL SELECT ticker, trade_date, adj_close FROM collected_01_daily_etf_ohlc "
                         "WHERE ticker = %s AND trade_date BETWEEN %s AND %s",
                   (list(universe.index), history_from, day, BENCHMARK, history_from, day))
    stocks = metrics_on(prices, day, PORTFOLIO_HORIZONS).drop(index=BENCHMARK).join(universe, how="inner") \
        if not universe.empty else pd.DataFrame()
    portfolios = []
    for h in PORTFOLIO_HORIZONS:
        if not trending:
            portfolios.append(pd.DataFrame([dict(ticker=BENCHMARK, weight=1.0, score=None, volatility=None,
                                                 source_etfs=BENCHMARK, method=FALLBACK_BENCHMARK, horizon=h)]))
            continue
        eligible = pd.DataFrame()
        if not stocks.empty:
            scored = stocks.assign(score=stocks[f"excess_{h}"] / stocks["vol_20"])
            eligible = scored[(scored["vol_20"] > 0) & (scored["score"] > 0)].sort_index()
        if len(eligible) >= rule.min_eligible:
            weights, note = capped_weights((eligible["score"] / eligible["vol_20"]).to_numpy(),
                                           list(eligible["etfs"]), rule.max_stock_weight, rule.max_etf_weight)
            portfolios.append(pd.DataFrame({
                "ticker": eligible.index, "weight": weights, "score": eligible["score"].to_numpy(),
                "volatility": eligible["vol_20"].to_numpy(), "source_etfs": [",".join(e) for e in eligible["etfs"]],
                "method": SCORE_INVERSE_VOL, "holdings_as_of": eligible["holdings_as_of"].to_numpy(),
                "constraint_note": note, "horizon": h}))
        else:
            etfs = trend.loc[trending]
            portfolios.append(pd.DataFrame({
                "ticker": trending, "weight": 1 / len(trending),
                "score": (etfs[f"excess_{h}"] / etfs["vol_20"]).to_numpy(), "volatility": etfs["vol_20"].to_numpy(),
                "source_etfs": trending, "method": FALLBACK_TRENDING_ETFS, "horizon": h}))
    frame = pd.concat(portfolios, ignore_index=True).assign(session_date=day, prices_as_of=day, source=source)
    replace_rows(conn, PORTFOLIO_ALLOCATION, day, day, frame)
    return frame


def performance(conn, day: dt.date) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dt.date]:
    """analytics_07 for the evaluations ending on `day` (and the stored later ones its allocations feed), with the
    running figures recomputed from the stored rows. Returns the rows, the allocations and prices read (shared with
    analytics_08) and the last evaluation session rewritten."""
    through = rewritten_through(
        day, conn.execute("SELECT max(evaluated_on) FROM analytics_07_portfolio_performance").fetchone()[0])
    history_from = calendar.session_before(day, BASELINES_LOOKBACK)  # analytics_08's, one session longer
    allocations = query(conn, "SELECT session_date, horizon, ticker, weight, method, source "
                              "FROM analytics_05_portfolio_allocation WHERE session_date BETWEEN %s AND %s",
                        (history_from, through))
    prices = query(conn, "SELECT ticker, trade_date, adj_close FROM collected_06_daily_stock_history "
                         "WHERE trade_date BETWEEN %s AND %s UNION ALL SELECT ticker, trade_date, adj_close "
                         "FROM collected_01_daily_etf_ohlc WHERE trade_date BETWEEN %s AND %s",
                   (history_from, through) * 2)
    closes = prices.pivot(index="trade_date", columns="ticker", values="adj_close")
    sessions = sorted(prices.loc[prices["ticker"] == BENCHMARK, "trade_date"])
    position = {d: i for i, d in enumerate(sessions)}
    rows = []
    for (held_on, horizon, source), held in allocations.groupby(["session_date", "horizon", "source"], sort=True):
        i = position.get(held_on)
        if i is None or i + horizon >= len(sessions) or not (day <= sessions[i + horizon] <= through):
            continue
        ends = sessions[i + horizon]
        held = held.sort_values("ticker")
        entry = closes.loc[held_on].reindex(held["ticker"]).to_numpy()
        exit_ = closes.loc[ends].reindex(held["ticker"]).to_numpy()
        priced = ~(np.isnan(entry) | np.isnan(exit_))
        total = 0.0
        for weight, gain in zip(held["weight"][priced], exit_[priced] / entry[priced] - 1):
            total += weight * gain
        status = UNPRICED if not priced.all() else (
            BENCHMARK_HELD if (held["method"] == FALLBACK_BENCHMARK).any() else EVALUATED)
        benchmark_return = closes.at[ends, BENCHMARK] / closes.at[held_on, BENCHMARK] - 1
        portfolio_return = None if status == UNPRICED else total
        excess = None if portfolio_return is None else portfolio_return - benchmark_return
        rows.append(dict(
            evaluated_on=ends, session_date=held_on, horizon=horizon, holdings=len(held), status=status,
            method=held["method"].iloc[0],
            unpriced_tickers=",".join(held["ticker"][~priced]) if status == UNPRICED else None,
            portfolio_return=portfolio_return, benchmark_return=benchmark_return, excess_return=excess,
            hit=bool(excess > 0) if status == EVALUATED else None, source=source))
    frame = pd.DataFrame(rows)
    replace_rows(conn, PORTFOLIO_PERFORMANCE, day, through, frame)
    refresh_running_figures(conn)
    return frame, allocations, prices, through


def baselines(conn, day: dt.date, evaluated: pd.DataFrame, allocations: pd.DataFrame, prices: pd.DataFrame,
              through: dt.date, costs: CostRule) -> None:
    """analytics_08 from the evaluations just written ([day, through]), and the running figures over every stored row
    from `day` on."""
    evaluated = evaluated[evaluated["status"] != UNPRICED] if not evaluated.empty else evaluated
    last_stored = conn.execute("SELECT max(evaluated_on) FROM analytics_08_portfolio_baselines").fetchone()[0]
    last = max(through, last_stored) if last_stored else through
    history_from = calendar.session_before(day, BASELINES_LOOKBACK)
    trending = query(conn, "SELECT session_date, ticker FROM analytics_03_trending_etfs "
                           "WHERE is_trending AND session_date BETWEEN %s AND %s", (history_from, through))
    turnover = query(conn, f"SELECT session_date, horizon, turnover FROM {PORTFOLIO_TURNOVER_BETWEEN}(%s, %s)",
                     (history_from, through))
    turnover = {(d, h): t for d, h, t in turnover.itertuples(index=False)}
    closes = prices[prices["ticker"].isin(trending["ticker"]) | prices["ticker"].isin(SECTOR_ETFS)
                    | (prices["ticker"] == BENCHMARK)].pivot(index="trade_date", columns="ticker", values="adj_close")
    rows = []
    for row in evaluated.itertuples(index=False):
        def mean_return(tickers):
            returns = [closes.at[row.evaluated_on, t] / closes.at[row.session_date, t] - 1 for t in tickers]
            returns = [r for r in returns if not math.isnan(r)]
            total = 0.0
            for r in returns:
                total += r
            return total / len(returns) if returns else math.nan

        held = allocations[(allocations["session_date"] == row.session_date) & (allocations["horizon"] == row.horizon)]
        if held.empty:
            continue
        method = held["method"].min()
        chosen = sorted(trending.loc[trending["session_date"] == row.session_date, "ticker"])
        trending_return = row.benchmark_return if method == FALLBACK_BENCHMARK else mean_return(chosen)
        sector_return = mean_return(SECTOR_ETFS)
        if math.isnan(trending_return) or math.isnan(sector_return):
            continue
        changed = turnover.get((row.session_date, row.horizon))
        changed = math.nan if changed is None else changed
        rows.append(dict(
            evaluated_on=row.evaluated_on, session_date=row.session_date, horizon=row.horizon, method=method,
            holdings=row.holdings, portfolio_return=row.portfolio_return, trending_etfs_return=trending_return,
            sector_etfs_return=sector_return, spy_return=row.benchmark_return, turnover=changed,
            cost_per_turnover=costs.cost_per_turnover,
            net_return=row.portfolio_return - costs.cost_per_turnover * (0.0 if math.isnan(changed) else changed),
            source=row.source,
            **{f"excess_vs_{b}": row.portfolio_return - (trending_return, sector_return, row.benchmark_return)[k]
               for k, b in enumerate(BASELINES)}))
    # The running figures restart with each of analytics_07's tracks, which it has just brought up to date.
    tracks = query(conn, f"SELECT evaluated_on, horizon, {TRACK} FROM analytics_07_portfolio_performance "
                         "WHERE evaluated_on BETWEEN %s AND %s", (day, through))
    stored = query(conn, f"SELECT {', '.join(f'b.{c}' for c in ROW_COLUMNS)}, p.{TRACK} "
                         "FROM analytics_08_portfolio_baselines b "
                         "JOIN analytics_07_portfolio_performance p USING (evaluated_on, horizon) "
                         "WHERE b.evaluated_on < %s OR b.evaluated_on > %s", (day, through))
    new = pd.DataFrame(rows)
    new = new.merge(tracks, on=["evaluated_on", "horizon"]) if not new.empty else new
    parts = [frame for frame in (stored, new) if not frame.empty]
    if not parts:
        replace_rows(conn, PORTFOLIO_BASELINES, day, last, pd.DataFrame())
        return
    every = pd.concat(parts, ignore_index=True)
    out = []
    for (horizon, _), one in every.groupby(["horizon", TRACK], sort=True):
        one = one.sort_values("evaluated_on").reset_index(drop=True)
        per_session = 1.0 / horizon
        one["evaluations"] = np.arange(1, len(one) + 1)
        for b in BASELINES:
            one[f"hit_rate_vs_{b}"] = (one[f"excess_vs_{b}"] > 0).astype(int).cumsum() / one["evaluations"]
        for column, name in [("portfolio_return", "cumulative_return"), ("net_return", "cumulative_net_return"),
                             *[(f"{b}_return", f"cumulative_{b}_return") for b in BASELINES]]:
            growth, curve = 0.0, []
            for r in one[column].astype(float):
                growth += math.log1p(r) * per_session
                curve.append(math.exp(growth) - 1)
            one[name] = curve
        rates = [(1 + r) ** per_session - 1 for r in one["portfolio_return"].astype(float)]
        one["annualized_volatility"] = [deviation * math.sqrt(TRADING_SESSIONS_PER_YEAR)
                                        for deviation in running_stddev(rates)]
        peak, worst, drawdowns = -math.inf, math.inf, []
        for value in one["cumulative_return"]:
            peak = max(peak, 1 + value)
            worst = min(worst, min(0.0, (1 + value) / max(1.0, peak) - 1))
            drawdowns.append(worst)
        one["max_drawdown"] = drawdowns
        out.append(one)
    frame = pd.concat(out, ignore_index=True)
    replace_rows(conn, PORTFOLIO_BASELINES, day, last, frame[frame["evaluated_on"] >= day])


def night(database_url: str, day: dt.date, source: MarketDataSource, universe: Universe) -> None:
    """The whole night for one session, each table's write in its own transaction as the pipeline's steps are."""
    rule, allocation_rule = TrendRule(), AllocationRule()
    with psycopg.connect(database_url) as conn:
        with conn.transaction():
            collect_etf_prices(conn, source, universe, day)
        with conn.transaction():
            trend = trending_etfs(conn, day, rule)
        with conn.transaction():
            collect_holdings(conn, source, day, sorted(trend.index[trend["is_trending"]]))
        with conn.transaction():
            collect_stock_prices(conn, source, day, allocation_rule)
        with conn.transaction():
            allocation(conn, day, trend, allocation_rule)
        with conn.transaction():
            evaluated, allocations, prices, through = performance(conn, day)
        with conn.transaction():
            baselines(conn, day, evaluated, allocations, prices, through, CostRule())
