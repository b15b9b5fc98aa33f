import json
from decimal import Decimal, InvalidOperation

import pandas as pd
import plotly.express as px
import streamlit as st

from core.auth import can
from core.underwriting.applications import (STATUSES, ApplicationError, add_document, application_metrics, confirm_document_rows,
                                            create_application, decide_application, document_rows, list_applications, mask_account,
                                            rows_to_confirm_of, take_in_imap, take_in_mail)
from core.underwriting.statements import TRANSACTION_FILE_COLUMNS
from core.views.format import format_money
from ui import flash, get_store, require, show_flashes, show_row_errors

me = require("viewer")
store = get_store()
analyst = can(me, "analyst")
st.title("Applications")
show_flashes()

if analyst:
    with st.expander("New application"), st.form("applications_new_form"):
        merchant = st.text_input("Merchant", key="applications_merchant")
        amount_text = st.text_input("Requested amount", key="applications_amount")
        currency = st.text_input("Currency", value="USD", max_chars=3, key="applications_currency")
        if st.form_submit_button("Create application"):
            try:
                made = create_application(store, merchant, Decimal(amount_text.replace(",", "")) if amount_text.strip() else None,
                                          user=me.username, currency=currency.upper())
                flash("success", f"Application {made} created.")
                st.rerun()
            except (ApplicationError, InvalidOperation) as exc:
                st.error(str(exc) if isinstance(exc, ApplicationError) else f"{amount_text!r} is not an amount")
    if st.button("Take in mail (inbox folder, and the IMAP mailbox when set)", key="applications_mail"):
        taken = take_in_mail(store, user=me.username)
        try:
            taken += take_in_imap(store, user=me.username)
        except ApplicationError as exc:
            st.error(str(exc))
        st.info(f"{len(taken)} mail(s) taken in: " + ", ".join(f"{f} -> application {a} ({n} document(s))" for f, a, n in taken)
                if taken else "No mail waiting.")

status = st.selectbox("Status", ["all", *STATUSES], key="applications_status")
queue = list_applications(store, None if status == "all" else status)
if not queue:
    st.info("No application with this status.")
    st.stop()
st.dataframe(pd.DataFrame([{"Id": a.id, "Merchant": a.merchant, "Requested": format_money(a.requested_amount, a.currency),
                            "Currency": a.currency, "Status": a.status, "Outcome": a.outcome or "", "Created": a.created_at}
                           for a in queue]),
             hide_index=True, width="stretch", key="applications_queue")
chosen = st.selectbox("Application", [a.id for a in queue], key="applications_chosen",
                      format_func=lambda i: next(f"{a.id}: {a.merchant}" for a in queue if a.id == i))
application = next(a for a in queue if a.id == chosen)

st.subheader("Documents")
if analyst and application.status != "decided":
    upload = st.file_uploader("Add a statement PDF", type=["pdf"], key="applications_upload")
    if upload is not None and st.button("Add document", key="applications_add"):
        added = add_document(store, application.id, upload.getvalue(), upload.name, user=me.username)
        problems = "; ".join(added.document.reading.get("problems", []))
        if not added.created:
            flash("info", f"{upload.name} is there already.")
        elif problems:
            flash("warning", f"{upload.name} is kept, but could not be read: {problems}.")
        else:
            flash("success", f"{upload.name} added.")
        st.rerun()
documents = document_rows(store, application.id)
if documents:
    st.dataframe(pd.DataFrame(documents).fillna(""), hide_index=True, width="stretch", key="applications_documents")
else:
    st.info("No document yet: add the merchant's bank statements (PDF).")
doubtful = [d for d in documents if d["doubtful rows"]]
if analyst and doubtful:
    document = doubtful[0]
    st.warning(f"{document['name']} was read by OCR and rows {document['doubtful rows']} are doubtful: check each against the page, "
               "correct what was misread, then confirm.")
    edited = st.data_editor(rows_to_confirm_of(store, document["id"]), hide_index=True, key="applications_confirm_rows",
                            disabled=["row", "page", "line", "confidence", "why"], width="stretch")
    if st.button("Confirm these rows", key="applications_confirm"):
        problems = confirm_document_rows(store, document["id"], edited, user=me.username)
        if problems:
            show_row_errors(problems, saving=True)
        else:
            flash("success", f"Rows of {document['name']} confirmed.")
            st.rerun()

