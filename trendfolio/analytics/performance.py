"""Did it work? The realized return of each allocation once its horizon has elapsed, against SPY over the same sessions.

A row is keyed by the session its horizon ends on (`evaluated_on`, the partition): the nightly run of session E
evaluates the portfolios built 5, 10 and 20 sessions before E. Every such allocation gets a row: `status` says whether
it was `evaluated`, held the benchmark (`benchmark_held`: a tie, outside hits and hit rate) or could not be priced
(`unpriced`, with the tickers missing a price). The running figures (evaluations, hits, hit_rate, the counts of the
other statuses, the cumulative curves) are not computed here: `running_figures_sql` recomputes them from the stored
rows after every write (ARCHITECTURE.md, "Realized performance"), so they do not depend on the order runs happened in.
"""

from __future__ import annotations

import datetime as dt

import psycopg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from trendfolio import calendar
from trendfolio.analytics.allocation import FALLBACK_BENCHMARK, PORTFOLIO_HORIZONS
from trendfolio.analytics.trending import session_numbers
from trendfolio.tables import PORTFOLIO_PERFORMANCE

# Sessions of allocations and prices one evaluation needs before its `evaluated_on`.
LOOKBACK_SESSIONS = max(PORTFOLIO_HORIZONS)
EVALUATED, BENCHMARK_HELD, UNPRICED = "evaluated", "benchmark_held", "unpriced"
TABLE = PORTFOLIO_PERFORMANCE.name


def rewritten_through(end: dt.date, evaluated_through: dt.date | None) -> dt.date:
    """The last evaluation session a run over a range ending at `end` rewrites, given the last one stored: the
    range's allocations are evaluated up to LOOKBACK_SESSIONS after `end`, so the evaluations stored up to then depend
    on it (and so do analytics_08's rows of those evaluations)."""
    if evaluated_through is None:
        return end
    return min(max(end, evaluated_through), calendar.session_after(end, LOOKBACK_SESSIONS))


def realized_performance(
    allocations: DataFrame, prices: DataFrame, benchmark_prices: DataFrame, start: dt.date, end: dt.date,
) -> DataFrame:
    """`allocations`: session_date, horizon, ticker, weight, method, source (analytics_05). `prices`: ticker,
    trade_date, adj_close of every ticker an allocation may hold (stocks and ETFs). `benchmark_prices`: SPY's rows,
    which number the sessions. Returns one row per allocation whose horizon ends in [start, end], without the running
    columns."""
    sessions = session_numbers(benchmark_prices)
    ends = sessions.select(F.col("trade_date").alias("evaluated_on"), F.col("session_no").alias("end_no"))
    held = (
        allocations.join(sessions.withColumnRenamed("trade_date", "session_date"), "session_date")
        .join(ends, F.col("end_no") == F.col("session_no") + F.col("horizon"))
        .where(F.col("evaluated_on").between(F.lit(start), F.lit(end)))
    )
    price_at = prices.select("ticker", "trade_date", "adj_close")
    held = (
        held.join(price_at.select("ticker", F.col("trade_date").alias("session_date"),
                                  F.col("adj_close").alias("entry_price")), ["ticker", "session_date"], "left")
        .join(price_at.select("ticker", F.col("trade_date").alias("evaluated_on"),
                              F.col("adj_close").alias("exit_price")), ["ticker", "evaluated_on"], "left")
    )
    priced = F.col("entry_price").isNotNull() & F.col("exit_price").isNotNull()
    keys = ["evaluated_on", "session_date", "horizon", "source"]
    portfolios = held.groupBy(*keys).agg(
        F.count("*").alias("holdings"),
        F.sum(F.when(~priced, 1).otherwise(0)).alias("missing"),
        F.array_join(F.array_sort(F.collect_list(F.when(~priced, F.col("ticker")))), ",").alias("missing_tickers"),
        F.max(F.when(F.col("method") == FALLBACK_BENCHMARK, 1).otherwise(0)).alias("is_benchmark"),
        F.first("method").alias("first_method"),
        F.sum(F.col("weight") * (F.col("exit_price") / F.col("entry_price") - 1)).alias("priced_return"),
    )
    bench = benchmark_prices.select("trade_date", "adj_close")
    status = (F.when(F.col("missing") > 0, F.lit(UNPRICED))
              .when(F.col("is_benchmark") == 1, F.lit(BENCHMARK_HELD)).otherwise(F.lit(EVALUATED)))
    portfolio_return = F.when(F.col("status") != UNPRICED, F.col("priced_return"))
    return (
        portfolios.join(bench.select(F.col("trade_date").alias("session_date"), F.col("adj_close").alias("b0")),
                        "session_date")
        .join(bench.select(F.col("trade_date").alias("evaluated_on"), F.col("adj_close").alias("b1")), "evaluated_on")
        .withColumn("status", status)
        .withColumn("portfolio_return", portfolio_return)
        .withColumn("benchmark_return", F.col("b1") / F.col("b0") - 1)
        .withColumn("excess_return", F.col("portfolio_return") - F.col("benchmark_return"))
        .select(
            "evaluated_on", "session_date", F.col("horizon").cast("short").alias("horizon"),
            F.col("holdings").cast("int").alias("holdings"), "status",
            F.col("first_method").alias("method"),
            F.when(F.col("status") == UNPRICED, F.col("missing_tickers")).alias("unpriced_tickers"),
            "portfolio_return", "benchmark_return", "excess_return",
            # A benchmark-held allocation is a tie (excess exactly 0), an unpriced one has no result: neither is a hit.
            F.when(F.col("status") == EVALUATED, F.col("excess_return") > 0).alias("hit"),
            "source",
        )
    )


