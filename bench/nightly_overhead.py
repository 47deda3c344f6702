"""Benchmarks 2 and 2b: the nightly run against a bare Spark start and against a plain script doing the same work,
then the same two (2c, 2d) with the night's analytics on a Spark Connect server started with the stack (see
bench/nightly.py for what is run and how).

    uv run python -m bench.nightly_overhead
"""

from bench import nightly
from bench.common import run_main

if __name__ == "__main__":
    run_main(lambda services: nightly.measure(services, {nightly.NIGHTLY, nightly.PLAIN})
             + nightly.measure_connect(services))
