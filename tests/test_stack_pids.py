"""A pid file outlives its process: after a crash and a reboot, broker.pid or postgres's postmaster.pid may name an
unrelated live process. `stack status` must not report it as our service, and `stack down` must not signal it."""

import subprocess

import pytest

from trendfolio import settings, stack


@pytest.fixture
def sleeper():
    process = subprocess.Popen(["sleep", "300"])
    yield process
    process.kill()
    process.wait()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TRENDFOLIO_HOME", str(tmp_path))
    monkeypatch.setenv("TRENDFOLIO_PG_PORT", str(stack.free_port()))
    monkeypatch.setenv("TRENDFOLIO_KAFKA_PORT", str(stack.free_port()))
    return settings.local_stack_paths()


def test_stale_pid_files_naming_another_process_are_neither_trusted_nor_signalled(home, sleeper):
    home.root.mkdir(parents=True, exist_ok=True)
    home.broker_pid.write_text(str(sleeper.pid))
    home.pgdata.mkdir()
    home.pgdata.joinpath("PG_VERSION").write_text("18\n")
    home.pgdata.joinpath("postmaster.pid").write_text(f"{sleeper.pid}\n{home.pgdata}\n1700000000\n")

    lines = stack.status()
    assert lines[0].startswith("postgres: stopped") and lines[1].startswith("kafka: stopped"), lines
    stack.down()
    assert sleeper.poll() is None, "stack down signalled a process that is not ours"
    assert not home.broker_pid.exists(), "the stale broker.pid is left to mislead the next command"


def test_the_broker_pid_file_is_trusted_only_with_the_start_time_it_recorded(home):
    broker = stack.embedded_broker()
    broker.start()
    try:
        pid, started = home.broker_pid.read_text().split()
        assert broker.pid() == int(pid) and stack.status()[1].startswith("kafka: running")
        home.broker_pid.write_text(f"{pid} {int(started) + 1}")  # the same pid, started at another time
        assert broker.pid() is None and stack.status()[1].startswith("kafka: stopped")
        home.broker_pid.write_text(f"{pid} {started}")
    finally:
        broker.stop()
    assert broker.pid() is None


def test_a_running_embedded_postgres_is_recognised_and_stopped(home):
    postgres = stack.embedded_postgres()
    postgres.start()
    try:
        assert postgres.postmaster_is_ours() and stack.status()[0].startswith("postgres: running")
    finally:
        postgres.stop()
    assert not postgres.is_running()
