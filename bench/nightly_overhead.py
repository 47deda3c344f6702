"""Benchmark 2. nightly overhead (see bench/nightly.py for what is run and how).

    uv run python -m bench.nightly_overhead
"""

from bench import nightly
from bench.common import run_main

if __name__ == "__main__":
    run_main(lambda services: nightly.measure(services, {nightly.NIGHTLY}))
