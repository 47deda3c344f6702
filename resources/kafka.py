"""Kafka through aiokafka: producer (acks=all), a consumer group per table, and topic administration."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner
from dagster import ConfigurableResource

from trendfolio.settings import StackError

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
    named `<namespace>.<table>`; the consumer group of a table is `<namespace>.<table>.writer`. An empty namespace
    means the warehouse's own (`in_namespace`, trendfolio/warehouse.py: warehouse_namespace)."""

    bootstrap_servers: str
    namespace: str = ""
    topic_partitions: int = 3
    replication_factor: int = 1
    consume_timeout_s: float = 120.0
    # aiokafka retries a dead broker forever; every broker call and every stretch without a record is cut off here.
    operation_timeout_s: float = 30.0

    def setup_for_execution(self, context) -> None:
        """An unreachable broker fails the run at resource start, in one line, not in the middle of an asset."""
        check_broker(self.bootstrap_servers, self.operation_timeout_s)

    def in_namespace(self, default: str) -> "KafkaResource":
        """This resource, with `default` as its namespace unless one was configured."""
        return self if self.namespace else self.model_copy(update={"namespace": default})

    def topic_for(self, table_name: str) -> str:
        return f"{self.namespace}.{table_name}"

    def group_for(self, table_name: str) -> str:
        return f"{self.namespace}.{table_name}.writer"

    def _unavailable(self, what: str, error: BaseException | None = None) -> BrokerUnavailable:
        if error is None:
            return BrokerUnavailable(f"KAFKA_BOOTSTRAP_SERVERS: the Kafka broker at {self.bootstrap_servers} did not "
                                     f"answer within {self.operation_timeout_s:.0f} s while {what}")
        return BrokerUnavailable(f"KAFKA_BOOTSTRAP_SERVERS: the Kafka broker at {self.bootstrap_servers} failed "
                                 f"while {what}: {error}")

    async def _bounded(self, awaitable, what: str):
        """`awaitable` within operation_timeout_s, or BrokerUnavailable that names the broker and the step."""
        try:
            return await asyncio.wait_for(awaitable, self.operation_timeout_s)
        except asyncio.TimeoutError:
            raise self._unavailable(what) from None
        except TopicAlreadyExistsError:
            raise
        except KafkaError as error:
            raise self._unavailable(what, error) from error

    async def _close(self, client) -> None:
        """Stop a client without hiding the error that got us here; a dead broker must not hang the stop either."""
        try:
            await asyncio.wait_for(client.stop() if hasattr(client, "stop") else client.close(),
                                   self.operation_timeout_s)
        except (asyncio.TimeoutError, asyncio.CancelledError, KafkaError, OSError):
            pass  # a request the bounded call cancelled can surface here as CancelledError

    async def check(self) -> None:
        """Connect and fetch the cluster metadata once: BrokerUnavailable when nobody answers."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers,
                                    request_timeout_ms=int(self.operation_timeout_s * 1000))
        try:
            await self._bounded(producer.start(), "connecting")
        finally:
            await self._close(producer)

    async def ensure_topic(self, topic: str) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers,
                                    request_timeout_ms=int(self.operation_timeout_s * 1000))
        try:
            await self._bounded(admin.start(), "connecting the admin client")
            if topic not in await self._bounded(admin.list_topics(), "listing topics"):
                try:
                    await self._bounded(
                        admin.create_topics(
                            [NewTopic(topic, num_partitions=self.topic_partitions,
                                      replication_factor=self.replication_factor)]
                        ),
                        f"creating topic {topic}",
                    )
                except TopicAlreadyExistsError:
                    pass
        finally:
            await self._close(admin)

    async def produce(self, topic: str, records: list[tuple[bytes, bytes]]) -> dict[int, int]:
        """Send (key, value) records with acks=all; returns, per partition, the offset after the last one written.

        Records go to the partition the default partitioner picks for their key (murmur2, as `send` would), but in
        batches built by hand: per-record `send` costs more than the broker round trip at a million records. Every
        broker call is bounded, and the first failed batch stops the run (a dead broker would otherwise let batches
        expire one request timeout at a time)."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers, acks="all", max_batch_size=PRODUCE_BATCH_BYTES,
            request_timeout_ms=int(self.operation_timeout_s * 1000),
        )
        try:
            await self._bounded(producer.start(), "starting the producer")
            partitions = sorted(await self._bounded(producer.partitions_for(topic), f"looking up {topic}"))
            by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
            choose = DefaultPartitioner()
            for key, value in records:
                by_partition.setdefault(choose(key, partitions, partitions), []).append((key, value))
            pending = []

            async def send(batch, partition: int) -> None:
                future = await self._bounded(producer.send_batch(batch, topic, partition=partition),
                                             f"producing to {topic}")
                pending.append((future, batch))

            for partition, partition_records in by_partition.items():
                batch = producer.create_batch()
                for key, value in partition_records:
                    if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                        await send(batch, partition)
                        batch = producer.create_batch()
                        batch.append(key=key, value=value, timestamp=None)
                await send(batch, partition)
            ends: dict[int, int] = {}
            for future, batch in pending:
                # The batch's base offset, once every replica has it (acks=all).
                metadata = await self._bounded(future, f"waiting for acks=all from {topic}")
                ends[metadata.partition] = max(ends.get(metadata.partition, 0), metadata.offset + batch.record_count())
            return ends
        finally:
            await self._close(producer)

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
        records = batches = 0
        committed: dict[int, int] = {}
        try:
            await self._bounded(consumer.start(), "starting the consumer")
            partitions = [TopicPartition(topic, p) for p in sorted(targets)]
            consumer.assign(partitions)
            deadline = time.monotonic() + self.consume_timeout_s
            last_progress = time.monotonic()
            while True:
                positions = {tp.partition: await self._bounded(consumer.position(tp), f"reading offsets of {topic}")
                             for tp in partitions}
                if all(positions[p] >= target for p, target in targets.items()):
                    break
                behind = {p: targets[p] - positions[p] for p in targets if positions[p] < targets[p]}
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{topic}: gave up after {self.consume_timeout_s:.0f} s with records still unread "
                        f"(partition: missing count) {behind}"
                    )
                fetched = await self._bounded(consumer.getmany(timeout_ms=500, max_records=10000),
                                              f"fetching from {topic}")
                messages = [m for tp_messages in fetched.values() for m in tp_messages]
                if not messages:
                    # The records were acknowledged before we started reading: a live broker hands them over.
                    if time.monotonic() - last_progress > self.operation_timeout_s:
                        raise self._unavailable(f"fetching from {topic} with records still unread {behind}")
                    continue
                await handle_batch(messages)
                offsets = {tp: tp_messages[-1].offset + 1 for tp, tp_messages in fetched.items() if tp_messages}
                await self._bounded(consumer.commit(offsets), f"committing offsets of {topic}")
                last_progress = time.monotonic()  # after the write: a slow database is not a silent broker
                committed.update({tp.partition: offset for tp, offset in offsets.items()})
                records += len(messages)
                batches += 1
        finally:
            await self._close(consumer)
        return ConsumeReport(records=records, batches=batches, committed=committed)


def check_broker(bootstrap_servers: str, timeout_s: float = 10.0) -> None:
    """Before a job starts: StackError in one line naming KAFKA_BOOTSTRAP_SERVERS when no broker answers there."""
    # aiokafka logs each failed connection attempt; the one line raised here says it all.
    aiokafka_log = logging.getLogger("aiokafka")
    level = aiokafka_log.level
    aiokafka_log.setLevel(logging.CRITICAL)
    try:
        asyncio.run(KafkaResource(bootstrap_servers=bootstrap_servers, operation_timeout_s=timeout_s).check())
    except BrokerUnavailable as error:
        raise StackError(" ".join(str(error).split())) from None
    except ValueError as error:  # aiokafka refuses a malformed host:port before it tries anything
        raise StackError(
            f"KAFKA_BOOTSTRAP_SERVERS={bootstrap_servers!r} is not host:port[,host:port...]: {error}"
        ) from None
    finally:
        aiokafka_log.setLevel(level)
