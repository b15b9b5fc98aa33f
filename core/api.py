"""The HTTP API (FastAPI, served by ``python -m core api``): exports, the banking reports, health
and metrics, for other systems. Thin, like the pages: each route reads its input, calls one
core function and writes the answer.

Every route under ``/api/v1`` but the two health checks needs an API key (``core.apikeys``) as
``Authorization: Bearer sk_...``; a missing, wrong, disabled or deleted key gets 401 and no
reason. A key carries a role: every key reads; posting a bank transaction needs ``analyst``
(403 otherwise). Bodies and query parameters are validated (422 with what is wrong). Money
is written as strings holding the exact decimal (``"-1850.00"``), dates as ISO text.

Exports: a POST queues the export (``core.exports.requests``); the worker builds it when one
holds the store's lease, else the API builds it in a background thread of its own
(``RECON_API_BUILDS_EXPORTS=0`` turns that off: the queue waits for a worker).
Applications: a multipart POST hands in an application with its statements (an analyst key);
a GET answers its status, documents and metrics. Webhook events the API's changes owe are
sent by the worker, or by a thread of the API when no worker runs. ``GET /metrics`` answers in the Prometheus
text format from the store (``core.monitoring``), and every request answered is counted there.
OpenAPI docs are at ``/docs``.
"""

import datetime as dt
import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from core import config
from core.apikeys import ApiKeyView, authenticate_api_key
from core.auth import ROLES
from core.banking.reports import (BankingReportError, NotFound, cash_position_of, dimensional_analysis_of, parse_period, post_transaction,
                                  reconciliation_of, transfer_tracking_of, variance_of)
from core.exports.requests import ExportError, ExportRequest, file_url, get_export, list_exports, local_file, request_export, run_export
from core.jobs.lease import worker_alive
from core.monitoring import check_store, count_api_request, metrics_text
from core.store import Store, open_store
from core.underwriting.applications import ApplicationError, application_view, submit_application
from core.webhooks import hand_over as send_webhooks

__all__ = ["create_app"]

_log = logging.getLogger("recon.api")
_bearer = HTTPBearer(auto_error=False, description="An API key: `python -m core api-key create NAME`, or the API keys page")


class ExportBody(BaseModel):
    """An export request: what (``table_name``), for which account and dates, in which format."""

    model_config = ConfigDict(extra="forbid")

    account_id: str | None = Field(None, max_length=128, description="the account (empty: all accounts)")
    table_name: Literal["transactions", "breaks", "matches", "journals", "brs"] = Field(description="what to export")
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    format: Literal["csv", "xlsx", "parquet"] = "csv"
    force_refresh: bool = Field(False, description="make a new file even when the same request was answered before")

    @model_validator(mode="after")
    def _dates_in_order(self):
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")
        return self


class ExportTicketOut(BaseModel):
    reference_id: str
    status: str
    reused: bool
    message: str


class ExportOut(BaseModel):
    reference_id: str
    request: dict[str, Any]
    status: str
    reused: bool
    file_url: str | None
    file_size: int | None
    row_count: int | None
    sha256: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    error: str | None
    requested_by: str


class ExportPage(BaseModel):
    items: list[ExportOut]
    limit: int
    offset: int


class PostingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str | None = Field(None, max_length=64, description="the dataset holding the transaction (its first characters will do)")
    rules: str | None = Field(None, max_length=64,
                              description="posting rules by name (a file of the posting folder); default the configured ones")


def _plain(value: Any) -> Any:
    """Values as JSON holds them exactly: money as decimal strings, dates as ISO text."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Builder:
    """Builds the exports this API process queues, on a small thread pool, when no worker runs."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.name = f"api:{socket.gethostname()}:{os.getpid()}"
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="export")

    def submit(self, reference_id: str) -> None:
        if not worker_alive(self.store):  # a running worker builds the queue itself
            self.pool.submit(self._build, reference_id)

    def _build(self, reference_id: str) -> None:
        try:
            run_export(self.store, reference_id, worker=self.name)
        except Exception:  # the export records its own failure; the log keeps the traceback
            _log.exception("export %s failed", reference_id)
        send_webhooks(self.store)  # no worker runs: this process sends what the export owes (export.completed)


