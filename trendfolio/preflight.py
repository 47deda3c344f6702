"""Checks made before a job starts: a setting that cannot work fails here, in one line that names it, instead of as a
stack trace from deep inside a run. The broker's check is `resources.kafka.check_broker`."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlparse

import psycopg

from trendfolio.settings import StackError

# What SparkSession.builder.master accepts: local[N], local[*], local[N,F], spark://host:port[,host:port…], yarn and
# k8s://… (a cluster manager we do not probe).
LOCAL_MASTER = re.compile(r"^local(\[(\d+|\*)(,\d+)?\])?$")
STANDALONE_MASTER = re.compile(r"^spark://([^:/,]+:\d+)(,[^:/,]+:\d+)*$")


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


def check_spark_master(master_url: str, timeout_s: float = 5.0) -> None:
    """The form Spark accepts, and for a standalone cluster a master that answers on its port: otherwise the run
    would collect a whole night before the first Spark asset fails."""
    if LOCAL_MASTER.match(master_url) or master_url == "yarn" or master_url.startswith("k8s://"):
        return
    if not STANDALONE_MASTER.match(master_url):
        raise StackError(f"SPARK_MASTER_URL={master_url!r} is not a Spark master: use local[N] or spark://host:7077")
    masters = master_url.removeprefix("spark://").split(",")
    for master in masters:
        host, port = master.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=timeout_s).close()
            return
        except OSError as error:
            reason = error.strerror or str(error)
    raise StackError(f"SPARK_MASTER_URL={master_url}: no Spark master answers ({reason})")

