import datetime as dt

import pandas as pd
import plotly.express as px
import streamlit as st

from core.domain.money import AmountError
from core.holdings import parse_tolerance, run_holdings, run_holdings_from_mongodb
from ui import download_buttons, get_store, require, show_row_errors

me = require("analyst")
store = get_store()
st.title("Holdings")
st.caption("Units per folio and scheme in the books against CAMS and KFintech registrar files, as of a date.")

with st.form("holdings_form"):
    as_of_col, tolerance_col = st.columns(2)
    as_of = as_of_col.date_input("As of", value=dt.date.today(), key="holdings_as_of")
    tolerance_text = tolerance_col.text_input("Unit tolerance", value="0.001", key="holdings_tolerance")
    source = st.radio("Books", ["File", "MongoDB"], horizontal=True, key="holdings_source")
    books = st.file_uploader("Books' holdings transactions (CSV or XLSX)", key="holdings_books")
    mongo_uri = st.text_input("MongoDB URI (for the MongoDB choice)", key="holdings_mongo_uri")
    mongo_collection = st.text_input("Database.collection of the transactions", value="recon.transactions", key="holdings_mongo_collection")
    registrar_files = st.file_uploader("Registrar files (CAMS, KFintech: DBF, XLSX or CSV)", accept_multiple_files=True,
                                       key="holdings_registrars")
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
    st.session_state["holdings_rows"] = pd.DataFrame([r._asdict() for r in outcome.rows])

frame = st.session_state.get("holdings_rows")
if frame is None:
    st.stop()
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
st.dataframe(shown, hide_index=True, width="stretch", key="holdings_grid")
download_buttons(shown, f"holdings_{st.session_state.get('holdings_as_of')}", "holdings_download")
breaks = frame[frame["status"] != "matched"]
if not breaks.empty:
    by_scheme = breaks.groupby(["product", "status"]).size().reset_index(name="positions")
    chart = px.bar(by_scheme, x="product", y="positions", color="status", height=320, title="Differences by scheme")
    chart.update_yaxes(dtick=max(1, -(-int(by_scheme["positions"].max()) // 5)))
    st.plotly_chart(chart, width="stretch", key="holdings_chart")
