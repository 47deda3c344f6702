"""Checks `trendfolio run` makes before it starts a job: a setting that cannot work fails here, in one line that names
it, instead of as a stack trace from deep inside a run."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlparse

import psycopg

from trendfolio.stack import StackError


def check_database(database_url: str) -> None:
    """Connect once with a short timeout; the error says what PostgreSQL said, never the password."""
    try:
        psycopg.connect(database_url, connect_timeout=5).close()
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        reason = reason.split("FATAL: ", 1)[-1] if "FATAL: " in reason else reason.split(" failed: ")[-1]
        try:
            parsed = urlparse(database_url)
            where = f" (server {parsed.hostname}:{parsed.port or 5432}, database {parsed.path.lstrip('/')})"
        except ValueError:
            where = ""
        raise StackError(f"DATABASE_URL: {reason}{where}") from None


def check_broker(bootstrap_servers: str, timeout_s: float = 10.0) -> None:
    from resources.kafka import BrokerUnavailable, KafkaResource

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


def check_services(database_url: str, bootstrap_servers: str) -> list[str]:
    check_database(database_url)
    check_broker(bootstrap_servers)
    return ["preflight: PostgreSQL and the Kafka broker answer"]
