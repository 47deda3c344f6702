"""The Kafka broker killed (SIGKILL) at seeded random points of an ingest. Tansu keeps topics and committed offsets in
memory only, so each restart comes back empty: the re-run must still end with exactly the expected rows."""

from __future__ import annotations

import random
import threading
import time
import uuid

import psycopg
import pytest

from fault_support import SESSION, compare, expected_ohlc, kill_broker, ohlc_rows, ohlc_table, record_summary, trials
from resources import KafkaResource, PostgresResource
from resources.kafka import BrokerUnavailable
from trendfolio import settings, stack
from trendfolio.ingest import IngestIncomplete, ingest
from trendfolio.tables import DAILY_ETF_OHLC

pytestmark = pytest.mark.integration

OPERATION_TIMEOUT_S = 5.0


def _ingest(rows, kafka, postgres):
    return ingest(DAILY_ETF_OHLC, rows, [], kafka=kafka, database_url=postgres.database_url, partition_date=SESSION,
                  source="synthetic", run_id=f"fault-{uuid.uuid4().hex[:8]}")


def _truncate(warehouse):
    with psycopg.connect(warehouse.database_url) as conn:
        conn.execute(f"TRUNCATE {DAILY_ETF_OHLC.name}, ops_dead_letters")


def run_broker_kill_trials(warehouse, tmp_path, count: int, seed: int, name: str) -> dict:
    broker = stack.embedded_broker(settings.LocalStackPaths(tmp_path), port=stack.free_port())
    broker.start()
    kafka = KafkaResource(bootstrap_servers=f"127.0.0.1:{broker.port}", namespace=warehouse.namespace,
                          operation_timeout_s=OPERATION_TIMEOUT_S, consume_timeout_s=60)
    postgres = PostgresResource(database_url=warehouse.database_url)
    rows = ohlc_rows(sessions=250)
    expected = expected_ohlc(rows)
    try:
        began = time.monotonic()
        _ingest(rows, kafka, postgres)
        clean_s = time.monotonic() - began
        assert compare(ohlc_table(warehouse.database_url), expected) == {"lost": 0, "duplicates": 0, "unexpected": 0}

        rng = random.Random(seed)
        results = []
        for trial in range(count):
            _truncate(warehouse)
            delay = rng.uniform(0.0, clean_s * 1.2)
            killer = threading.Timer(delay, kill_broker, args=(broker,))
            began = time.monotonic()
            killer.start()
            try:
                _ingest(rows, kafka, postgres)
                outcome, error = "completed", ""
            except (BrokerUnavailable, IngestIncomplete) as failure:
                outcome, error = f"failed: {type(failure).__name__}", str(failure)
            failed_after_s = time.monotonic() - began
            killer.join()
            # Bounded: never the aiokafka retry-forever hang. A step may wait OPERATION_TIMEOUT_S, stop another.
            assert failed_after_s < clean_s + 4 * OPERATION_TIMEOUT_S + 10, (trial, failed_after_s)
            if outcome != "completed":
                assert "KAFKA_BOOTSTRAP_SERVERS" in error or DAILY_ETF_OHLC.name in error, error
                assert "\n" not in error

            broker.start()  # empty again: no topic, no committed offset
            _ingest(rows, kafka, postgres)
            counts = compare(ohlc_table(warehouse.database_url), expected)
            results.append({"trial": trial, "kill_after_s": round(delay, 2), "outcome": outcome,
                            "seconds_to_outcome": round(failed_after_s, 2), "error": error, **counts})
            assert counts == {"lost": 0, "duplicates": 0, "unexpected": 0}, results[-1]
    finally:
        kill_broker(broker)
    summary = {
        "fault": "Kafka broker SIGKILLed during an ingest, restarted empty, ingest re-run",
        "rows_per_ingest": len(expected), "clean_ingest_s": round(clean_s, 2), "seed": seed, "trials": count,
        "completed_before_kill": sum(r["outcome"] == "completed" for r in results),
        "failed_with_clear_error": sum(r["outcome"] != "completed" for r in results),
        "max_seconds_to_outcome": max(r["seconds_to_outcome"] for r in results),
        "rows_lost": sum(r["lost"] for r in results), "duplicates": sum(r["duplicates"] for r in results),
        "results": results,
    }
    record_summary(name, summary)
    return summary


def test_broker_killed_during_ingest_rerun_converges(warehouse, tmp_path):
    summary = run_broker_kill_trials(warehouse, tmp_path, trials(3), seed=9, name="broker_kill")
    assert summary["rows_lost"] == 0 and summary["duplicates"] == 0


@pytest.mark.soak
def test_broker_killed_during_ingest_rerun_converges_soak(warehouse, tmp_path):
    summary = run_broker_kill_trials(warehouse, tmp_path, trials(12), seed=90, name="broker_kill_soak")
    assert summary["rows_lost"] == 0 and summary["duplicates"] == 0
    assert summary["failed_with_clear_error"] > 0, "no kill landed inside an ingest: the trials proved nothing"


def test_dead_broker_fails_fast_with_a_clear_error(warehouse, tmp_path):
    """Nothing listens at the address: a one-line error naming the setting, within the operation timeout."""
    kafka = KafkaResource(bootstrap_servers=f"127.0.0.1:{stack.free_port()}", namespace=warehouse.namespace,
                          operation_timeout_s=OPERATION_TIMEOUT_S)
    began = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="KAFKA_BOOTSTRAP_SERVERS") as failure:
        _ingest(ohlc_rows(sessions=2), kafka, PostgresResource(database_url=warehouse.database_url))
    assert time.monotonic() - began < OPERATION_TIMEOUT_S * 2 + 5
    assert "\n" not in str(failure.value)
