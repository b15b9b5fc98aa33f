from decimal import Decimal, InvalidOperation

import plotly.express as px
import streamlit as st

from core.auth import can
from core.review import (REASON_CODES, ReviewError, approve_proposed_many, manual_match, net_difference, reject_proposed_many,
                         resolve_break, unmatch_group)
from core.workbench import (AGE_BUCKETS, BreakFilters, aging_summary, audit_frame, breaks_stamp, confirmed_groups, filter_breaks,
                           load_breaks, proposed_frame, recent_runs)
from ui import MONEY, account, download_buttons, flash, get_store, show_flashes

me = account()
store = get_store()
may_decide = can(me, "analyst")
st.title("Breaks")
show_flashes()

runs = recent_runs(store)
if not runs:
    st.info("No reconciliation has been run yet.")
    st.stop()
run_label = {r.id: f"Run {r.id} · {', '.join(r.accounts) or 'all accounts'} · {r.started_at:%Y-%m-%d %H:%M} · {r.created_by}" for r in runs}
run_id = st.selectbox("Run", list(run_label), format_func=run_label.get, key="breaks_run")


def amount_or_none(text: str, label: str):
    if not text.strip():
        return None
    try:
        return Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        st.error(f"{label}: {text!r} is not a number")
        st.stop()


@st.cache_data(max_entries=4, show_spinner=False)
def cached_breaks(run: int, stamp: tuple[int, int]):
    return load_breaks(get_store(), run)


with st.expander("Filters", expanded=True):
    everything = cached_breaks(run_id, breaks_stamp(store, run_id))
    c1, c2, c3 = st.columns(3)
    accounts = c1.multiselect("Account", sorted(everything["account"].unique()) if len(everything) else [], key="breaks_accounts")
    sides = c2.multiselect("Side", ["internal", "external"], format_func={"internal": "books", "external": "statement"}.get, key="breaks_sides")
    ages = c3.multiselect("Age (days)", AGE_BUCKETS, key="breaks_ages")
    c4, c5, c6, c7 = st.columns(4)
    amount_min = amount_or_none(c4.text_input("Amount from (absolute)", key="breaks_amount_min"), "Amount from")
    amount_max = amount_or_none(c5.text_input("Amount to (absolute)", key="breaks_amount_max"), "Amount to")
    statuses = c6.multiselect("Status", ["open", "resolved", "matched"], default=["open"], key="breaks_statuses")
    reasons = c7.multiselect("Reason", sorted(everything["reason"].unique()) if len(everything) else [], key="breaks_reasons")
filters = BreakFilters(tuple(accounts), tuple(sides), tuple(ages), amount_min, amount_max, tuple(statuses), tuple(reasons))
frame = filter_breaks(everything, filters)
# A decision names the version the user saw on screen, not whatever is current at the click,
# so a change made meanwhile by someone else is reported instead of overwritten.
seen_breaks = st.session_state.get("breaks_seen", {})
seen_groups = st.session_state.get("breaks_proposed_seen", {})
st.session_state["breaks_seen"] = dict(zip(everything["id"].tolist(), everything["version"].tolist())) if len(everything) else {}

open_tab, proposed_tab, confirmed_tab, aging_tab = st.tabs(["Breaks", "Proposed matches", "Confirmed matches", "Aging"])

with open_tab:
    shown = frame[["id", "side", "account", "date", "amount", "currency", "reference", "description", "reason", "status",
                   "resolution", "age_days", "pending_decision_id"]] if len(frame) else frame
    st.caption(f"{len(frame):,} break(s)")
    grid = st.dataframe(shown, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row", key="breaks_grid",
                        column_config={"amount": MONEY})
    download_buttons(shown, f"breaks_run_{run_id}", "breaks_download")
    picked = [int(frame.iloc[i]["id"]) for i in grid.selection.rows] if len(frame) else []
    typed = st.text_input("Or type break ids (comma-separated)", key="breaks_ids")
    picked += [int(x) for x in typed.replace(" ", "").split(",") if x.isdigit()]
    chosen = everything[everything["id"].isin(picked)] if len(everything) else everything
    if len(set(picked)) == 1:
        with st.expander(f"Audit trail of break {picked[0]}"):
            st.dataframe(audit_frame(store, entity_type="break", entity_id=str(picked[0])), hide_index=True, width="stretch",
                         key="breaks_audit_trail")
    if may_decide and picked:
        st.markdown(f"**{len(set(picked))} selected** · net difference (statement less books): "
                    f"`{net_difference(list(chosen.itertuples()))}`")
        current = dict(zip(chosen["id"].tolist(), chosen["version"].tolist()))
        versions = {i: seen_breaks.get(i, current.get(i, 0)) for i in dict.fromkeys(picked)}
        resolve_col, match_col = st.columns(2)
        with resolve_col.form("breaks_resolve_form"):
            code = st.selectbox("Reason code", list(REASON_CODES), format_func=REASON_CODES.get, key="breaks_resolve_code")
            comment = st.text_input("Comment", key="breaks_resolve_comment")
            if st.form_submit_button("Resolve selected"):
                for break_id, version in versions.items():
                    try:
                        outcome = resolve_break(store, int(break_id), int(version), code, comment, me)
                        flash("success", f"Break {break_id}: {'resolved' if outcome.status == 'applied' else 'sent for approval'}.")
                    except ReviewError as exc:
                        flash("error", str(exc))
                st.rerun()
        with match_col.form("breaks_match_form"):
            code = st.selectbox("Reason code (needed when they do not net to zero)", [""] + list(REASON_CODES),
                                format_func=lambda c: REASON_CODES.get(c, "none"), key="breaks_match_code")
            comment = st.text_input("Comment", key="breaks_match_comment")
            if st.form_submit_button("Match selected"):
                try:
                    outcome = manual_match(store, [int(i) for i in versions], {int(k): int(v) for k, v in versions.items()}, me,
                                           reason_code=code or None, comment=comment)
                    flash("success", "Matched." if outcome.status == "applied" else f"Sent for approval (decision {outcome.decision_id}).")
                except ReviewError as exc:
                    flash("error", str(exc))
                st.rerun()

