import datetime as dt

import plotly.express as px
import streamlit as st

from core.domain.money import AmountError
from core.holdings import parse_tolerance, run_holdings, run_holdings_from_mongodb
from core.views.holdings import formatted_units, holdings_frame, holdings_runs, reopen_holdings_run, unit_differences
from ui import MOMENT, download_buttons, get_store, require, show_row_errors

me = require("analyst")
store = get_store()
st.title("Holdings")
st.caption("Units per folio and scheme in the books against CAMS and KFintech registrar files, as of a date.")

# Outside the form, so the MongoDB fields appear as soon as MongoDB is chosen.
source = st.radio("Books", ["File", "MongoDB"], horizontal=True, key="holdings_source")
with st.form("holdings_form"):
    as_of_col, tolerance_col = st.columns(2)
    as_of = as_of_col.date_input("As of", value=dt.date.today(), key="holdings_as_of")
    tolerance_text = tolerance_col.text_input("Unit tolerance", value="0.001", key="holdings_tolerance")
    books = mongo_uri = mongo_collection = None
    write_back = False
    if source == "MongoDB":
        mongo_uri = st.text_input("MongoDB URI", key="holdings_mongo_uri")
        mongo_collection = st.text_input("Database.collection of the transactions", value="recon.transactions",
                                         key="holdings_mongo_collection")
    else:
        books = st.file_uploader("Books' holdings transactions (CSV or XLSX)", key="holdings_books")
    registrar_files = st.file_uploader("Registrar files (CAMS, KFintech: DBF, XLSX or CSV)", accept_multiple_files=True,
                                       key="holdings_registrars")
    if source == "MongoDB":
        write_back = st.checkbox("Also write the results to MongoDB (collection holdings_results)", key="holdings_write_back")
    submitted = st.form_submit_button("Reconcile holdings", type="primary")

if submitted:
    try:
        tolerance = parse_tolerance(tolerance_text)
    except AmountError as exc:
        st.error(f"Unit tolerance: {exc}.")
        st.stop()
    registrars = [(f.name, f.getvalue()) for f in registrar_files or []]
    if not registrars:
        st.error("Add at least one registrar file.")
        st.stop()
    if source == "File" and books is None:
        st.error("Add the books' file, or choose MongoDB.")
        st.stop()
    with st.status("Reconciling ...") as status:
        if source == "MongoDB":
            outcome = run_holdings_from_mongodb(store, mongo_uri, mongo_collection, registrars, as_of, tolerance, user=me.username,
                                                write_back=write_back)
        else:
            outcome = run_holdings(store, (books.name, books.getvalue()), registrars, as_of, tolerance, user=me.username)
        if outcome.run is not None:
            status.update(label=f"Holdings run {outcome.run.id} saved", state="complete")
        else:
            status.update(label="Nothing was saved", state="error")
    if outcome.errors:
        show_row_errors(outcome.errors)
        st.stop()
    for warning in outcome.warnings:
        st.warning(warning)
    st.session_state["holdings_rows"] = holdings_frame(outcome.rows)
    st.session_state["holdings_shown_run"] = outcome.run.id if outcome.run is not None else None

past = holdings_runs(store)
if past:
    with st.expander(f"Past holdings runs ({len(past)})", expanded=st.session_state.get("holdings_rows") is None):
        st.dataframe([{"Run": r.id, "As of": r.as_of, "Tolerance": r.tolerance, "Sources": ", ".join(r.sources),
                       **{s.replace("_", " "): r.summary.get(s, 0) for s in ("matched", "mismatched", "registrar_only", "internal_only")},
                       "By": r.created_by, "Saved": r.created_at} for r in past],
                     hide_index=True, width="stretch", key="holdings_runs_grid", column_config={"Saved": MOMENT})
        by_id = {r.id: r for r in past}
        reopen_col, button_col = st.columns([4, 1])
        reopen = reopen_col.selectbox("Reopen a run", list(by_id), format_func=lambda i: by_id[i].label, key="holdings_reopen_run")
        if button_col.button("Reopen", key="holdings_reopen"):
            try:
                st.session_state["holdings_rows"] = reopen_holdings_run(store, reopen)
                st.session_state["holdings_shown_run"] = reopen
            except KeyError as exc:
                st.error(str(exc.args[0]))

frame = st.session_state.get("holdings_rows")
if frame is None:
    st.stop()
if st.session_state.get("holdings_shown_run") is not None:
    st.subheader(f"Holdings run {st.session_state['holdings_shown_run']}")
if frame.empty:
    st.info("Neither side holds any units as of that date.")
    st.stop()
counts = frame["status"].value_counts()
count_cols = st.columns(4)
for count_col, status in zip(count_cols, ("matched", "mismatched", "registrar_only", "internal_only")):
    count_col.metric(status.replace("_", " "), int(counts.get(status, 0)))
status_col, registrar_col, search_col = st.columns(3)
statuses = status_col.multiselect("Status", sorted(frame["status"].unique()), key="holdings_filter_status")
registrars = registrar_col.multiselect("Registrar", sorted(frame["registrar"].unique()), key="holdings_filter_registrar")
search = search_col.text_input("Folio or scheme", key="holdings_filter_search")
shown = frame
if statuses:
    shown = shown[shown["status"].isin(statuses)]
if registrars:
    shown = shown[shown["registrar"].isin(registrars)]
if search.strip():
    needle = search.strip().lower()
    shown = shown[[needle in f"{folio} {product} {name}".lower()
                   for folio, product, name in zip(shown["folio"], shown["product"], shown["product_name"])]]
st.dataframe(formatted_units(shown), hide_index=True, width="stretch", key="holdings_grid")
download_buttons(shown, f"holdings_{st.session_state.get('holdings_as_of')}", "holdings_download")
differences = unit_differences(frame)
if not differences.empty:
    chart = px.bar(differences, x="position", y="difference", color="status", height=340, hover_data={"difference_text": True},
                   title="Unit differences per position (books less registrar)", labels={"difference": "units"})
    st.plotly_chart(chart, width="stretch", key="holdings_chart")
