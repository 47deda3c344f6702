"""Reading PostgreSQL into Spark and replacing a date range of an analytics table atomically."""

from __future__ import annotations

import datetime as dt
from typing import Callable

import psycopg

from pyspark.sql import DataFrame, SparkSession

from trendfolio.warehouse import connect, jdbc_target, staging_table, table_lock


def read_sql(spark: SparkSession, database_url: str, query: str) -> DataFrame:
    """The query runs in PostgreSQL, so its WHERE clause is the pushed-down date filter."""
    options = jdbc_target(database_url).options()
    return spark.read.format("jdbc").options(**options, query=query, fetchsize="10000").load()


def replace_date_range(
    database_url: str, frame: DataFrame, table: str, date_column: str, start: dt.date, end: dt.date,
    then: Callable[[psycopg.Connection], object] | None = None,
) -> int:
    """Spark appends to a staging table; then one transaction deletes the range, inserts the staged rows and runs
    `then` (figures derived from the table's rows, analytics_07's running ones) on the same connection.
    A failure anywhere before that commit leaves the previous rows of the range in place. Two runs of the same range
    take turns (`table_lock`), as do two overlapping ranges: interleaved, the second DELETE would not see the first
    one's new rows."""
    columns = frame.columns
    with table_lock(database_url, table), staging_table(database_url, table) as stage:
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
                written = cursor.rowcount
                if then is not None:
                    then(conn)
                return written
