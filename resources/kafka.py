"""Kafka through aiokafka: producer (acks=all), a consumer group per table, and topic administration."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner
from dagster import ConfigurableResource

# A batch handler writes the records to the database and returns only after its commit; offsets are committed after it.
BatchHandler = Callable[[list], Awaitable[None]]
# Records go to the broker in batches this big: one request per batch instead of the 16 KiB default's many.
PRODUCE_BATCH_BYTES = 512 * 1024


class BrokerUnavailable(RuntimeError):
    pass


@dataclass
class ConsumeReport:
    records: int
    batches: int
    committed: dict[int, int]  # partition -> next offset, as committed for the group


class KafkaResource(ConfigurableResource):
    """`bootstrap_servers` is host:port[,host:port…]. Topics are created with `topic_partitions` partitions and
    named `<namespace>.<table>`; the consumer group of a table is `<namespace>.<table>.writer`."""

    bootstrap_servers: str
    namespace: str = "trendfolio"
    topic_partitions: int = 3
    replication_factor: int = 1
    consume_timeout_s: float = 120.0

    def topic_for(self, table_name: str) -> str:
        return f"{self.namespace}.{table_name}"

    def group_for(self, table_name: str) -> str:
        return f"{self.namespace}.{table_name}.writer"

    async def ensure_topic(self, topic: str) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=15000)
        try:
            await admin.start()
        except KafkaConnectionError as error:
            raise BrokerUnavailable(
                f"cannot reach the Kafka broker at {self.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS): {error}"
            ) from error
        try:
            if topic not in await admin.list_topics():
                try:
                    await admin.create_topics(
                        [NewTopic(topic, num_partitions=self.topic_partitions,
                                  replication_factor=self.replication_factor)]
                    )
                except TopicAlreadyExistsError:
                    pass
        finally:
            await admin.close()

    async def produce(self, topic: str, records: list[tuple[bytes, bytes]]) -> dict[int, int]:
        """Send (key, value) records with acks=all; returns, per partition, the offset after the last one written.

        Records go to the partition the default partitioner picks for their key (murmur2, as `send` would), but in
        batches built by hand: per-record `send` costs more than the broker round trip at a million records."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers, acks="all", max_batch_size=PRODUCE_BATCH_BYTES
        )
        await producer.start()
        try:
            partitions = sorted(await producer.partitions_for(topic))
            by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
            choose = DefaultPartitioner()
            for key, value in records:
                by_partition.setdefault(choose(key, partitions, partitions), []).append((key, value))
            pending = []
            for partition, partition_records in by_partition.items():
                batch = producer.create_batch()
                for key, value in partition_records:
                    if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                        pending.append((await producer.send_batch(batch, topic, partition=partition), batch))
                        batch = producer.create_batch()
                        batch.append(key=key, value=value, timestamp=None)
                pending.append((await producer.send_batch(batch, topic, partition=partition), batch))
            ends: dict[int, int] = {}
            for future, batch in pending:
                metadata = await future  # the batch's base offset, once every replica has it (acks=all)
                end = metadata.offset + batch.record_count()
                ends[metadata.partition] = max(ends.get(metadata.partition, 0), end)
            return ends
        finally:
            await producer.stop()

    async def consume_until(
        self, topic: str, group_id: str, targets: dict[int, int], handle_batch: BatchHandler
    ) -> ConsumeReport:
        """Read the group's uncommitted records until every partition reaches its target offset.

        Partitions are assigned by hand (the job is the only reader of its run), the group only keeps the offsets:
        this skips a rebalance on every run. Offsets are committed after `handle_batch` returns, so a crash between
        the database commit and the offset commit re-delivers records, and the idempotent upsert absorbs them.
        """
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        records = batches = 0
        committed: dict[int, int] = {}
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(targets)]
            consumer.assign(partitions)
            deadline = time.monotonic() + self.consume_timeout_s
            while True:
                positions = {tp.partition: await consumer.position(tp) for tp in partitions}
                if all(positions[p] >= target for p, target in targets.items()):
                    break
                if time.monotonic() > deadline:
                    behind = {p: targets[p] - positions[p] for p in targets if positions[p] < targets[p]}
                    raise TimeoutError(
                        f"{topic}: gave up after {self.consume_timeout_s:.0f} s with records still unread "
                        f"(partition: missing count) {behind}"
                    )
                fetched = await consumer.getmany(timeout_ms=500, max_records=10000)
                messages = [m for tp_messages in fetched.values() for m in tp_messages]
                if not messages:
                    continue
                await handle_batch(messages)
                offsets = {tp: tp_messages[-1].offset + 1 for tp, tp_messages in fetched.items() if tp_messages}
                await consumer.commit(offsets)
                committed.update({tp.partition: offset for tp, offset in offsets.items()})
                records += len(messages)
                batches += 1
        finally:
            await consumer.stop()
        return ConsumeReport(records=records, batches=batches, committed=committed)
