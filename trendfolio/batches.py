"""The Kafka message format of the collected tables: one message per batch of rows, in Arrow IPC.

A message is `TFB1` (format magic), a 4-byte big-endian header length, a JSON header and an Arrow IPC stream:

    header = {"version": 1, "table": …, "run_id": …, "producer": …, "partition_date": "YYYY-MM-DD",
              "rows": N, "sha256": <hex digest of the Arrow bytes>}

The schema of the Arrow stream must be exactly the table's (`arrow_schema`): column names, order and types. Anything
else — other bytes, a bad checksum, another table's or another version's schema — is refused whole with the reason
(`decode_batch` raises ValueError), and the consumer dead-letters it. `run_id` and `producer` tell the consumer whose
message it is: it writes only its own run's, and re-checks the row rules only of messages its own producer did not
send (trendfolio/ingest.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from trendfolio.tables import Table

MAGIC = b"TFB1"
VERSION = 1
# ~8 k OHLC rows make ≈ 0.5 MB of Arrow: big enough to amortize the per-message work, small enough for a broker's
# default 1 MB message limit.
ROWS_PER_MESSAGE = 8192
# Rows are spread over this many ordering buckets by their ordering key (a ticker): a bucket is a message key, so every
# row of one ticker goes to the same partition, in the order produced.
ORDERING_BUCKETS = 16
MAX_HEADER_BYTES = 4096
NULLABLE_COLUMNS = frozenset({"holding_name"})


ARROW_TYPES = {"text": pa.string(), "date": pa.date32(), "bigint": pa.int64(), "double precision": pa.float64()}


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema of a collected table's written columns, from the registry's column types."""
    return pa.schema([pa.field(column.name, ARROW_TYPES[column.type]) for column in table.schema])


def to_arrow(table: Table, rows) -> pa.Table:
    """A pandas frame or a list of row dicts as an Arrow table of the collected table's schema."""
    if isinstance(rows, pa.Table):
        return rows
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows), columns=list(table.columns))
    return pa.Table.from_pandas(frame[list(table.columns)], schema=arrow_schema(table), preserve_index=False)


@dataclass(frozen=True)
class Batch:
    run_id: str
    producer: str
    partition_date: dt.date
    rows: pa.Table
    checksum: str  # the header's SHA-256 of the Arrow bytes: identifies the batch


def encode_batches(
    table: Table, rows: pd.DataFrame, partition_date: dt.date, run_id: str, producer: str
) -> list[tuple[bytes, bytes]]:
    """(key, message) pairs: rows grouped by ordering bucket, ≤ ROWS_PER_MESSAGE per message."""
    if rows.empty:
        return []
    data = to_arrow(table, rows)
    order = rows[table.ticker_column].astype(str)
    bucket_of = {value: zlib.crc32(value.encode()) % ORDERING_BUCKETS for value in order.unique()}
    buckets = order.map(bucket_of).to_numpy()
    order_positions = np.argsort(buckets, kind="stable")  # a ticker's rows keep their order within its bucket
    data, buckets = data.take(pa.array(order_positions)), buckets[order_positions]
    messages = []
    for bucket in np.unique(buckets):
        first, end = np.searchsorted(buckets, bucket, "left"), np.searchsorted(buckets, bucket, "right")
        key = f"{table.name}/{bucket:02d}".encode()
        for start in range(first, end, ROWS_PER_MESSAGE):
            messages.append((key, encode_batch(table, data.slice(start, min(ROWS_PER_MESSAGE, end - start)),
                                               partition_date, run_id, producer)))
    return messages


def encode_batch(table: Table, rows: pa.Table, partition_date: dt.date, run_id: str, producer: str) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, rows.schema) as writer:
        writer.write_table(rows)
    body = sink.getvalue()
    header = json.dumps({
        "version": VERSION, "table": table.name, "run_id": run_id, "producer": producer,
        "partition_date": partition_date.isoformat(), "rows": rows.num_rows,
        "sha256": hashlib.sha256(body).hexdigest(),
    }, separators=(",", ":")).encode()
    return MAGIC + len(header).to_bytes(4, "big") + header + body


def decode_batch(table: Table, payload: bytes | None) -> Batch:
    """A message back into its rows; raises ValueError with the reason for anything that is not a whole, intact batch
    of this table."""
    if payload is None:
        raise ValueError("no value (a tombstone)")
    if not payload.startswith(MAGIC):
        raise ValueError(f"not a trendfolio batch: it does not start with {MAGIC!r}")
    header_length = int.from_bytes(payload[4:8], "big")
    if len(payload) < 8 or not 0 < header_length <= min(MAX_HEADER_BYTES, len(payload) - 8):
        raise ValueError(f"header length {header_length} does not fit the {len(payload)}-byte message")
    try:
        header = json.loads(payload[8:8 + header_length])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"header is not JSON: {error}") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    if header.get("version") != VERSION:
        raise ValueError(f"format version {header.get('version')!r} is not {VERSION}")
    if header.get("table") != table.name:
        raise ValueError(f"a batch for table {header.get('table')!r}, not {table.name}")
    for field in ("run_id", "producer", "sha256"):
        if not isinstance(header.get(field), str):
            raise ValueError(f"header field {field} missing or not a string")
    try:
        partition_date = dt.date.fromisoformat(header["partition_date"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("partition_date missing or not an ISO date") from None
    body = payload[8 + header_length:]
    if hashlib.sha256(body).hexdigest() != header["sha256"]:
        raise ValueError("checksum mismatch: the Arrow bytes are not the ones the producer sent")
    try:
        rows = pa.ipc.open_stream(body).read_all()
        rows.validate(full=True)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise ValueError(f"not an Arrow IPC stream: {error}") from None
    expected = arrow_schema(table)
    if not rows.schema.remove_metadata().equals(expected):
        raise ValueError(f"schema ({rows.schema.remove_metadata().to_string()}) is not {table.name}'s")
    if rows.num_rows != header.get("rows"):
        raise ValueError(f"{rows.num_rows} rows, the header says {header.get('rows')!r}")
    return Batch(run_id=header["run_id"], producer=header["producer"], partition_date=partition_date, rows=rows,
                 checksum=header["sha256"])


def null_problem(table: Table, row: dict) -> tuple[str, str] | None:
    """Arrow lets any column hold nulls; the tables do not (but for a holding's name)."""
    for column in table.columns:
        if row[column] is None and column not in NULLABLE_COLUMNS:
            return "missing_value", f"{column} is null"
    return None


def row_payload(row: dict) -> str:
    """One row of a batch as the text a dead letter keeps."""
    return json.dumps({column: value.isoformat() if isinstance(value, dt.date) else value
                       for column, value in row.items()}, default=str)


def csv_for_copy(rows: pa.Table) -> bytes:
    """The rows as CSV for `COPY … (FORMAT csv)`, written by Arrow's C++ writer: a null is an empty unquoted field
    (NULL to PostgreSQL), every string is quoted (an empty string stays one), floats round-trip."""
    sink = io.BytesIO()
    pa_csv.write_csv(rows, sink, write_options=pa_csv.WriteOptions(include_header=False))
    return sink.getvalue()
