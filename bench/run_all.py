"""Every benchmark, one after the other, each group on a fresh embedded stack; one report and one exit code.

    uv run python -m bench.run_all [--skip 5,7]

The nightly run is measured once and serves as the yardstick of benchmarks 3 and 4 and the sample of benchmark 6.
Exits 1 when any measured target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import traceback

from bench import analytics_scale, kafka_ingest, long_backfill, nightly, wide_universe, yahoo_budget
from bench.common import Outcome, bench_services, git_commit, machine, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip", default="", help="comma-separated benchmark numbers to leave out, e.g. 2b,5,7")
    args = parser.parse_args()
    skip = {int(n) if n.strip().isdigit() else n.strip() for n in args.skip.split(",") if n.strip()}
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine_line, commit = machine(), git_commit()
    groups = [
        ({2, "2b", 3, 4, 6}, lambda services: nightly.measure(services, {2, "2b", 3, 4, 6} - skip)),
        ({"2c", "2d"}, nightly.measure_connect),
        ({1}, lambda services: kafka_ingest.measure(services, kafka_ingest.DEFAULT_ROWS, profile=False)),
        ({5}, lambda services: analytics_scale.measure(services, 200, 5000, 10)),
        ({7}, yahoo_budget.measure),
        ({9}, lambda services: wide_universe.measure(services, 2, wide_universe.WIDE_HOLDINGS)),
        ({"4b"}, lambda services: long_backfill.measure(services, long_backfill.DEFAULT_START,
                                                         long_backfill.DEFAULT_END)),
    ]
    outcomes = []
    for numbers, benchmark in groups:
        if numbers <= skip:
            continue
        try:
            with bench_services() as services:
                outcomes += benchmark(services)
        except Exception as error:  # one broken benchmark must not lose the others' figures
            traceback.print_exc()
            outcomes += [Outcome(n, "benchmark failed", "see the error", None, "—", False, notes=[repr(error)[:500]])
                         for n in sorted(numbers - skip, key=str)]
    sys.exit(report(sorted(outcomes, key=lambda o: str(o.number)), started, machine_line, commit))


if __name__ == "__main__":
    main()
