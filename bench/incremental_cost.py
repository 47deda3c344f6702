"""Benchmark 3. incremental cost (see bench/nightly.py for what is run and how).

    uv run python -m bench.incremental_cost
"""

from bench import nightly
from bench.common import run_main

if __name__ == "__main__":
    run_main(lambda services: nightly.measure(services, {nightly.INCREMENTAL}))
