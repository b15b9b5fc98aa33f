import streamlit as st

from core.views import CLEARED_AS, history_page
from core.views.format import grid_totals
from core.views.history import history_grid
from ui import download_buttons, get_store, show_grid, show_totals

PAGE_SIZE = 500

store = get_store()
st.title("History")
st.caption("Cleared items archived per account: records matched in any run, and breaks resolved or matched by hand.")
account_col, search_col, kinds_col, page_col = st.columns([2, 2, 2, 1])
account_filter = account_col.text_input("Account", key="history_account")
search = search_col.text_input("Search reference or record id", key="history_search")
kinds = kinds_col.multiselect("Cleared as", list(CLEARED_AS), key="history_cleared_as")
page_number = page_col.number_input("Page", min_value=1, step=1, key="history_page")
found = history_page(store, account_filter.strip(), search, cleared_as=tuple(kinds), offset=(page_number - 1) * PAGE_SIZE,
                     limit=PAGE_SIZE)
first = (page_number - 1) * PAGE_SIZE + 1
if found.frame.empty:
    st.caption(f"No item on page {page_number}; {found.total:,} item(s) in all.")
else:
    st.caption(f"Showing items {first:,} to {first + len(found.frame) - 1:,} of {found.total:,}, newest first"
               + (f" ({-(-found.total // PAGE_SIZE):,} pages of {PAGE_SIZE})." if found.total > PAGE_SIZE else "."))
grid = history_grid(found.frame)
show_grid(grid, "history_grid")
st.caption("Totals of the items on this page:")
show_totals(grid_totals(found.frame), "history_totals")
download_buttons(grid.frame[list(grid.titles)].rename(columns=grid.titles), "history", "history_download")
