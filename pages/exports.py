import datetime as dt

import pandas as pd
import plotly.express as px
import streamlit as st

from core.auth import can
from core.exports.requests import (FORMATS, KINDS, ExportError, ExportRequest, export_statistics, file_url, get_export, hand_over,
                                   list_exports, local_file, request_export)
from core.views.exports import KIND_LABELS, export_label, exports_frame, human_size, requests_per_day_frame
from ui import MOMENT, account, get_store

DOWNLOAD_LIMIT = 200 * 1024 * 1024  # larger files are read from the folder, not held in the app's memory for a download

me = account()
store = get_store()
st.title("Exports")
st.caption("Transactions, breaks, matches, journals and bank reconciliation statements as CSV, XLSX or Parquet, written in the "
           "background to the data folder or to S3. The same request is answered with the file already made, until the data "
           "changes or a refresh is asked for.")
if "exports_flash" in st.session_state:
    st.success(st.session_state.pop("exports_flash"))

if can(me, "analyst"):
    with st.form("exports_request"):
        left, middle, right = st.columns(3)
        kind = left.selectbox("What", KINDS, key="exports_kind", format_func=KIND_LABELS.get)
        fmt = middle.selectbox("Format", FORMATS, key="exports_format")
        destination = right.text_input("Where", value="local", key="exports_destination",
                                       help="local (the data folder's exports/) or s3://bucket/prefix"
                                            + ("; an admin may also name a folder on the server by its absolute path"
                                               if can(me, "admin") else ""))
        accounts = left.text_input("Accounts (comma-separated; empty: all)", key="exports_accounts")
        date_from = middle.date_input("From", value=None, key="exports_from")
        date_to = right.date_input("To", value=None, key="exports_to")
        refresh = st.checkbox("Make a new file even if the same export exists", key="exports_refresh")
        submitted = st.form_submit_button("Request export")
    if submitted:
        request = ExportRequest(kind=kind, accounts=tuple(a.strip() for a in accounts.split(",") if a.strip()),
                                date_from=date_from, date_to=date_to, format=fmt, destination=destination)
        try:
            ticket = request_export(store, request, actor=me.username, force=refresh, folders=can(me, "admin"))
        except ExportError as exc:
            st.error(str(exc))
        else:
            if ticket.status == "PENDING":
                hand_over(store, ticket.reference_id, worker=f"page:{me.username}")
            st.session_state["exports_flash"] = f"{ticket.reference_id}: {ticket.message}."
            st.session_state["exports_last"] = ticket.reference_id
            st.rerun()
else:
    st.caption("Requesting an export needs the analyst role; the exports made are listed below.")

active = any(v.status in ("PENDING", "RUNNING") for v in list_exports(store, limit=50))


@st.fragment(run_every="2s" if active else None)
def queue_and_history() -> None:
    views = list_exports(store, limit=200)
    st.subheader("Queue and history")
    if not views:
        st.info("No export has been requested yet.")
        return
    st.dataframe(exports_frame(views), hide_index=True, width="stretch", key="exports_history",
                 column_config={"requested at": MOMENT, "rows": st.column_config.NumberColumn(format="%,d"),
                                "duration (s)": st.column_config.NumberColumn(format="%.2f")})
    done = [v.reference_id for v in views if v.status == "COMPLETED"]
    if done:
        if st.session_state.get("exports_last") in done:  # the one just requested, once it is done
            st.session_state["exports_picked"] = st.session_state.pop("exports_last")
        labels = {v.reference_id: export_label(v) for v in views}
        picked = st.selectbox("Export", done, key="exports_picked", format_func=labels.get)
        view = get_export(store, picked) if picked else None
        if view is not None:
            path = local_file(store, view)
            if path is not None and view.file_size > DOWNLOAD_LIMIT:
                st.code(str(path), language=None)
                st.caption(f"{human_size(view.file_size)}: too large to pass through the browser; take it from the server's folder.")
            elif path is not None:
                st.download_button(f"Download {path.name} ({human_size(view.file_size)})", path.read_bytes, path.name,
                                   key="exports_download", on_click="ignore")
            elif link := file_url(store, view):
                st.code(link, language=None)
                st.caption("A link to copy; it expires in one hour.")
            else:
                st.warning("The file is no longer there: request the export again to make it anew.")
            st.caption(f"SHA-256 {view.sha256}; {view.row_count:,} rows.")
            if view.row_count == 0:
                st.info("This file holds no row: nothing of this kind matched the accounts (compared as written) and dates "
                        "asked for, or there is none yet.")
    if active and not any(v.status in ("PENDING", "RUNNING") for v in views):
        st.rerun()  # the last one finished: redraw the whole page, statistics and all, and stop refreshing


queue_and_history()

statistics = export_statistics(store)
if statistics["requests"]:
    st.subheader("Statistics")
    columns = st.columns(5)
    columns[0].metric("Requests", f"{statistics['requests']:,}")
    columns[1].metric("Reuse rate", f"{statistics['reuse_rate']:.0%}")
    columns[2].metric("Success rate", "" if statistics["success_rate"] is None else f"{statistics['success_rate']:.0%}")
    median = statistics["median_duration_seconds"]
    columns[3].metric("Median duration", "" if median is None else f"{median:.1f} s")
    columns[4].metric("Bytes written", human_size(statistics["bytes"]))
    left, right = st.columns(2)
    per_day = px.bar(requests_per_day_frame(statistics), x="day", y="requests", color="answered by", height=320,
                     title="Requests per day")
    per_day.update_xaxes(type="category")  # one bar per day, never a time axis that spreads one day over hours
    per_day.update_yaxes(tickformat=",d", dtick=1 if statistics["requests"] <= 10 else None)  # whole requests, never 0.5
    left.plotly_chart(per_day, width="stretch", key="exports_per_day")
    if statistics["durations_seconds"]:
        durations = px.histogram(pd.DataFrame({"seconds": statistics["durations_seconds"]}), x="seconds", nbins=20, height=320,
                                 title="Durations of completed exports")
        durations.update_yaxes(title="exports", tickformat=",d", dtick=1 if len(statistics["durations_seconds"]) <= 10 else None)
        right.plotly_chart(durations, width="stretch", key="exports_durations")
    st.caption(f"As of {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.")
