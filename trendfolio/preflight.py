"""Checks made before a job starts: a setting that cannot work fails here, in one line that names it, instead of as a
stack trace from deep inside a run. The broker's check is `resources.kafka.check_broker`."""

from __future__ import annotations

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
