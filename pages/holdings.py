import datetime as dt
from decimal import Decimal, InvalidOperation

import pandas as pd
import plotly.express as px
import streamlit as st

from connectors.sources.mongodb import MongoBooks
from core.holdings import read_internal_from_books, reconcile_sources, save_holdings_run, write_results_to_books
from ui import download_buttons, get_store, require, show_row_errors

me = require("analyst")
store = get_store()
st.title("Holdings")
st.caption("Units per folio and scheme in the books against CAMS and KFintech registrar files, as of a date.")

with st.form("holdings_form"):
    left, right = st.columns(2)
    as_of = left.date_input("As of", value=dt.date.today(), key="holdings_as_of")
    tolerance_text = right.text_input("Unit tolerance", value="0.001", key="holdings_tolerance")
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
        tolerance = Decimal(tolerance_text)
    except InvalidOperation:
        st.error(f"Unit tolerance {tolerance_text!r} is not a number.")
        st.stop()
    registrars = [(f.name, f.getvalue()) for f in registrar_files or []]
    if not registrars:
        st.error("Add at least one registrar file.")
        st.stop()
    database = None
    if source == "MongoDB":
        import pymongo

        database_name, _, collection_name = mongo_collection.partition(".")
        try:
            client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
            database = client[database_name]
            internal, errors = read_internal_from_books(MongoBooks(database[collection_name]), as_of)
        except Exception as exc:  # the database's error, shown instead of a traceback
            st.error(f"MongoDB: {type(exc).__name__}: {exc}")
            st.stop()
        if errors:
            show_row_errors(errors)
            st.stop()
    elif books is None:
        st.error("Add the books' file, or choose MongoDB.")
        st.stop()
    else:
        internal = (books.name, books.getvalue())
    with st.status("Reconciling ...") as status:
        rows, warnings, errors = reconcile_sources(internal, registrars, as_of, tolerance)
        if not errors:
            run = save_holdings_run(store, rows, as_of, tolerance, [books.name if books else mongo_collection] + [n for n, _ in registrars],
                                    me.username)
            if write_back and database is not None:
                write_results_to_books(MongoBooks(database[collection_name], database["holdings_results"]), rows, as_of)
            status.update(label=f"Holdings run {run.id} saved", state="complete")
    if errors:
        show_row_errors(errors)
        st.stop()
    for warning in warnings:
        st.warning(warning)
    st.session_state["holdings_rows"] = pd.DataFrame([r._asdict() for r in rows])

frame = st.session_state.get("holdings_rows")
if frame is None:
    st.stop()
if frame.empty:
    st.info("Neither side holds any units as of that date.")
    st.stop()
counts = frame["status"].value_counts()
columns = st.columns(4)
for column, status in zip(columns, ("matched", "mismatched", "registrar_only", "internal_only")):
    column.metric(status.replace("_", " "), int(counts.get(status, 0)))
c1, c2, c3 = st.columns(3)
statuses = c1.multiselect("Status", sorted(frame["status"].unique()), key="holdings_filter_status")
registrars = c2.multiselect("Registrar", sorted(frame["registrar"].unique()), key="holdings_filter_registrar")
search = c3.text_input("Folio or scheme", key="holdings_filter_search")
shown = frame
if statuses:
    shown = shown[shown["status"].isin(statuses)]
if registrars:
    shown = shown[shown["registrar"].isin(registrars)]
if search.strip():
    needle = search.strip().lower()
    shown = shown[[needle in f"{a} {b} {c}".lower() for a, b, c in zip(shown["folio"], shown["product"], shown["product_name"])]]
st.dataframe(shown, hide_index=True, width="stretch", key="holdings_grid")
download_buttons(shown, f"holdings_{st.session_state.get('holdings_as_of')}", "holdings_download")
breaks = frame[frame["status"] != "matched"]
if not breaks.empty:
    by_scheme = breaks.groupby(["product", "status"]).size().reset_index(name="positions")
    chart = px.bar(by_scheme, x="product", y="positions", color="status", height=320, title="Differences by scheme")
    chart.update_yaxes(dtick=max(1, -(-int(by_scheme["positions"].max()) // 5)))
    st.plotly_chart(chart, width="stretch", key="holdings_chart")
