"""Two warehouses (two databases) sharing one broker, their runs overlapping: run A pauses after producing, run B of
the other warehouse produces and consumes meanwhile, then A goes on. Neither warehouse may end with the other's rows.

With one namespace forced on both (as the old default `trendfolio` did), B's consumer reads A's messages first: it
must skip them (another run's id in the batch header) and write only its own. A then finds its messages consumed by B's
group and fails naming the missing rows — loudly, never with B's rows. With the default namespace (derived from each
warehouse's identity), the two runs never share a topic and both succeed."""

from __future__ import annotations

import asyncio
import threading

import pytest

from conftest import new_warehouse
from fault_support import SESSION, compare, expected_ohlc, ohlc_rows, ohlc_table, record_summary
from resources import KafkaResource
from trendfolio.ingest import IngestIncomplete, ingest
from trendfolio.tables import DAILY_ETF_OHLC

pytestmark = pytest.mark.integration

PAUSE = {"produced": threading.Event(), "resume": threading.Event()}


class PausedAfterProducing(KafkaResource):
    """The real Kafka path, stopping between the produce and the consume until the test lets it go on."""

    async def consume_until(self, topic, group_id, targets, handle_batch):
        PAUSE["produced"].set()
        await asyncio.get_running_loop().run_in_executor(None, PAUSE["resume"].wait, 120)
        return await super().consume_until(topic, group_id, targets, handle_batch)


def _overlapping_runs(services, namespace: str) -> dict:
    """Run A (synthetic rows) paused after producing while run B (the same keys, as replay rows) runs whole."""
    for event in PAUSE.values():
        event.clear()
    rows_a = ohlc_rows(sessions=5)
    rows_b = rows_a.assign(source="replay", volume=rows_a["volume"] + 1)
    outcome: dict = {}
    with new_warehouse(services) as warehouse_a, new_warehouse(services) as warehouse_b:
        kafka_a = PausedAfterProducing(bootstrap_servers=services.bootstrap_servers, namespace=namespace,
                                       consume_timeout_s=30, operation_timeout_s=10)
        kafka_b = KafkaResource(bootstrap_servers=services.bootstrap_servers, namespace=namespace)

        def run_a():
            try:
                outcome["a"] = ingest(DAILY_ETF_OHLC, rows_a, [], kafka=kafka_a,
                                      database_url=warehouse_a.database_url,
                                      partition_date=SESSION, source="synthetic", run_id="run-a")
            except IngestIncomplete as error:
                outcome["a"] = error

        first = threading.Thread(target=run_a)
        first.start()
        assert PAUSE["produced"].wait(120), "run A did not produce"
        outcome["b"] = ingest(DAILY_ETF_OHLC, rows_b, [], kafka=kafka_b,
                              database_url=warehouse_b.database_url,
                              partition_date=SESSION, source="replay", run_id="run-b")
        PAUSE["resume"].set()
        first.join(timeout=180)
        assert not first.is_alive()
        outcome["table_a"] = ohlc_table(warehouse_a.database_url)
        outcome["table_b"] = ohlc_table(warehouse_b.database_url)
    outcome["expected_a"], outcome["expected_b"] = expected_ohlc(rows_a), expected_ohlc(rows_b)
    return outcome


def test_a_forced_shared_namespace_never_writes_another_warehouse_rows(services):
    outcome = _overlapping_runs(services, namespace="trendfolio_shared_test")
    report_b = outcome["b"]
    # B read A's messages first (same topic, same group) and skipped every one of them.
    assert report_b.messages_of_other_runs > 0
    assert compare(outcome["table_b"], outcome["expected_b"]) == {"lost": 0, "duplicates": 0, "unexpected": 0}
    assert {row[-1] for row in outcome["table_b"]} == {"replay"}, "warehouse B holds synthetic rows"
    # A's messages were consumed by B's group: A fails naming what is missing, and holds none of B's rows.
    assert isinstance(outcome["a"], IngestIncomplete)
    assert "produced rows are not in PostgreSQL" in str(outcome["a"])
    assert outcome["table_a"] == []
    record_summary("shared_broker_forced_namespace", {
        "fault": "two warehouses, one broker, one namespace forced on both; run A paused after producing while "
                 "run B ran whole",
        "trials": 1, "messages_of_other_runs_skipped_by_b": report_b.messages_of_other_runs,
        "rows_of_a_in_b": sum(row[-1] != "replay" for row in outcome["table_b"]),
        "run_a": "failed: " + str(outcome["a"]).split(",")[0], "rows_in_a": len(outcome["table_a"]),
    })


def test_the_default_namespaces_keep_two_warehouses_apart(services):
    outcome = _overlapping_runs(services, namespace="")
    assert outcome["a"].topic != outcome["b"].topic
    assert outcome["a"].messages_of_other_runs == outcome["b"].messages_of_other_runs == 0
    assert compare(outcome["table_a"], outcome["expected_a"]) == {"lost": 0, "duplicates": 0, "unexpected": 0}
    assert compare(outcome["table_b"], outcome["expected_b"]) == {"lost": 0, "duplicates": 0, "unexpected": 0}
    record_summary("shared_broker_default_namespace", {
        "fault": "two warehouses, one broker, default namespaces; run A paused after producing while run B ran whole",
        "trials": 1, "topic_a": outcome["a"].topic, "topic_b": outcome["b"].topic,
        "rows_lost": 0, "rows_of_the_other_warehouse": 0,
    })
