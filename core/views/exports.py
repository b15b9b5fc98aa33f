"""The Exports page's tables: the queue and history of exports, and the figures for its charts."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core.exports.requests import ExportRecordView

__all__ = ["KIND_LABELS", "export_label", "exports_frame", "human_size", "requests_per_day_frame"]

KIND_LABELS = {"transactions": "transactions (the imported rows)", "breaks": "breaks (of the latest run)",
               "matches": "matches (of the latest run)", "journals": "journals (the general ledger's lines)",
               "brs": "bank reconciliation statements (prepared or signed off)"}


def human_size(size: int | None) -> str:
    """Bytes as people read them: ``532 B``, ``1.4 MB``, ``2.0 GB``."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def export_label(view: ExportRecordView) -> str:
    """An export as the picker shows it: what, in which format, how many rows, when and by whom,
    then its reference (``transactions · csv · 384 rows · 2026-12-06 05:37 UTC by analyst · exp_...``)."""
    request = view.request
    parts = [request["kind"], request["format"]]
    if view.row_count is not None:
        parts.append(f"{view.row_count:,} rows")
    when = view.created_at.astimezone(dt.UTC) if view.created_at.tzinfo else view.created_at
    parts += [f"{when:%Y-%m-%d %H:%M} UTC by {view.requested_by}", view.reference_id]
    return " · ".join(parts)


def exports_frame(views: list[ExportRecordView]) -> pd.DataFrame:
    """One row per export, newest first: what was asked, its status, rows, size, duration and who asked."""
    rows = []
    for view in views:
        request = view.request
        span = " to ".join(d for d in (request.get("date_from"), request.get("date_to")) if d)
        rows.append({"reference": view.reference_id, "kind": request["kind"], "format": request["format"],
                     "accounts": ", ".join(request.get("accounts") or []) or "all", "dates": span or "all",
                     "destination": request["destination"], "status": view.status, "reused": view.reused,
                     "rows": view.row_count, "size": human_size(view.file_size),
                     "duration (s)": None if view.duration_seconds is None else round(view.duration_seconds, 2),
                     "requested by": view.requested_by, "requested at": view.created_at, "error": view.error or ""})
    columns = ["reference", "kind", "format", "accounts", "dates", "destination", "status", "reused", "rows", "size", "duration (s)",
               "requested by", "requested at", "error"]
    return pd.DataFrame(rows, columns=columns)


def requests_per_day_frame(statistics: dict) -> pd.DataFrame:
    """Requests per day, split into those answered by a new file and by an existing one (long form, for a stacked bar)."""
    rows = []
    for day, counts in statistics["per_day"].items():
        rows.append({"day": day, "answered by": "new file", "requests": counts["requests"] - counts["reused"]})
        rows.append({"day": day, "answered by": "existing export", "requests": counts["reused"]})
    return pd.DataFrame(rows, columns=["day", "answered by", "requests"])
