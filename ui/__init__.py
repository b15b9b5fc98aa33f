"""Streamlit helpers shared by the pages: the cached store, the signed-in account, messages
and downloads. No business logic lives here."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from core.auth import Account, can
from core.exports import frame_to_csv_bytes, frame_to_xlsx_bytes
from core.records import RowError
from core.store import Store, open_store

__all__ = ["DATE", "FAVICON", "MONEY", "account", "download_buttons", "flash", "get_store", "require", "show_flashes", "show_row_errors", "sign_out"]

# Display format of amount columns; the values themselves stay exact decimals.
MONEY = st.column_config.NumberColumn(format="%.2f")
# Dates show as dates, never with a midnight time.
DATE = st.column_config.DateColumn(format="YYYY-MM-DD")
# A local file: a page never fetches its icon from the internet, so the app works offline.
FAVICON = str(Path(__file__).with_name("favicon.png"))


@st.cache_resource
def get_store() -> Store:
    return open_store()


def account() -> Account | None:
    return st.session_state.get("account")


def require(role: str) -> Account:
    """The signed-in account; stops the page with a message when it lacks ``role``."""
    current = account()
    if not can(current, role):
        st.warning(f"This needs the {role} role.")
        st.stop()
    return current


def show_row_errors(errors: list[RowError]) -> None:
    """Every finding in one table, so an analyst can fix the file in one pass."""
    st.error(f"{len(errors)} problem(s) found; nothing was saved.")
    st.dataframe(
        pd.DataFrame([{"file": e.file, "row": e.row, "column": e.column, "value": e.value, "problem": e.message} for e in errors]),
        hide_index=True,
        width="stretch",
    )


def download_buttons(frame: pd.DataFrame, name: str, key: str) -> None:
    """CSV and XLSX downloads of a grid, safe to open in a spreadsheet."""
    left, right = st.columns(2)
    # The files are built only when a button is pressed, not on every run of the page.
    left.download_button("Download CSV", lambda: frame_to_csv_bytes(frame), f"{name}.csv", "text/csv", key=f"{key}_csv",
                         on_click="ignore")
    right.download_button("Download XLSX", lambda: frame_to_xlsx_bytes(frame, name), f"{name}.xlsx",
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"{key}_xlsx", on_click="ignore")


def demo_mode() -> bool:
    return os.environ.get("RECON_DEMO") == "1"


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
