"""Operator mistakes through the CLI's entry point: each stops with exit code 2 and one line on stderr that names the
cause, before any service starts or any row is written (no traceback, no "market closed" for a date the calendar does
not know). None needs a service: the check comes first. In process (`trendfolio.cli.main`), with the environment
restored afterwards; a subprocess per case would spend most of its time importing Dagster."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from unittest import mock

import pytest

from trendfolio import calendar
from trendfolio_app.cli import main

OPERATOR_SETTINGS = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SPARK_MASTER_URL", "TRENDFOLIO_SOURCE",
                     "TRENDFOLIO_HOME", "DAGSTER_HOME", "TRENDFOLIO_BENCHMARK_ETFS", "TRENDFOLIO_SECTOR_ETFS",
                     "TRENDFOLIO_HOLDINGS_PER_ETF")


@pytest.fixture
def cli(capsys):
    def run(tmp_path, *argv: str, **overrides) -> subprocess.CompletedProcess:
        with mock.patch.dict(os.environ):  # main() fills the defaults in: put everything back afterwards
            for key in OPERATOR_SETTINGS:
                os.environ.pop(key, None)
            # Ports nothing listens on: a check that came too late would fail on them instead, with another message.
            os.environ.update({"TRENDFOLIO_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster"),
                               "TRENDFOLIO_PG_PORT": "1", "TRENDFOLIO_KAFKA_PORT": "1", **overrides})
            code = main(list(argv))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, out.out, out.err)

    return run


def one_line(result: subprocess.CompletedProcess, code: int, expected: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stdout + result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr + result.stdout, result.stderr
    assert lines[0].startswith("trendfolio: ") and expected in lines[0], lines[0]
    return lines[0]


def nothing_started(result: subprocess.CompletedProcess, tmp_path) -> None:
    assert "postgres:" not in result.stdout and "running daily_pipeline" not in result.stdout, result.stdout
    assert not (tmp_path / "home" / "pgdata").exists()


def first_future_session() -> dt.date:
    from assets.partitions import nyse_sessions

    last = dt.date.fromisoformat(nyse_sessions.get_last_partition_key())
    return calendar.sessions_between(last + dt.timedelta(days=1), last + dt.timedelta(days=10))[0]


SETTING_CASES = {
    "misspelt_source": ({"TRENDFOLIO_SOURCE": "replya"},
                        "TRENDFOLIO_SOURCE='replya' is not a market-data source: use synthetic, replay, yfinance"),
    "garbage_spark_master": ({"SPARK_MASTER_URL": "garbage"},
                             "SPARK_MASTER_URL='garbage' is not a Spark master"),
    "unreachable_spark_master": ({"SPARK_MASTER_URL": "spark://127.0.0.1:1"},
                                 "SPARK_MASTER_URL=spark://127.0.0.1:1: no Spark master answers"),
    "holdings_beyond_yahoos_list": ({"TRENDFOLIO_SOURCE": "yfinance", "TRENDFOLIO_HOLDINGS_PER_ETF": "50"},
                                    "TRENDFOLIO_HOLDINGS_PER_ETF=50: the yfinance source lists at most 10"),
    "sector_list_without_commas": ({"TRENDFOLIO_SECTOR_ETFS": "XLK XLE"},
                                   "TRENDFOLIO_SECTOR_ETFS='XLK XLE' is not a comma-separated list of tickers"),
}


@pytest.mark.parametrize("case", list(SETTING_CASES))
def test_a_setting_that_cannot_work_stops_the_run_before_the_stack_starts(cli, tmp_path, case):
    overrides, expected = SETTING_CASES[case]
    result = cli(tmp_path, "run", "--date", "2026-11-25", **overrides)
    one_line(result, 2, expected)
    nothing_started(result, tmp_path)


def test_a_date_beyond_the_calendar_is_not_a_closed_market(cli, tmp_path):
    beyond = calendar.nyse().last_session.date() + dt.timedelta(days=400)
    result = cli(tmp_path, "run", "--date", beyond.isoformat())
    one_line(result, 2, f"{beyond} is beyond the NYSE calendar, which knows sessions through")
    assert "market was closed" not in result.stdout
    nothing_started(result, tmp_path)


def test_a_future_session_says_so_instead_of_an_unknown_partition(cli, tmp_path):
    future = first_future_session()
    result = cli(tmp_path, "run", "--date", future.isoformat())
    line = one_line(result, 2, f"{future} is in the future: the latest session that can run is")
    assert "DagsterUnknownPartitionError" not in line
    nothing_started(result, tmp_path)


def test_a_closed_market_still_exits_zero(cli, tmp_path):
    result = cli(tmp_path, "run", "--date", "2026-11-26")  # Thanksgiving
    assert result.returncode == 0 and "not an NYSE session" in result.stdout, result.stdout + result.stderr


def test_a_backfill_before_the_first_partition_is_refused_before_anything_runs(cli, tmp_path):
    from assets.partitions import PARTITIONS_START

    result = cli(tmp_path, "backfill", "--start", "1999-01-04", "--end", "1999-06-30")
    one_line(result, 2, f"1999-01-04 is before the first partition, {PARTITIONS_START}")
    nothing_started(result, tmp_path)
    assert "Re-running the same range is safe" not in result.stdout + result.stderr


def test_a_backfill_into_the_future_is_refused_before_anything_runs(cli, tmp_path):
    future = first_future_session()
    result = cli(tmp_path, "backfill", "--start", "2026-11-02", "--end", future.isoformat())
    one_line(result, 2, f"{future} is in the future")
    nothing_started(result, tmp_path)


def test_a_ten_year_backfill_prints_its_estimate_first(cli, tmp_path):
    result = cli(tmp_path, "backfill", "--start", "2010-01-04", "--end", "2019-12-31", "--dry-run")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    sessions = len(calendar.sessions_between(dt.date(2010, 1, 4), dt.date(2019, 12, 31)))
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"estimate: {sessions} sessions, about ") and " min " in first, first
    nothing_started(result, tmp_path)


def test_trendfolio_home_that_cannot_hold_data(cli, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    for home, expected in ((f"/proc/trendfolio-{os.getpid()}", "cannot keep the stack's data in /proc/"),
                           (str(a_file), f"TRENDFOLIO_HOME: {a_file} is a file, not a folder")):
        result = cli(tmp_path, "run", "--date", "2026-11-25", TRENDFOLIO_HOME=home)
        one_line(result, 2, expected)
