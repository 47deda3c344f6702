"""CSV for every list endpoint: `?format=csv` or `Accept: text/csv` gets the page's items as a CSV file, with the
columns of the item model (so an empty page still has its header) and the page's total in `X-Total-Count`."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

CSV_MEDIA_TYPE = "text/csv"
# Declared next to the JSON model so /docs and the OpenAPI document list both answers.
CSV_RESPONSE = {200: {"content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
                      "description": "the page as JSON, or as CSV with `format=csv` or `Accept: text/csv`"}}


def wants_csv(request: Request, format: Literal["json", "csv"] | None = Query(  # noqa: A002 - the URL's word
        None, description="`csv` for a CSV download of the items (default: JSON, or CSV if `Accept: text/csv`)")) -> bool:
    if format is not None:
        return format == "csv"
    return CSV_MEDIA_TYPE in request.headers.get("accept", "")


AsCsv = Annotated[bool, Depends(wants_csv)]


def csv_text(items: list[dict], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: "" if value is None else value for key, value in item.items()} for item in items)
    return out.getvalue()


def page(body: dict, as_csv: bool, item_model: type[BaseModel], filename: str):
    """`body` as it is (FastAPI validates it against the response model), or its items as a CSV attachment."""
    if not as_csv:
        return body
    return Response(csv_text(body["items"], list(item_model.model_fields)), media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"',
                             "X-Total-Count": str(body["total"])})
