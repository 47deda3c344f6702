"""Every error the API answers is JSON with a readable `detail`: 4xx for a bad request, 503 with the reason when the
database cannot answer (unmigrated, unreachable, busy, not permitted), never a plain-text 500."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.database import Database, DatabaseBusy

log = logging.getLogger(__name__)
MIGRATE = "apply the migrations (`uv run trendfolio migrate`)"


def unavailable(detail: str, retry_after_s: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s else None
    return JSONResponse(status_code=503, content={"detail": detail}, headers=headers)


def jsonable_errors(error: RequestValidationError) -> list[dict]:
    # The raw errors may carry the offending value as bytes or an exception object: keep what JSON can carry.
    return [{"loc": [str(part) for part in item["loc"]], "msg": item["msg"], "type": item["type"]}
            for item in error.errors()]


def install(app: FastAPI, database: Database) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_problem(_: Request, error: RequestValidationError) -> JSONResponse:
        # One readable sentence first ("limit: Input should be less than or equal to 1000"), the details after.
        messages = ["{}: {}".format(".".join(str(part) for part in item["loc"][1:]) or item["loc"][0], item["msg"])
                    for item in error.errors()]
        return JSONResponse(status_code=422, content={"detail": "; ".join(messages),
                                                      "errors": jsonable_errors(error)})

    @app.exception_handler(StarletteHTTPException)
    async def no_such_path(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # The router's bare "Not Found" (no route matched) says where the paths are; the endpoints' own 404s pass.
        if error.status_code == 404 and error.detail == "Not Found":
            return JSONResponse(status_code=404, content={
                "detail": f"no such path {request.url.path[:200]!r}: the API's paths are listed at /docs "
                          "(a parameter cannot contain '/', even percent-encoded)"})
        return await http_exception_handler(request, error)

    @app.exception_handler(psycopg.errors.UndefinedTable)
    @app.exception_handler(psycopg.errors.UndefinedColumn)
    async def not_migrated(_: Request, error: psycopg.Error) -> JSONResponse:
        return unavailable(f"the database is not migrated ({error.diag.message_primary}): {MIGRATE} "
                           "and run the pipeline once")

    @app.exception_handler(psycopg.errors.InsufficientPrivilege)
    async def not_permitted(_: Request, error: psycopg.Error) -> JSONResponse:
        return unavailable(f"the API's database role may not read this table ({error.diag.message_primary}): "
                           f"{MIGRATE}, which grants it SELECT")

    @app.exception_handler(psycopg.errors.LockNotAvailable)
    async def locked(_: Request, error: psycopg.Error) -> JSONResponse:
        return unavailable(f"the database is busy: a table this request reads is locked by another session (waited "
                           f"{database.lock_timeout_ms} ms, the API's lock_timeout); the nightly run may be rewriting "
                           "it, try again shortly", retry_after_s=5)

    @app.exception_handler(psycopg.errors.QueryCanceled)
    async def too_slow(_: Request, error: psycopg.Error) -> JSONResponse:
        return unavailable(f"the database is busy: the query ran longer than the API's statement_timeout of "
                           f"{database.statement_timeout_ms} ms and was cancelled; try again shortly", retry_after_s=5)

    @app.exception_handler(DatabaseBusy)
    async def no_connection_free(_: Request, error: DatabaseBusy) -> JSONResponse:
        return unavailable(f"the database is busy: {error}; try again shortly", retry_after_s=5)

    @app.exception_handler(psycopg.OperationalError)
    async def database_unreachable(_: Request, error: psycopg.Error) -> JSONResponse:
        if error.sqlstate == "53300":  # too_many_connections: the server or the role's CONNECTION LIMIT is reached
            return unavailable(f"the database is busy: it refused another connection ({error})", retry_after_s=5)
        return unavailable(f"the database is unreachable: {error}")

    @app.exception_handler(psycopg.Error)
    async def database_error(_: Request, error: psycopg.Error) -> JSONResponse:
        log.exception("database error", exc_info=error)
        return unavailable(f"the database could not answer: {type(error).__name__}: "
                           f"{getattr(error.diag, 'message_primary', None) or error}")

    @app.exception_handler(Exception)
    async def internal_error(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=error)
        return JSONResponse(status_code=500, content={"detail": f"internal error: {type(error).__name__}"})
