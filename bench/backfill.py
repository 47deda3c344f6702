"""Benchmark 4. backfill amortization (see bench/nightly.py for what is run and how).

    uv run python -m bench.backfill
"""

from bench import nightly
from bench.common import run_main

if __name__ == "__main__":
    run_main(lambda services: nightly.measure(services, {nightly.BACKFILL}))
