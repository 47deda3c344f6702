"""Benchmark 9. a wider universe: the nightly run (one session, NIGHT, a year of history in the tables) at 100 holdings
per ETF from the synthetic source (1,099 stocks) against the same night at the default 10 (109 stocks), each in a fresh
process, in interleaved pairs in ABBA order so that a load that rises or falls weighs on both sides alike; the ratio of
the sums. Each run's history holds the same universe as the run (`TRENDFOLIO_HOLDINGS_PER_ETF` for both).

    uv run python -m bench.wide_universe [--pairs 2] [--holdings 100]
"""

from __future__ import annotations

import argparse

from bench.common import Outcome, Services, run_main, seconds, within
from bench.nightly import source_note, steps
from bench.pipeline import NIGHT, SESSIONS_PER_YEAR, describe_history, nightly_run, synthetic_stocks
from trendfolio.universe import HOLDINGS_PER_ETF

WIDE_HOLDINGS = 100
TARGET = 1.5  # ten times the stocks for at most half again the time: the night's cost is not per stock


def measure(services: Services, pairs: int, holdings: int) -> list[Outcome]:
    default_runs, wide_runs, histories = [], [], {}
    for pair in range(pairs):
        order = (HOLDINGS_PER_ETF, holdings) if pair % 2 == 0 else (holdings, HOLDINGS_PER_ETF)
        for count in order:
            run, histories[count] = nightly_run(services, SESSIONS_PER_YEAR, count)
            (default_runs if count == HOLDINGS_PER_ETF else wide_runs).append(run)
    ratio = sum(r.seconds for r in wide_runs) / sum(r.seconds for r in default_runs)
    stocks = {count: len(synthetic_stocks(count)) for count in (HOLDINGS_PER_ETF, holdings)}
    return [Outcome(
        9, "wider universe",
        f"wall time of daily_pipeline for one session ({NIGHT}) at {holdings} holdings per ETF against the default "
        f"{HOLDINGS_PER_ETF}, {pairs} interleaved pairs (ABBA); the ratio of the sums",
        ratio, f"≤ {TARGET} ×", within(ratio, TARGET),
        {f"{holdings} holdings per ETF ({stocks[holdings]:,} stocks), each run":
         ", ".join(seconds(r.seconds) for r in wide_runs),
         f"{HOLDINGS_PER_ETF} holdings per ETF ({stocks[HOLDINGS_PER_ETF]} stocks), each run":
         ", ".join(seconds(r.seconds) for r in default_runs),
         **steps(default_runs[0], f"{HOLDINGS_PER_ETF}: "), **steps(wide_runs[0], f"{holdings}: ")},
        [source_note(),
         *(f"history at {count} holdings per ETF: {describe_history(rows)} rows" for count, rows in histories.items()),
         "each run in a fresh Python process (cold JVM) on a fresh database; imports excluded"],
    )]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2, help="pairs of runs (default 2: ABBA)")
    parser.add_argument("--holdings", type=int, default=WIDE_HOLDINGS, help="holdings per ETF of the wide side")
    arguments = parser.parse_args()
    run_main(lambda services: measure(services, arguments.pairs, arguments.holdings))