result, errors = application_metrics(store, application.id) if documents else (None, [])
if result is None:
    if errors and not any(e.message == "no statement read yet" for e in errors):
        show_row_errors(errors, saving=False)
else:
    figures = result.metrics
    st.subheader("Metrics")
    accounts = figures["accounts"] if analyst else [mask_account(a) for a in figures["accounts"]]
    st.caption(f"Period {figures['period']['start']} to {figures['period']['end']} · accounts {', '.join(accounts)}")
    currencies = sorted({r["currency"] for r in result.transactions if r.get("currency")})
    shown_in = currencies[0] if len(currencies) == 1 else application.currency
    if currencies and currencies != [application.currency]:
        st.warning(f"The statements are in {', '.join(currencies)}; the application asks for {application.currency}.")

    def money(value) -> str:
        return format_money(Decimal(str(value)), shown_in) if value not in (None, "") else ""

    cols = st.columns(4)
    cols[0].metric("Average daily balance", money(figures["average_daily_balance"]))
    cols[1].metric("True revenue", money(figures["true_revenue"]),
                   help=f"of {money(figures['total_deposits'])} deposited in {figures['deposit_count']} deposits")
    cols[2].metric("NSF events", figures["nsf_count"])
    cols[3].metric("Negative days", figures["negative_balance_days"])
    holdback = figures["holdback"]
    st.caption(f"Holdback: {Decimal(str(holdback)) * 100:.2f} % of true revenue goes to advance payments" if holdback not in (None, "")
               else "Holdback: no true revenue")
    balances = pd.DataFrame([{"date": r["date"], "balance": float(r["balance"])} for r in result.transactions])
    st.plotly_chart(px.line(balances, x="date", y="balance", title="Balance over time", line_shape="hv"), key="applications_balance")
    months = pd.DataFrame([{"month": m["month"], "deposits": float(m["total_deposits"]), "true revenue": float(m["true_revenue"])}
                           for m in figures["monthly"]])
    by_month = px.bar(months, x="month", y=["deposits", "true revenue"], barmode="group", title="Deposits and true revenue")
    by_month.update_xaxes(type="category")  # a month, not a moment on a time axis
    st.plotly_chart(by_month, key="applications_months")
    st.markdown("**Advance positions**")
    if figures["mca_positions"]:
        st.dataframe(pd.DataFrame([{"Counterparty": p["counterparty"], "Frequency": p["frequency"], "Amount": money(p["amount"]),
                                    "First": p["first"], "Last": p["last"], "Payments": p["count"]} for p in figures["mca_positions"]]),
                     hide_index=True, width="stretch", key="applications_positions")
    else:
        st.caption("No recurring payments to a funder found.")
    shown = [{c: r.get(c) for c in TRANSACTION_FILE_COLUMNS} for r in result.transactions]
    if not analyst:
        shown = [{**r, "account": mask_account(r["account"])} for r in shown]
    left, right = st.columns(2)
    left.download_button("Download transactions.csv", pd.DataFrame(shown).to_csv(index=False), "transactions.csv", "text/csv",
                         key="applications_download_transactions", on_click="ignore")
    right.download_button("Download metrics.json", json.dumps(figures, indent=2, sort_keys=True), "metrics.json", "application/json",
                          key="applications_download_metrics", on_click="ignore")

st.subheader("Decision")
if application.status == "decided":
    st.info(f"{application.outcome} by {application.decided_by}: {application.decision_comment}")
elif application.proposed_outcome:
    st.info(f"Waiting for an approver: {application.proposed_by} proposes {application.proposed_outcome} ({application.proposed_comment}).")
if analyst and application.status != "decided":
    with st.form("applications_decision_form"):
        outcome = st.radio("Decision", ["approved", "declined"], horizontal=True, index=None, key="applications_outcome")
        comment = st.text_area("Comment (required)", key="applications_comment")
        if st.form_submit_button("Decide"):
            if outcome is None:
                st.error("Choose approved or declined.")
                st.stop()
            try:
                done = decide_application(store, application.id, outcome, comment, me)
                flash("success", "Decided." if done == "decided" else "Over the approval threshold: waiting for another approver.")
                st.rerun()
            except ApplicationError as exc:
                st.error(str(exc))
