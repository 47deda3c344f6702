"""The analytics through a Spark Connect server (TRENDFOLIO_SPARK_CONNECT) give the same tables as Spark in the run's
own process: a range of sessions (the range settings) then a night (the night's), each way on its own database, every
pipeline table compared cell by cell. Real PostgreSQL, broker, Spark and a real Connect server started by the stack's
own code on a free port; no mock."""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import pytest
from conftest import new_warehouse, pipeline_resources
from test_order_independence import run, tables

from resources import SparkResource
from resources import spark as spark_resource
from trendfolio import calendar, settings, stack

pytestmark = pytest.mark.integration

RANGE = calendar.sessions_between(dt.date(2026, 8, 12), dt.date(2026, 11, 17))  # 69: past the small-range settings
NIGHT = dt.date(2026, 11, 18)


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    with stack.private_spark_connect(tmp_path_factory.mktemp("spark-connect")) as server:
        yield server
    assert not server.is_running() and not server.pid_file.exists()


@pytest.fixture
def connect_mode():
    """A Connect session switches the process to Connect mode (`SparkResource._connect`); the rest of the suite runs
    Spark in local mode in this same process, so the switch is undone afterwards."""
    yield
    spark_resource._disconnect()
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)


def test_a_range_and_a_night_through_spark_connect_equal_local_mode(services, connect_server, connect_mode):
    assert len(RANGE) > spark_resource.SMALL_RANGE_SESSIONS
    with new_warehouse(services) as local, new_warehouse(services) as connected:
        for warehouse, spark in ((local, SparkResource()), (connected, SparkResource(remote=connect_server.url()))):
            resources = {**pipeline_resources(warehouse), "spark": spark}
            run(resources, RANGE[0], RANGE[-1])
            run(resources, NIGHT, NIGHT)
        assert spark_resource._CONNECTED, "the Connect runs did not go through a Connect session"
        expected, got = tables(local), tables(connected)
    for name, frame in expected.items():
        assert len(frame) > 0 or name.startswith("ops_"), f"{name} is empty: nothing was compared"
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True, obj=name)


def test_a_session_the_server_closed_makes_way_for_a_new_one(connect_server, connect_mode):
    """The runs join one long-lived session per settings profile; one the server has closed (expired on an external
    server, or released) must not fail the night."""
    resource = SparkResource(remote=connect_server.url())
    first = resource.session(1)
    first.release_session_on_close = True
    first.stop()  # released: the server refuses its id from now on
    second = resource.session(1)
    assert second.session_id != first.session_id
    assert second.range(3).count() == 3


def test_a_wrong_spark_connect_setting_is_refused_in_one_line(monkeypatch):
    monkeypatch.setenv(settings.SPARK_CONNECT_VARIABLE, "127.0.0.1:15002")
    with pytest.raises(settings.StackError, match="TRENDFOLIO_SPARK_CONNECT='127.0.0.1:15002': use embedded"):
        settings.spark_remote()
    monkeypatch.setenv(settings.SPARK_CONNECT_VARIABLE, "embedded")
    monkeypatch.setenv("TRENDFOLIO_SPARK_CONNECT_PORT", "15999")
    assert settings.spark_remote() == "sc://127.0.0.1:15999"


def test_the_stack_starts_reports_and_stops_its_connect_server(tmp_path, monkeypatch):
    """`trendfolio stack up` / `status` / `down` with TRENDFOLIO_SPARK_CONNECT=embedded, on a stack of its own."""
    for variable in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SPARK_MASTER_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("TRENDFOLIO_HOME", str(tmp_path))
    for variable in ("TRENDFOLIO_PG_PORT", "TRENDFOLIO_KAFKA_PORT", "TRENDFOLIO_SPARK_CONNECT_PORT"):
        monkeypatch.setenv(variable, str(stack.free_port()))
    monkeypatch.setenv(settings.SPARK_CONNECT_VARIABLE, "embedded")
    server = stack.spark_connect_server()
    try:
        lines = stack.up(set())
        assert f"spark: embedded Spark Connect server, {server.url()}" in lines[-1], lines
        assert server.is_running() and f"spark connect: running ({server.url()})" in stack.status()
        monkeypatch.setenv(settings.SPARK_CONNECT_VARIABLE, "sc://spark.example:15002")
        assert stack.up(set())[-1] == "spark: external Spark Connect server (sc://spark.example:15002)"
    finally:
        lines = stack.down()
    assert "spark connect: stopped" in lines and not server.is_running() and not server.pid_file.exists()