def tracks(evaluated_on: list[dt.date]) -> list[dt.date]:
    """For one horizon's evaluation sessions in ascending order: the first session of the uninterrupted track each
    belongs to. A session whose previous NYSE session has no row (a range never run) starts a new track."""
    if not evaluated_on:
        return []
    every = calendar.sessions_between(evaluated_on[0], evaluated_on[-1])
    position = {day: i for i, day in enumerate(every)}
    starts, start, previous = [], evaluated_on[0], None
    for day in evaluated_on:
        if previous is None or position[day] != position[previous] + 1:
            start = day
        starts.append(start)
        previous = day
    return starts


# The running figures of every row, from the stored rows of its horizon and track up to its evaluated_on.
RUNNING_FIGURES_SQL = f"""
WITH running AS (
    SELECT evaluated_on, horizon,
           count(*) FILTER (WHERE status = '{EVALUATED}') OVER track AS evaluations,
           count(*) FILTER (WHERE status = '{EVALUATED}' AND hit) OVER track AS hits,
           count(*) FILTER (WHERE status = '{BENCHMARK_HELD}') OVER track AS benchmark_held,
           count(*) FILTER (WHERE status = '{UNPRICED}') OVER track AS unpriced,
           exp(coalesce(sum(ln(1 + portfolio_return) / horizon) FILTER (WHERE status <> '{UNPRICED}') OVER track, 0))
               - 1 AS cumulative_return,
           exp(coalesce(sum(ln(1 + benchmark_return) / horizon) FILTER (WHERE status <> '{UNPRICED}') OVER track, 0))
               - 1 AS cumulative_benchmark_return
    FROM {TABLE}
    WINDOW track AS (PARTITION BY horizon, track_start ORDER BY evaluated_on ROWS UNBOUNDED PRECEDING)
)
UPDATE {TABLE} AS t
SET evaluations = r.evaluations, hits = r.hits, benchmark_held = r.benchmark_held, unpriced = r.unpriced,
    hit_rate = r.hits::double precision / nullif(r.evaluations, 0),
    cumulative_return = r.cumulative_return, cumulative_benchmark_return = r.cumulative_benchmark_return
FROM running AS r
WHERE t.evaluated_on = r.evaluated_on AND t.horizon = r.horizon
  AND (t.evaluations, t.hits, t.benchmark_held, t.unpriced, t.hit_rate, t.cumulative_return,
       t.cumulative_benchmark_return)
      IS DISTINCT FROM (r.evaluations, r.hits, r.benchmark_held, r.unpriced,
                        r.hits::double precision / nullif(r.evaluations, 0), r.cumulative_return,
                        r.cumulative_benchmark_return)
"""


def refresh_running_figures(conn: psycopg.Connection) -> int:
    """Recompute `track_start` and the running figures of every stored row (a few rows per session: the table stays
    small), inside the caller's transaction. Serialized by a transaction-level advisory lock, so two writes of
    different ranges cannot each miss the other's rows. Returns the number of rows whose running figures changed."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{TABLE}.running_figures",))
    rows = conn.execute(f"SELECT horizon, evaluated_on FROM {TABLE} ORDER BY horizon, evaluated_on").fetchall()
    horizons, days, starts = [], [], []
    for horizon in sorted({h for h, _ in rows}):
        mine = [day for h, day in rows if h == horizon]
        horizons += [horizon] * len(mine)
        days += mine
        starts += tracks(mine)
    conn.execute(
        f"UPDATE {TABLE} AS t SET track_start = s.track_start "
        "FROM unnest(%s::smallint[], %s::date[], %s::date[]) AS s(horizon, evaluated_on, track_start) "
        "WHERE t.horizon = s.horizon AND t.evaluated_on = s.evaluated_on "
        "AND t.track_start IS DISTINCT FROM s.track_start",
        (horizons, days, starts),
    )
    return conn.execute(RUNNING_FIGURES_SQL).rowcount
