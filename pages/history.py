import streamlit as st

from core.workbench import history_frame
from ui import download_buttons, get_store

store = get_store()
st.title("History")
st.caption("Cleared items archived per account: records matched in any run, and breaks resolved or matched by hand.")
c1, c2 = st.columns(2)
account_filter = c1.text_input("Account", key="history_account")
search = c2.text_input("Search record id or reference", key="history_search")
frame = history_frame(store, account_filter.strip(), search)
st.caption(f"{len(frame):,} item(s)")
st.dataframe(frame, hide_index=True, width="stretch", key="history_grid")
download_buttons(frame, "history", "history_download")