with proposed_tab:
    proposals = proposed_frame(store, run_id)
    st.caption(f"{len(proposals):,} proposed match(es) waiting for review")
    queue = st.dataframe(proposals.drop(columns=["version"]), hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="multi-row", key="breaks_proposed_grid", column_config={"amount_diff": MONEY})
    download_buttons(proposals.drop(columns=["version"]), f"proposed_run_{run_id}", "breaks_proposed_download")
    picked = [int(proposals.iloc[i]["id"]) for i in queue.selection.rows] if len(proposals) else []
    if st.checkbox("Select every proposal shown", key="breaks_proposed_all"):
        picked = proposals["id"].astype(int).tolist()
    typed = st.text_input("Or type match group ids (comma-separated)", key="breaks_proposed_ids")
    picked += [int(x) for x in typed.replace(" ", "").split(",") if x.isdigit()]
    st.session_state["breaks_proposed_seen"] = dict(zip(proposals["id"].tolist(), proposals["version"].tolist()))
    selected = proposals[proposals["id"].isin(picked)].assign(
        version=lambda f: [seen_groups.get(i, v) for i, v in zip(f["id"], f["version"])])
    if may_decide and len(selected):
        approve_col, reject_col = st.columns(2)
        chosen = dict(zip(selected["id"].astype(int).tolist(), selected["version"].astype(int).tolist()))
        if approve_col.button(f"Approve {len(selected)}", type="primary", key="breaks_approve"):
            try:
                approve_proposed_many(store, chosen, me)
                flash("success", f"{len(chosen):,} match(es) confirmed.")
            except ReviewError as exc:
                flash("error", f"{exc}. Nothing was approved.")
            st.rerun()
        reason = reject_col.text_input("Why reject", key="breaks_reject_comment")
        if reject_col.button(f"Reject {len(selected)}", key="breaks_reject"):
            try:
                reject_proposed_many(store, chosen, me, reason)
                flash("success", f"{len(chosen):,} match(es) rejected; their records are open breaks again.")
            except ReviewError as exc:
                flash("error", f"{exc}. Nothing was rejected.")
            st.rerun()

with confirmed_tab:
    search = st.text_input("Search by record id or account", key="breaks_confirmed_search")
    groups = confirmed_groups(store, run_id, search)
    st.dataframe(groups, hide_index=True, width="stretch", key="breaks_confirmed_grid", column_config={"amount_diff": MONEY})
    download_buttons(groups, f"confirmed_run_{run_id}", "breaks_confirmed_download")
    if may_decide and len(groups):
        with st.form("breaks_unmatch_form"):
            match_id = st.selectbox("Match to undo", groups["match_id"].tolist(), key="breaks_unmatch_id")
            comment = st.text_input("Why", key="breaks_unmatch_comment")
            if st.form_submit_button("Unmatch"):
                try:
                    outcome = unmatch_group(store, run_id, int(match_id), me, comment)
                    flash("success", "Unmatched; its records are open breaks again." if outcome.status == "applied"
                          else f"Sent for approval (decision {outcome.decision_id}).")
                except ReviewError as exc:
                    flash("error", str(exc))
                st.rerun()

with aging_tab:
    aging = aging_summary(filter_breaks(everything, BreakFilters(accounts=tuple(accounts), sides=tuple(sides))))
    chart = px.bar(aging, x="age", y="breaks", color="side", barmode="group", category_orders={"age": list(AGE_BUCKETS)}, height=320)
    chart.update_yaxes(rangemode="tozero", dtick=max(1, -(-int(aging["breaks"].max()) // 5)), title="breaks")
    st.plotly_chart(chart, width="stretch", key="breaks_aging_chart")
    st.dataframe(aging, hide_index=True, width="stretch", key="breaks_aging_table", column_config={"amount": MONEY})