def create_app(store: Store | None = None) -> FastAPI:
    """The API over ``store`` (default: the configured store)."""
    store = store or open_store()
    builder = _Builder(store) if config.api_builds_exports() else None
    app = FastAPI(title="Recon Workbench API", version="1",
                  description="Exports, the banking reports, health and metrics of Recon Workbench. "
                              "Send an API key as `Authorization: Bearer sk_...`.")
    app.state.store = store

    @app.middleware("http")
    async def count_requests(request: Request, call_next):
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            try:
                await run_in_threadpool(count_api_request, store, getattr(route, "path", "(no route)"), request.method, status,
                                        time.perf_counter() - started)
            except Exception:  # counting must never cost the caller its answer
                _log.exception("could not count the request")

    def caller(role: str = "viewer"):
        def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> ApiKeyView:
            key = authenticate_api_key(store, credentials.credentials if credentials else None)
            if key is None:
                raise HTTPException(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
            if ROLES.index(key.role) < ROLES.index(role):
                raise HTTPException(403, f"this needs a key with the {role} role; this key has the {key.role} role")
            return key
        return check

    Reader = Annotated[ApiKeyView, Depends(caller("viewer"))]
    Poster = Annotated[ApiKeyView, Depends(caller("analyst"))]

    def export_out(request: Request, view) -> ExportOut:
        link = file_url(store, view)
        if link is None and view.status == "COMPLETED" and view.location and not view.location.startswith("s3://"):
            link = str(request.url_for("export_file", reference_id=view.reference_id))
        return ExportOut(reference_id=view.reference_id, request=view.request, status=view.status, reused=view.reused, file_url=link,
                         file_size=view.file_size, row_count=view.row_count, sha256=view.sha256, created_at=view.created_at,
                         started_at=view.started_at, completed_at=view.completed_at, error=view.error, requested_by=view.requested_by)

    @app.get("/api/v1/health", tags=["health"])
    def health() -> dict:
        """The API answers (no key needed)."""
        return {"status": "ok"}

    @app.get("/api/v1/health/db", tags=["health"])
    def health_db() -> JSONResponse:
        """The store answers, and the migration its schema is at (no key needed); 503 when it does not."""
        check = check_store(store)
        body = {"status": "ok" if check.reachable else "unavailable", "database": check.database, "revision": check.revision}
        return JSONResponse(body, status_code=200 if check.reachable else 503)

    @app.post("/api/v1/exports", tags=["exports"], response_model=ExportTicketOut, status_code=202,
              responses={200: {"model": ExportTicketOut, "description": "answered by a completed export (reused)"}})
    def request_export_route(body: ExportBody, key: Reader) -> JSONResponse:
        """Queue an export, or answer with the existing one for the same request (``reused: true``)."""
        try:
            ask = ExportRequest(kind=body.table_name, accounts=(body.account_id,) if body.account_id else (), date_from=body.date_from,
                                date_to=body.date_to, format=body.format)
            ticket = request_export(store, ask, actor=f"api:{key.name}", force=body.force_refresh)
        except ExportError as exc:
            raise HTTPException(422, str(exc)) from None
        if builder is not None and ticket.status == "PENDING":
            builder.submit(ticket.reference_id)
        answer = {"reference_id": ticket.reference_id, "status": ticket.status, "reused": ticket.reused, "message": ticket.message}
        return JSONResponse(answer, status_code=200 if ticket.status == "COMPLETED" else 202)

    @app.get("/api/v1/exports", tags=["exports"], response_model=ExportPage)
    def list_exports_route(request: Request, key: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                           offset: Annotated[int, Query(ge=0)] = 0) -> ExportPage:
        """The most recent exports, newest first, a page at a time."""
        return ExportPage(items=[export_out(request, v) for v in list_exports(store, limit=limit, offset=offset)], limit=limit,
                          offset=offset)

    @app.get("/api/v1/exports/{reference_id}", tags=["exports"], response_model=ExportOut)
    def get_export_route(request: Request, key: Reader, reference_id: Annotated[str, PathParam(max_length=64)]) -> ExportOut:
        """One export: its request, status, file (link, size, rows, SHA-256) and times."""
        view = get_export(store, reference_id)
        if view is None:
            raise HTTPException(404, f"no export {reference_id}")
        return export_out(request, view)

    @app.get("/api/v1/exports/{reference_id}/file", tags=["exports"], name="export_file")
    def export_file_route(key: Reader, reference_id: Annotated[str, PathParam(max_length=64)]) -> FileResponse:
        """The file of a completed export kept in the local folder (S3 exports are fetched from their pre-signed link)."""
        view = get_export(store, reference_id)
        path = local_file(store, view) if view is not None else None
        if path is None:
            raise HTTPException(404, f"no local file for export {reference_id}")
        return FileResponse(path, filename=path.name)

    Account = Annotated[str | None, Query(max_length=128, description="the bank account (any spelling its aliases know)")]
    PeriodText = Annotated[str, Query(pattern=r"^\d{4}-\d{2}(-\d{2})?$",
                                      description="a month YYYY-MM, or a day YYYY-MM-DD (its month up to it)")]

    def banking(call, *args, **kwargs) -> JSONResponse:
        try:
            return JSONResponse(_plain(call(store, *args, **kwargs)))
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except BankingReportError as exc:
            raise HTTPException(422, str(exc)) from None

    def period_of(text: str):
        try:
            return parse_period(text)
        except BankingReportError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/api/v1/banking/reconciliation", tags=["banking"])
    def reconciliation(key: Reader, account: Annotated[str, Query(min_length=1, max_length=128)], period: PeriodText,
                       run_id: Annotated[int | None, Query(ge=1)] = None, items: bool = False) -> JSONResponse:
        """The bank reconciliation statement of an account on the period's last day (the newest run holding it, unless named)."""
        return banking(reconciliation_of, account, period_of(period), run_id=run_id, with_items=items)

    @app.get("/api/v1/banking/cash-position", tags=["banking"])
    def cash_position(key: Reader, period: PeriodText, account: Account = None) -> JSONResponse:
        """The cash per bank account and currency on the period's last day, from the statements."""
        return banking(cash_position_of, period_of(period), account)

    @app.get("/api/v1/banking/transfer-tracking", tags=["banking"])
    def transfer_tracking(key: Reader, period: PeriodText, account: Account = None) -> JSONResponse:
        """Transfers between own accounts paired by the period's last day, and those in transit."""
        return banking(transfer_tracking_of, period_of(period), account, actor=f"api:{key.name}")

    @app.get("/api/v1/banking/dimensional-analysis", tags=["banking"])
    def dimensional_analysis(key: Reader, period: PeriodText, account: Account = None,
                             dimension: Annotated[str | None, Query(max_length=64)] = None) -> JSONResponse:
        """Cash on the GL cash accounts per dimension value over the period, and its flows by month."""
        return banking(dimensional_analysis_of, period_of(period), dimension, account)

    @app.get("/api/v1/banking/variance-report", tags=["banking"])
    def variance_report(key: Reader, period: PeriodText, account: Account = None,
                        dimension: Annotated[str | None, Query(max_length=64)] = None) -> JSONResponse:
        """The month's movement per account against the month before, with the thresholds."""
        return banking(variance_of, period_of(period), account, dimension=dimension, actor=f"api:{key.name}")

    @app.post("/api/v1/banking/transactions/{transaction_id}/post-accounting", tags=["banking"])
    def post_accounting(key: Poster, transaction_id: Annotated[str, PathParam(max_length=128)],
                        body: PostingBody | None = None) -> JSONResponse:
        """Post one bank transaction to the ledger by posting rules, once (an analyst key or above)."""
        body = body or PostingBody()
        return banking(post_transaction, transaction_id, actor=f"api:{key.name}", dataset=body.dataset_id, rules=body.rules)

    @app.post("/api/v1/applications", tags=["applications"], status_code=201)
    def create_application_route(key: Poster, merchant: Annotated[str, Form(min_length=1, max_length=256)],
                                 requested_amount: Annotated[str, Form(max_length=32, description="exact decimal text, such as 25000.00")],
                                 currency: Annotated[str, Form(max_length=3)] = "USD",
                                 files: Annotated[list[UploadFile] | None, File(description="the bank statements (PDF)")] = None
                                 ) -> JSONResponse:
        """Hand in an application with its statements (an analyst key or above); answers it as ``GET`` does."""
        limit, documents = config.max_import_bytes(), []
        for upload in files or []:
            data = upload.file.read(limit + 1)  # never more than the limit in memory
            if len(data) > limit:
                raise HTTPException(413, f"{upload.filename or 'document'}: larger than {limit // (1024 * 1024)} MB "
                                         "(RECON_MAX_IMPORT_MB); nothing was made")
            documents.append((upload.filename or "document", data))
        try:
            application_id = submit_application(store, merchant, requested_amount, currency, documents, user=f"api:{key.name}")
            answer = application_view(store, application_id)
        except ApplicationError as exc:
            raise HTTPException(422, str(exc)) from None
        send_webhooks(store)  # with no worker running, this process sends what the application owes (application.ready)
        return JSONResponse(_plain(answer), status_code=201)

    @app.get("/api/v1/applications/{application_id}", tags=["applications"])
    def get_application_route(key: Reader, application_id: Annotated[int, PathParam(ge=1)]) -> JSONResponse:
        """An application: status, decision, documents (SHA-256, pages, what was read) and metrics month by month."""
        try:
            return JSONResponse(_plain(application_view(store, application_id)))
        except ApplicationError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        """Exports, API requests and worker runs in the Prometheus text format, from the store."""
        return PlainTextResponse(metrics_text(store), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
