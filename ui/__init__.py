"""Streamlit helpers shared by the pages: the cached store and uniform messages. No business logic."""

from __future__ import annotations

import streamlit as st

from core.records import RowError
from core.store import Store, open_store

__all__ = ["get_store", "show_row_errors"]


@st.cache_resource
def get_store() -> Store:
    return open_store()


def show_row_errors(errors: list[RowError]) -> None:
    """Every finding in one table, so an analyst can fix the file in one pass."""
    st.error(f"{len(errors)} problem(s) found; nothing was saved.")
    st.dataframe(
        [{"file": e.file, "row": e.row, "column": e.column, "value": e.value, "problem": e.message} for e in errors],
        hide_index=True,
        width="stretch",
    )
