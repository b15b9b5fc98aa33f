import datetime as dt

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.auth import can
from core.banking.brs import LINES
from core.banking.saved import run_accounts, run_as_of
from core.banking.signoff import SignOffError, account_lock, account_statement, prepare_sign_off, sign_off, sign_offs
from core.domain.money import AmountError, parse_amount
from core.views import recent_runs
from ui import DATE, MONEY, account, download_buttons, flash, get_store, show_flashes

me = account()
store = get_store()
st.title("Bank reconciliation")
show_flashes()

runs = recent_runs(store)
if not runs:
    st.info("No reconciliation has been run yet: import the books and the bank's statement (Sources), then run one (Reconcile); "
            "its statement is drawn up here.")
    st.stop()
run_label = {r.id: f"Run {r.id} · {', '.join(r.accounts) or 'all accounts'} · {r.started_at:%Y-%m-%d %H:%M} · {r.created_by}" for r in runs}
run_col, account_col, date_col = st.columns(3)
run_id = run_col.selectbox("Run", list(run_label), format_func=run_label.get, key="brs_run")
chosen_run = next(r for r in runs if r.id == run_id)
accounts = run_accounts(store, run_id)
if not accounts:
    st.info("This run holds no records.")
    st.stop()
account_key = account_col.selectbox("Account", list(accounts), format_func=accounts.get, key="brs_account")
as_of = date_col.date_input("As of", value=run_as_of(store, run_id) or dt.date.today(), key="brs_as_of")
opening_col, closing_col = st.columns(2)
opening_text = opening_col.text_input("Book opening balance", value="0.00", key="brs_book_opening",
                                      help="The books' balance before the run's first record.")
closing_text = closing_col.text_input("Bank closing balance (empty: the statement's own)", value="", key="brs_bank_closing")


def amount_or_stop(text: str, label: str):
    if not text.strip():
        return None
    try:
        return parse_amount(text)
    except AmountError as exc:
        st.error(f"{label}: {exc}.")
        st.stop()


book_opening = amount_or_stop(opening_text, "Book opening balance")
bank_closing = amount_or_stop(closing_text, "Bank closing balance")
label = accounts[account_key]

lock = account_lock(store, label)
if lock is not None:
    st.info(f"🔒 {lock.account} is locked to {lock.as_of}: reconciliation of {lock.as_of} prepared by {lock.prepared_by}, "
            f"signed off by {lock.signed_by} on {lock.signed_at:%Y-%m-%d %H:%M} UTC. Decisions on its records up to that date are refused.")

try:
    brs = account_statement(store, run_id, label, as_of, book_opening=book_opening, bank_closing=bank_closing)
except SignOffError as exc:
    st.error(str(exc))
    st.stop()

lines = {x.line: x.amount for x in brs.lines}
currency = brs.summary["accounts"][brs.lines[0].account]["currency"]
closing_source = brs.summary["accounts"][brs.lines[0].account]["bank_closing"]["source"]
bank_metric, book_metric, difference_metric = st.columns(3)
bank_metric.metric("Adjusted bank balance", f"{lines['adjusted_bank_balance']:,} {currency}")
book_metric.metric("Adjusted book balance", f"{lines['adjusted_book_balance']:,} {currency}")
difference_metric.metric("Unexplained difference", f"{lines['unexplained_difference']:,} {currency}")
st.caption(f"Bank closing balance: {closing_source}.")

steps = [("bank_closing_balance", "absolute"), ("outstanding_payments", "relative"), ("deposits_in_transit", "relative"),
         ("adjusted_bank_balance", "total"), ("book_balance", "absolute"), ("bank_credits_not_in_books", "relative"),
         ("bank_debits_not_in_books", "relative"), ("differences_in_matched_items", "relative"), ("adjusted_book_balance", "total")]
figure = go.Figure(go.Waterfall(x=[name.replace("_", " ") for name, _ in steps], measure=[m for _, m in steps],
                                y=[float(lines[name]) if m != "total" else 0 for name, m in steps],
                                text=[f"{lines[name]:,}" for name, _ in steps], textposition="outside"))
figure.update_layout(title=f"{label} as of {as_of}: from the bank's balance and the books' to the adjusted balances",
                     showlegend=False, height=420)
st.plotly_chart(figure, key="brs_waterfall")

line_frame = pd.DataFrame([{"line": name.replace("_", " "), "amount": lines[name]} for name in LINES])
st.subheader("Lines")
st.dataframe(line_frame, hide_index=True, width="stretch", column_config={"amount": MONEY}, key="brs_lines")
download_buttons(line_frame, f"brs_{label}_{as_of}", "brs_lines_download")

st.subheader("Records behind a line")
items_frame = pd.DataFrame(brs.items.to_pylist(), columns=["account", "line", "side", "record_id", "date", "amount", "reference"])
listed = [name for name in LINES if name in set(items_frame["line"])]
if listed:
    picked = st.selectbox("Line", listed, format_func=lambda n: n.replace("_", " "), key="brs_drill_line")
    st.dataframe(items_frame[items_frame["line"] == picked], hide_index=True, width="stretch",
                 column_config={"amount": MONEY, "date": DATE}, key="brs_drill_items")
    download_buttons(items_frame, f"brs_items_{label}_{as_of}", "brs_items_download")
else:
    st.caption("No line has records on this date.")

st.subheader("Sign-off")
history = sign_offs(store, label)
waiting = [s for s in history if s.status == "prepared" and s.as_of == as_of]
if can(me, "analyst"):
    if st.button("Prepare for sign-off", key="brs_prepare", disabled=lines["unexplained_difference"] != 0,
                 help="Only a statement with no unexplained difference can be signed off."):
        try:
            prepared = prepare_sign_off(store, run_id, label, as_of, me, book_opening=book_opening, bank_closing=bank_closing)
        except SignOffError as exc:
            st.error(str(exc))
        else:
            flash("success", f"Reconciliation {prepared.id} of {prepared.account} as of {prepared.as_of} waits for an approver's sign-off.")
            st.rerun()
if waiting and can(me, "approver"):
    chosen = waiting[0]
    st.write(f"Reconciliation {chosen.id}, prepared by {chosen.prepared_by} on {chosen.prepared_at:%Y-%m-%d %H:%M}, waits for sign-off.")
    if st.button("Sign off", key="brs_sign_off", disabled=chosen.prepared_by == me.username,
                 help="Another approver than the preparer signs off."):
        try:
            signed = sign_off(store, chosen.id, me)
        except SignOffError as exc:
            st.error(str(exc))
        else:
            flash("success", f"Signed off: {signed.account} is locked to {signed.as_of}.")
            st.rerun()
if history:
    signed_frame = pd.DataFrame([{"id": s.id, "as of": s.as_of, "status": s.status.replace("_", " "), "run": s.run_id,
                                  "prepared by": s.prepared_by, "signed by": s.signed_by or "",
                                  **{name.replace("_", " "): s.lines.get(name, "") for name in LINES}} for s in history])
    st.dataframe(signed_frame, hide_index=True, width="stretch", column_config={"as of": DATE}, key="brs_sign_offs")
else:
    st.caption("Nothing prepared or signed off for this account yet.")
