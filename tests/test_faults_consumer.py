"""The consumer crashing after its PostgreSQL commit and before its offset commit: Kafka re-delivers those messages to
the next run, and they must change nothing — no value, no duplicate, no second dead letter."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from fault_support import SESSION, compare, expected_ohlc, ohlc_rows, ohlc_table, record_summary
from resources import KafkaResource, PostgresResource
from trendfolio.ingest import ingest
from trendfolio.tables import DAILY_ETF_OHLC

pytestmark = pytest.mark.integration


class ConsumerCrashed(RuntimeError):
    pass


class CrashAfterDatabaseCommit(KafkaResource):
    """The real consumer, whose process 'dies' right after each batch's database commit, before the offset commit."""

    async def consume_until(self, topic, group_id, targets, handle_batch):
        async def write_then_crash(messages):
            await handle_batch(messages)
            raise ConsumerCrashed(f"crashed after writing {len(messages)} messages, before committing offsets")

        return await super().consume_until(topic, group_id, targets, write_then_crash)


def _consumer_dead_letters(database_url):
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT kafka_partition, kafka_offset, rule, reason FROM ops_dead_letters WHERE stage = 'consumer' "
            "ORDER BY 1, 2").fetchall()


def test_redelivered_messages_change_nothing(warehouse):
    postgres = PostgresResource(database_url=warehouse.database_url)
    settings = {"bootstrap_servers": warehouse.bootstrap_servers, "namespace": warehouse.namespace}
    crashing, kafka = CrashAfterDatabaseCommit(**settings), KafkaResource(**settings)
    rows = ohlc_rows(sessions=20)
    expected = expected_ohlc(rows)
    topic = kafka.topic_for(DAILY_ETF_OHLC.name)
    # A poison message ahead of the rows, so the re-delivery covers the dead-letter path as well.
    asyncio.run(kafka.ensure_topic(topic))
    asyncio.run(kafka.produce(topic, [(b"SPY|poison", b'{"partition_date": "2026-11-25", "row": {}}')]))

    def run(resource):
        return ingest(DAILY_ETF_OHLC, rows, [], kafka=resource, database_url=postgres.database_url,
                      partition_date=SESSION, source="synthetic", run_id="consumer-crash")

    with pytest.raises(ConsumerCrashed):
        run(crashing)
    after_crash = ohlc_table(warehouse.database_url)
    dead_after_crash = _consumer_dead_letters(warehouse.database_url)
    assert after_crash, "the crash came after the database commit: the first batch is in PostgreSQL"
    assert len(dead_after_crash) == 1

    report = run(kafka)  # reads from offset 0 again: nothing was committed
    after_rerun = ohlc_table(warehouse.database_url)
    redelivered = sum(report.offsets.values()) - report.messages_produced
    assert redelivered == 1 + report.messages_produced, "every message of the crashed run came back"
    assert report.messages_rechecked == report.messages_produced, "the crashed attempt's messages were re-checked"
    assert set(after_crash) <= set(after_rerun), "a re-delivered message changed a row"
    counts = compare(after_rerun, expected)
    assert counts == {"lost": 0, "duplicates": 0, "unexpected": 0}
    assert _consumer_dead_letters(warehouse.database_url) == dead_after_crash, "the poison message landed twice"
    record_summary("consumer_crash", {
        "fault": "consumer crashes after the PostgreSQL commit, before the offset commit; re-run re-reads",
        "trials": 1, "rows_written_before_crash": len(after_crash), "messages_redelivered": redelivered,
        "rows_changed_by_redelivery": len(set(after_crash) - set(after_rerun)),
        "dead_letters_after_crash": len(dead_after_crash),
        "dead_letters_after_rerun": len(_consumer_dead_letters(warehouse.database_url)),
        "rows_lost": counts["lost"], "duplicates": counts["duplicates"],
    })
