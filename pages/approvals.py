import streamlit as st

from core.auth import can
from core.review import ReviewError, decide_pending, pending_decisions
from core.views.approvals import approvals_grid, decision_summaries, pending_records
from core.views.format import grid_totals
from ui import account, download_buttons, flash, get_store, show_flashes, show_grid, show_totals

me = account()
store = get_store()
st.title("Approvals")
show_flashes()
st.caption("Manual matches, unmatches, resolutions and approvals of proposed matches above the approval threshold, and requests "
           "to import a statement that does not add up (approved: imported with the difference recorded and flagged), wait here "
           "for a second person with the approver role. Nobody approves their own.")

pending = pending_decisions(store)
if not pending:
    st.info("Nothing waits for approval.")
    st.stop()
records = pending_records(store, pending)
st.caption(f"⏳ {len(pending):,} decision(s) wait, covering {len(records):,} record(s). Open a record where it stands with its link.")
grid = approvals_grid(records)
show_grid(grid, "approvals_grid")
show_totals(grid_totals(records[records["amount"].notna()]), "approvals_totals")
download_buttons(records[[c for c in grid.titles if c != "link"]].rename(columns=grid.titles), "pending_approvals",
                 "approvals_download")
mine = [p for p in pending if p.made_by_id == me.user_id or (p.made_by_id is None and p.made_by == me.username)]
if mine:
    st.info(f"{len(mine)} of these are yours; another approver must decide them.")
if not can(me, "approver"):
    st.stop()
# The decision the person picked, read before the list is drawn again: if another approver took
# it meanwhile, the list no longer holds it and would fall back to another decision.
picked = st.session_state.get("approvals_decision")
summaries = decision_summaries(records)
with st.form("approvals_form"):
    decision_id = st.selectbox("Decision", [p.id for p in pending], key="approvals_decision",
                               format_func=lambda i: summaries.get(i, str(i)))
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
