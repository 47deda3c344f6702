"""What the Dagster UI shows of a table, from the registry (trendfolio/tables.py): the asset's description and its
column schema, each column with its type and meaning."""

from __future__ import annotations

from dagster import TableColumn, TableSchema

from trendfolio.tables import Table


def table_metadata(table: Table) -> dict:
    return {"dagster/column_schema": TableSchema(
        columns=[TableColumn(column.name, column.type, description=column.doc) for column in table.schema])}
