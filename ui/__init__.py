"""Streamlit helpers shared by the pages: the cached store, the signed-in account, messages
and downloads. No business logic lives here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core import config
from core.auth import Account, can
from core.domain.findings import RowError
from core.exports.writers import frame_to_csv_bytes, frame_to_xlsx_bytes
from core.store import Store, open_store
from core.views import picked_records, reconcile_selection
from core.views.format import TOTALS_TITLES

__all__ = ["DATE", "FAVICON", "MOMENT", "MONEY", "account", "client_address", "download_buttons", "flash", "forget_selection", "get_store",
           "grid_selection", "require", "show_flashes", "show_row_errors", "sign_out"]

# Display format of amount columns, with thousands separators; the values themselves stay exact decimals.
MONEY = st.column_config.NumberColumn(format="%,.2f")
# Dates show as dates, never with a midnight time.
DATE = st.column_config.DateColumn(format="YYYY-MM-DD")
# Moments (imports, runs, changes) to the minute.
MOMENT = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
# A local file: a page never fetches its icon from the internet, so the app works offline.
FAVICON = str(Path(__file__).with_name("favicon.png"))


@st.cache_resource
def get_store() -> Store:
    return open_store()


def account() -> Account | None:
    return st.session_state.get("account")


def client_address() -> str:
    """The browser's address as the server sees it, or "" where there is none (tests, some proxies)."""
    address = st.context.ip_address
    return address if isinstance(address, str) else ""


def require(role: str) -> Account:
    """The signed-in account; stops the page with a message when it lacks ``role``."""
    current = account()
    if not can(current, role):
        st.warning(f"This needs the {role} role.")
        st.stop()
    return current


def show_row_errors(errors: list[RowError], *, saving: bool = True) -> None:
    """Every finding, each message in full as text and all of them in one table, so an analyst can fix the file in one pass.

    Args:
        saving: whether the findings refused a save ("nothing was saved") or were found on reading the file before any save.
    """
    st.error(f"{len(errors)} problem(s) found; nothing was saved." if saving else f"{len(errors)} problem(s) found in this file.")
    for e in errors[:_ERRORS_IN_FULL]:
        where = ", ".join(part for part in (f"row {e.row}" if e.row else "", e.column or "") if part)
        st.text(f"{where}: {e.message}" if where else e.message)
    if len(errors) > _ERRORS_IN_FULL:
        st.caption(f"... and {len(errors) - _ERRORS_IN_FULL} more in the table below.")
    st.dataframe(
        pd.DataFrame([{"file": e.file, "row": e.row, "column": e.column, "value": e.value, "problem": e.message} for e in errors]),
        hide_index=True,
        width="stretch",
    )


_ERRORS_IN_FULL = 20


def download_buttons(frame: pd.DataFrame, name: str, key: str) -> None:
    """CSV and XLSX downloads of a grid, safe to open in a spreadsheet."""
    left, right = st.columns(2)
    # The files are built only when a button is pressed, not on every run of the page.
    left.download_button("Download CSV", lambda: frame_to_csv_bytes(frame), f"{name}.csv", "text/csv", key=f"{key}_csv",
                         on_click="ignore")
    right.download_button("Download XLSX", lambda: frame_to_xlsx_bytes(frame, name), f"{name}.xlsx",
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"{key}_xlsx", on_click="ignore")


def demo_mode() -> bool:
    return config.demo_mode()


def flash(kind: str, text: str) -> None:
    """Keep a message for the next run of the page (after ``st.rerun()``)."""
    st.session_state.setdefault("flashes", []).append((kind, text))


def show_flashes() -> None:
    for kind, text in st.session_state.pop("flashes", []):
        getattr(st, kind)(text)


def sign_out() -> None:
    """Forget everything the session held (the account, selections, last results, messages),
    so the next person in this browser starts from nothing."""
    st.session_state.clear()


def grid_selection(key: str, shown: pd.DataFrame, noun: str = "record") -> dict[int, int]:
    """The records picked in the selectable grid ``key`` (to be drawn next with ``shown``), by id
    with the version the person saw. Call it just before ``st.dataframe(..., key=key)``.

    A grid reports row positions. They are read here against the rows that grid displayed when
    the person clicked (kept from the previous run), never against what is shown now. Picked
    records that are no longer among ``shown`` are dropped with a notice, and the grid's own
    selection is moved to where the kept records now stand, so a position never selects
    another record.
    """
    before = st.session_state.get(f"{key}_rows", [])
    now = list(zip(shown["id"].astype(int).tolist(), shown["version"].astype(int).tolist())) if len(shown) else []
    forget = st.session_state.pop(f"{key}_forget", False)
    state = None if forget else st.session_state.get(key)
    chosen = picked_records(before, list(state["selection"]["rows"])) if state else {}
    kept, dropped = reconcile_selection(chosen, shown)
    if dropped:
        st.warning(f"{len(dropped)} selected {noun}(s) no longer shown (decided meanwhile or filtered out) and dropped from the "
                   f"selection: {', '.join(map(str, dropped))}.")
    if forget or dropped or [i for i, _ in now] != [i for i, _ in before]:
        position = {record_id: row for row, (record_id, _) in enumerate(now)}
        st.session_state[key] = {"selection": {"rows": sorted(position[i] for i in kept), "columns": []}}
    st.session_state[f"{key}_rows"] = now
    return kept


def forget_selection(key: str) -> None:
    """Start the grid ``key`` with nothing selected on the next run (after a decision)."""
    st.session_state[f"{key}_forget"] = True


# Readable grids (core.views.format): a Grid drawn with its titles, formats and dates, and the totals under it.
def show_grid(grid, key: str, **options) -> object:
    """Draw a :class:`core.views.format.Grid`: its columns in order with their titles, money in its
    format, dates as dates; ``options`` go to ``st.dataframe`` (selection and the like)."""
    config: dict[str, object] = {}
    for column, title in grid.titles.items():
        if column in grid.number_formats:
            config[column] = st.column_config.NumberColumn(title, format=grid.number_formats[column])
        elif column in grid.dates:
            config[column] = st.column_config.DateColumn(title, format="YYYY-MM-DD")
        elif column in grid.links:
            config[column] = st.column_config.LinkColumn(title, display_text="Open")
        elif pd.api.types.is_datetime64_any_dtype(grid.frame[column]):
            config[column] = st.column_config.DatetimeColumn(title, format="YYYY-MM-DD HH:mm")
        else:
            config[column] = title
    return st.dataframe(grid.frame, hide_index=True, width="stretch", column_order=list(grid.titles), column_config=config, key=key,
                        **options)


def show_totals(totals: pd.DataFrame, key: str) -> None:
    """The totals under a grid (``core.views.format.grid_totals``), one row per currency."""
    st.dataframe(totals, hide_index=True, column_config=dict(TOTALS_TITLES), key=key)


def money_shown(frame: pd.DataFrame, columns) -> pd.DataFrame:
    """The frame as a grid shows it: its money columns written with thousands separators. The
    frame itself keeps the exact numbers, for downloads."""
    from core.domain.money import format_amount  # the pages' one formatting of plain amounts

    def cell(value) -> str:
        return "" if value is None or (isinstance(value, float) and value != value) else format_amount(value)

    return frame.assign(**{c: frame[c].map(cell) for c in columns if c in frame.columns})
