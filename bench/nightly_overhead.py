"""Benchmarks 2 and 2b: the nightly run against a bare Spark start and against a plain script doing the same work
(see bench/nightly.py for what is run and how).

    uv run python -m bench.nightly_overhead
"""

from bench import nightly
from bench.common import run_main

if __name__ == "__main__":
    run_main(lambda services: nightly.measure(services, {nightly.NIGHTLY, nightly.PLAIN}))
