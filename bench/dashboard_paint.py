"""Benchmark 8: how soon the dashboard shows something, on a warehouse that already holds data (a year of sessions).

    TRENDFOLIO_SOURCE=replay uv run trendfolio backfill --start 2021-08-02 --end 2022-08-01   # once, a year of data
    uv run python -m bench.dashboard_paint [--database-url URL] [--loads 5]

Serves the API and dashboard in this process (uvicorn, as `trendfolio api` does) over the warehouse as the read-only
role, opens /dashboard in headless Chromium `--loads` times, each with a fresh profile (no cache), and reads the
browser's own timings: first contentful paint (the session's trending sectors and ranking table, as text), the first
chart drawn (the ranking, `data-first-chart-ms`: plotly.js parsed), and the whole page ready. Target: the median first
contentful paint within 1 s; the first chart and page ready are recorded beside it."""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import uvicorn

from api.app import create_app
from api.database import api_database_url
from bench.common import Outcome, git_commit, machine, report
from trendfolio import stack
from trendfolio.devtools.headless_chromium import HeadlessChromium, chromium_binary

TARGET_MS = 1000
TIMINGS = ("({ paint: Math.round((performance.getEntriesByType('paint').find(e => e.name === "
           "'first-contentful-paint') || {}).startTime), chart: Number(document.body.dataset.firstChartMs), "
           "ready: Math.round(performance.now()) })")


def serve(database_url: str) -> tuple[uvicorn.Server, str]:
    server = uvicorn.Server(uvicorn.Config(create_app(database_url), host="127.0.0.1", port=stack.free_port(),
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("uvicorn did not start within 60 s")
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{server.config.port}"


def load_once(binary: str, url: str) -> dict:
    with tempfile.TemporaryDirectory() as profile:
        browser = HeadlessChromium(binary, Path(profile))
        try:
            browser.navigate(url)
            state = browser.wait_for("document.body.dataset.state !== 'loading' && document.body.dataset.state", 120)
            if state != "ready":
                errors = browser.evaluate("document.getElementById('errors').textContent")
                raise SystemExit(f"the dashboard did not load: {errors}")
            return browser.evaluate(TIMINGS)
        finally:
            browser.close()


def data_span(database_url: str) -> tuple[int, dt.date, dt.date]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(DISTINCT session_date), min(session_date), max(session_date) "
                            "FROM analytics_03_trending_etfs").fetchone()


def benchmark(database_url: str, loads: int) -> Outcome:
    binary = chromium_binary()
    if binary is None:
        raise SystemExit("Chromium is not installed: `bash scripts/setup.sh --with-browser` installs Debian's chromium")
    sessions, first, last = data_span(database_url)
    server, base = serve(database_url)
    try:
        load_once(binary, base + "/dashboard")  # warm-up: the server's first requests import and connect
        runs = [load_once(binary, base + "/dashboard") for _ in range(loads)]
    finally:
        server.should_exit = True
    median = {key: statistics.median(run[key] for run in runs) for key in ("paint", "chart", "ready")}
    return Outcome(
        number=8, name="dashboard first paint", figure=median["paint"] / 1000, target=f"≤ {TARGET_MS / 1000:g} s",
        measured_as="median over fresh-profile loads of /dashboard in headless Chromium: first contentful paint "
                    "(the first chart and the whole page ready beside it)",
        passed=median["paint"] <= TARGET_MS,
        details={"data": f"{sessions} sessions, {first} … {last}", "loads": str(loads),
                 "first contentful paint (median)": f"{median['paint']:.0f} ms",
                 "first chart (median)": f"{median['chart']:.0f} ms",
                 "page ready (median)": f"{median['ready']:.0f} ms",
                 "first chart, each load": ", ".join(f"{run['chart']:.0f}" for run in runs)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="the warehouse as the API role (default: API_DATABASE_URL"
                                                             " or the embedded server's)")
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine_line, commit = machine(), git_commit()
    sys.exit(report([benchmark(args.database_url or api_database_url(), args.loads)], started, machine_line, commit))


if __name__ == "__main__":
    main()
