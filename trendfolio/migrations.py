"""Apply `sql/NNN_*.sql` in order, each once, recorded with its checksum in `ops_schema_migrations`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
# Serializes concurrent migrators (two runs starting at once) on one server.
MIGRATION_LOCK_ID = 7_301_001


class MigrationError(RuntimeError):
    pass


def migration_files(sql_dir: Path = SQL_DIR) -> list[Path]:
    return sorted(path for path in sql_dir.glob("[0-9][0-9][0-9]_*.sql"))


def migrate(database_url: str, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations; returns the versions applied by this call."""
    applied_now = []
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS ops_schema_migrations (
                       version    text PRIMARY KEY,
                       checksum   text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            conn.commit()
            done = dict(conn.execute("SELECT version, checksum FROM ops_schema_migrations").fetchall())
            for path in migration_files(sql_dir):
                version = path.stem
                text = path.read_text()
                checksum = hashlib.sha256(text.encode()).hexdigest()
                if version in done:
                    if done[version] != checksum:
                        raise MigrationError(
                            f"{path.name} changed after it was applied: add a new migration instead of editing it"
                        )
                    continue
                with conn.transaction():
                    conn.execute(text)
                    conn.execute(
                        "INSERT INTO ops_schema_migrations (version, checksum) VALUES (%s, %s)", (version, checksum)
                    )
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
            conn.commit()
    return applied_now
