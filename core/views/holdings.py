"""The Holdings page's read model: positions with units in one format, differences per position,
and the holdings runs kept in the store (each reopened from its Parquet file)."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import select

from core.holdings.compare import HoldingRow
from core.store import Store
from core.store.models import HoldingsRun

__all__ = ["HOLDINGS_COLUMNS", "HoldingsRunEntry", "format_units", "formatted_units", "holdings_frame", "holdings_runs",
           "reopen_holdings_run", "unit_differences", "units_places"]

HOLDINGS_COLUMNS = ["folio", "product", "product_name", "status", "registrar", "internal_units", "registrar_units", "difference"]
_UNITS = ("internal_units", "registrar_units", "difference")


class HoldingsRunEntry(NamedTuple):
    id: int
    as_of: object
    tolerance: str
    sources: list[str]
    summary: dict
    created_by: str
    created_at: object

    @property
    def label(self) -> str:
        counts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(self.summary.items()))
        return (f"Run {self.id} · as of {self.as_of} · {counts or 'no positions'} · by {self.created_by} "
                f"on {self.created_at:%Y-%m-%d %H:%M}")


def units_places(values) -> int:
    """The data's scale: the most decimal places any of ``values`` (``Decimal``) is written with."""
    return max([0] + [max(0, -v.as_tuple().exponent) for v in values if isinstance(v, Decimal) and v.is_finite()])


def format_units(value: Decimal, places: int) -> str:
    """Units as text: exactly ``places`` decimals and thousands separators (``1,234.500``)."""
    return f"{value.quantize(Decimal(1).scaleb(-places)):,.{places}f}"


def holdings_frame(rows: list[HoldingRow] | pd.DataFrame) -> pd.DataFrame:
    """Positions with exact units (``Decimal``) in the columns of :data:`HOLDINGS_COLUMNS`."""
    if isinstance(rows, pd.DataFrame):
        return rows[HOLDINGS_COLUMNS].reset_index(drop=True)
    return pd.DataFrame([r._asdict() for r in rows], columns=HOLDINGS_COLUMNS)


def formatted_units(frame: pd.DataFrame) -> pd.DataFrame:
    """The positions with the three unit columns as text, every one with the same decimals (the data's scale)."""
    places = units_places(v for column in _UNITS for v in frame[column])
    shown = frame.copy()
    for column in _UNITS:
        shown[column] = [format_units(v, places) for v in frame[column]]
    return shown


def unit_differences(frame: pd.DataFrame) -> pd.DataFrame:
    """The positions that differ, one row each: ``position`` (folio · scheme), ``status``, ``difference``
    in units (books less registrar; a float, for a chart) and ``difference_text`` (exact, formatted)."""
    differ = frame[frame["status"] != "matched"]
    places = units_places(v for column in _UNITS for v in frame[column])
    return pd.DataFrame({"position": [f"{f} · {p}" for f, p in zip(differ["folio"], differ["product"])],
                         "status": list(differ["status"]),
                         "difference": [float(v) for v in differ["difference"]],
                         "difference_text": [format_units(v, places) for v in differ["difference"]]},
                        columns=["position", "status", "difference", "difference_text"])


def holdings_runs(store: Store, limit: int = 50) -> list[HoldingsRunEntry]:
    """The holdings runs kept, newest first."""
    with store.session() as session:
        return [HoldingsRunEntry(r.id, r.as_of, r.tolerance, list(r.sources), dict(r.summary), r.created_by, r.created_at)
                for r in session.scalars(select(HoldingsRun).order_by(HoldingsRun.id.desc()).limit(limit))]


def reopen_holdings_run(store: Store, run_id: int) -> pd.DataFrame:
    """A kept holdings run's positions, as they were saved (units exact ``Decimal``).

    Raises:
        KeyError: no such run, or its file is gone (the message says which).
    """
    with store.session() as session:
        run = session.get(HoldingsRun, run_id)
        if run is None:
            raise KeyError(f"no holdings run {run_id}")
        path = store.data_dir / run.results_path
    if not path.exists():
        raise KeyError(f"holdings run {run_id}'s positions file {run.results_path} is missing from the data folder")
    frame = pq.read_table(path).to_pandas()
    for column in _UNITS:
        frame[column] = [Decimal(v) if not isinstance(v, Decimal) else v for v in frame[column]]
    return holdings_frame(frame)
