import streamlit as st

from core.ingest.retirement import DatasetRetireError, retire_dataset
from core.views.datasets import dataset_catalogue, dataset_csv, dataset_preview, datasets_frame
from ui import DATE, MOMENT, flash, get_store, require, show_flashes

me = require("analyst")
store = get_store()
st.title("Datasets")
st.caption("What was imported, as books or statement: source file, profile, rows, period, accounts, statement balances, "
           "who and when. A dataset no run has read may be retired: runs are no longer offered it.")
show_flashes()

entries = dataset_catalogue(store)
if not entries:
    st.info("No datasets yet. Import the books and a statement on the Sources page.")
    st.stop()
roles = st.multiselect("Role", ["books", "statement"], key="datasets_roles")
show_retired = st.checkbox("Show retired datasets", key="datasets_show_retired")
shown = [e for e in entries if (not roles or e.role in roles) and (show_retired or e.retired_by is None)]
books_count = sum(e.role == "books" for e in shown)
st.write(f"{len(shown):,} dataset(s) shown: {books_count:,} books, {len(shown) - books_count:,} statement(s).")
st.dataframe(datasets_frame(shown), hide_index=True, width="stretch", key="datasets_grid",
             column_config={"From": DATE, "To": DATE, "Imported": MOMENT})
if not shown:
    st.stop()

by_id = {e.dataset.id: e for e in shown}
chosen = st.selectbox("Dataset", list(by_id), key="datasets_chosen",
                      format_func=lambda i: f"{by_id[i].role} · {by_id[i].dataset.name} · {by_id[i].dataset.row_count:,} rows · "
                                            f"{i[:12]}")
entry = by_id[chosen]
st.subheader(entry.dataset.name)
if entry.dataset.unbalanced:
    st.warning(f"⚠ Imported although it does not add up: {entry.dataset.unbalanced}")
for line in entry.balances:
    st.write(f"Statement balance: {line}")
rows = st.number_input("Rows to preview", min_value=1, max_value=500, value=20, key="datasets_preview_rows")
st.dataframe(dataset_preview(store, chosen, int(rows)), hide_index=True, width="stretch", key="datasets_preview")
st.download_button("Download CSV", lambda: dataset_csv(store, chosen), f"{entry.dataset.name.rsplit('.', 1)[0]}.csv", "text/csv",
                   key="datasets_download", on_click="ignore")

if entry.retired_by:
    st.info(f"Retired by {entry.retired_by} on {entry.retired_at:%Y-%m-%d %H:%M}: runs are no longer offered it.")
else:
    if entry.runs:
        st.caption(f"Read by run(s) {', '.join(map(str, entry.runs))}: kept for their record, it cannot be retired.")
    with st.form("datasets_retire_form"):
        reason = st.text_input("Why retire it (kept in the audit log)", key="datasets_retire_reason")
        retire = st.form_submit_button("Retire this dataset")
    if retire:
        try:
            retire_dataset(store, chosen, me.username, reason)
        except DatasetRetireError as exc:
            st.error(str(exc))
        else:
            flash("success", f"{entry.dataset.name} is retired: runs are no longer offered it.")
            st.rerun()
