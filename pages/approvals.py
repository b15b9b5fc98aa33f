import pandas as pd
import streamlit as st

from core.auth import can
from core.review import REASON_CODES, ReviewError, decide_pending, pending_decisions
from ui import MONEY, account, download_buttons, flash, get_store, show_flashes

me = account()
store = get_store()
st.title("Approvals")
show_flashes()
st.caption("Manual matches, unmatches, resolutions and approvals of proposed matches above the approval threshold, and requests "
           "to import a statement that does not add up (approved: imported with the difference recorded and flagged), wait here "
           "for a second person with the approver role. Nobody approves their own.")

pending = pending_decisions(store)
table = pd.DataFrame([{"decision": p.id, "what": p.action.replace("_", " "), "on": p.target, "account": p.account,
                       "currency": p.currency, "amount": p.amount, "reason": REASON_CODES.get(p.reason_code or "", ""),
                       "comment": p.comment, "made by": p.made_by,
                       "made at": p.made_at, "waits for": f"an approver other than {p.made_by}"} for p in pending])
if table.empty:
    st.info("Nothing waits for approval.")
    st.stop()
st.dataframe(table, hide_index=True, width="stretch", key="approvals_grid", column_config={"amount": MONEY})
download_buttons(table, "pending_approvals", "approvals_download")
mine = [p for p in pending if p.made_by_id == me.user_id or (p.made_by_id is None and p.made_by == me.username)]
if mine:
    st.info(f"{len(mine)} of these are yours; another approver must decide them.")
if not can(me, "approver"):
    st.stop()
# The decision the person picked, read before the list is drawn again: if another approver took
# it meanwhile, the list no longer holds it and would fall back to another decision.
picked = st.session_state.get("approvals_decision")
with st.form("approvals_form"):
    decision_id = st.selectbox("Decision", [p.id for p in pending], key="approvals_decision",
                               format_func=lambda i: next(f"{i}: {p.action.replace('_', ' ')} on {p.target} by {p.made_by}" for p in pending if p.id == i))
    comment = st.text_input("Comment", key="approvals_comment")
    approve_col, refuse_col = st.columns(2)
    approved = approve_col.form_submit_button("Approve", type="primary")
    refused = refuse_col.form_submit_button("Refuse")
if approved or refused:
    try:
        decision_id = picked if picked is not None else decision_id
        decide_pending(store, int(decision_id), approved, me, comment)
        flash("success", f"Decision {decision_id} {'approved and applied' if approved else 'refused'}.")
    except ReviewError as exc:
        flash("error", str(exc))
    st.rerun()
