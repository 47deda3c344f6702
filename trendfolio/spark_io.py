"""Reading PostgreSQL into Spark and replacing a date range of an analytics table atomically."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
from pyspark.sql import DataFrame, SparkSession

from trendfolio.warehouse import connect, jdbc_target, partition_lock


def read_sql(spark: SparkSession, database_url: str, query: str) -> DataFrame:
    """The query runs in PostgreSQL, so its WHERE clause is the pushed-down date filter."""
    options = jdbc_target(database_url).options()
    return spark.read.format("jdbc").options(**options, query=query, fetchsize="10000").load()


def replace_date_range(
    database_url: str, frame: DataFrame, table: str, date_column: str, start: dt.date, end: dt.date
) -> int:
    """Spark appends to a staging table; then one transaction deletes the range and inserts the staged rows.
    A failure anywhere before that commit leaves the previous rows of the range in place. Two runs of the same range
    take turns (`partition_lock`): interleaved, the second DELETE would not see the first one's new rows."""
    stage = f"stage_{table}_{uuid.uuid4().hex[:10]}"
    columns = frame.columns
    with partition_lock(database_url, table, f"{start}/{end}"):
        with connect(database_url) as conn:
            conn.execute(f"CREATE UNLOGGED TABLE {stage} (LIKE {table} INCLUDING DEFAULTS)")
            conn.commit()
        try:
            # One writer task and large batches: a night is a few hundred rows, and every write task opens its own
            # connection and transaction (a union of inputs made ~100 of them per asset; bench/README.md, benchmark 2).
            frame.write.format("jdbc").options(
                **jdbc_target(database_url).options(), dbtable=stage, numPartitions="1", batchsize="10000"
            ).mode("append").save()
            column_list = ", ".join(columns)
            with connect(database_url) as conn:
                with conn.transaction():
                    conn.execute(f"DELETE FROM {table} WHERE {date_column} BETWEEN %s AND %s", (start, end))
                    cursor = conn.execute(
                        f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} "
                        f"WHERE {date_column} BETWEEN %s AND %s",
                        (start, end),
                    )
                    return cursor.rowcount
        finally:
            _drop_stage(database_url, stage)


def _drop_stage(database_url: str, stage: str) -> None:
    """Best effort: when PostgreSQL itself is what failed, the error that got us here is the one to report, and an
    orphaned staging table (UNLOGGED, named stage_*) holds no result anyone reads."""
    try:
        with connect(database_url) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {stage}")
            conn.commit()
    except psycopg.OperationalError:
        pass
