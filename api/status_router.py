"""What each table holds now."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api import queries
from api.models import PipelineStatus, TableStatus
from api.params import DB, ERRORS, source_label

router = APIRouter(tags=["status"], responses=ERRORS)


@router.get("/api/status", response_model=PipelineStatus)
def pipeline_status(db: DB):
    """What each table holds now: row count, date range, data sources, when it was last written."""
    with db.connect() as conn:
        if not queries.table_exists(conn, queries.MIGRATIONS_TABLE):
            raise HTTPException(503, f"the database is not migrated ({queries.MIGRATIONS_TABLE} does not exist): "
                                     "apply the migrations (`uv run trendfolio migrate`)")
        tables = [queries.table_status(conn, table, column) for table, column in queries.STATUS_TABLES.items()]
    trending = next(t for t in tables if t["table"] == queries.TRENDING_TABLE)
    sources = sorted({source for table in tables for source in table["sources"]})
    return {"data_source": source_label(sources), "latest_session": trending["max_date"],
            "tables": [TableStatus(**table) for table in tables]}
