"""The broker stops in the middle of an ingest, after a batch reached PostgreSQL and before its offsets were committed,
and comes back empty (Tansu keeps topics in memory). Re-running the date ends with exactly the expected rows."""

import datetime as dt

import pytest
from dagster import materialize

from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
from resources import KafkaResource
from trendfolio import calendar, settings, stack
from trendfolio.analytics.trending import LOOKBACK_SESSIONS
from trendfolio.sources.synthetic import SyntheticSource
from trendfolio.universe import ALL_ETFS

pytestmark = pytest.mark.integration

SESSION = dt.date(2026, 11, 25)
BROKERS: dict[str, stack.EmbeddedBroker] = {}  # the dedicated broker, reachable from the resource below


class BrokerDiesAfterFirstBatch(KafkaResource):
    """Stops the broker once the first batch is committed in PostgreSQL: its offsets never reach the broker."""

    async def consume_until(self, topic, group_id, targets, handle_batch):
        async def write_then_lose_the_broker(messages):
            await handle_batch(messages)
            BROKERS["dedicated"].stop()

        return await super().consume_until(topic, group_id, targets, write_then_lose_the_broker)


@pytest.fixture
def dedicated_broker(tmp_path):
    broker = stack.embedded_broker(settings.LocalStackPaths(tmp_path), port=stack.free_port())
    broker.start()
    BROKERS["dedicated"] = broker
    yield broker
    broker.stop()
    BROKERS.clear()


def test_a_broker_restart_mid_ingest_then_a_rerun_gives_exactly_the_rows(warehouse, resources, dedicated_broker):
    bootstrap = f"127.0.0.1:{dedicated_broker.port}"
    flaky = BrokerDiesAfterFirstBatch(bootstrap_servers=bootstrap, namespace=warehouse.namespace,
                                      consume_timeout_s=20, operation_timeout_s=5)
    first = materialize([collected_01_daily_etf_ohlc], resources={**resources, "kafka": flaky},
                        partition_key=SESSION.isoformat(), raise_on_error=False)
    assert not first.success
    assert not dedicated_broker.is_running()
    written_before_crash = warehouse.scalar("SELECT count(*) FROM collected_01_daily_etf_ohlc")
    assert written_before_crash > 0, "the first batch reached PostgreSQL before the broker went away"

    dedicated_broker.start()  # memory storage: the topic, its records and the group's offsets are gone
    steady = KafkaResource(bootstrap_servers=bootstrap, namespace=warehouse.namespace)
    second = materialize([collected_01_daily_etf_ohlc], resources={**resources, "kafka": steady},
                         partition_key=SESSION.isoformat())
    assert second.success

    # The first run's window: the trend lookback before the session (the re-run fetched only the trailing days).
    window_start = calendar.previous_sessions(SESSION, LOOKBACK_SESSIONS + 1)[0]
    expected = SyntheticSource().daily_ohlc(list(ALL_ETFS), window_start, SESSION)
    stored = warehouse.query("SELECT ticker, trade_date, close, volume FROM collected_01_daily_etf_ohlc "
                             "ORDER BY ticker, trade_date")
    assert len(stored) == len(expected)  # no duplicates (and the primary key would refuse them anyway)
    assert stored == sorted((r.ticker, r.trade_date, r.close, r.volume) for r in expected.itertuples())
    assert warehouse.scalar("SELECT count(*) FROM ops_dead_letters") == 0
