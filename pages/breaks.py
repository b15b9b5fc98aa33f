from collections import Counter

import plotly.express as px
import streamlit as st

from core.auth import can
from core.banking.booking import book_break
from core.banking.ledger import LedgerError, list_gl_accounts, parse_dimension_text
from core.domain.money import AmountError, format_amount, parse_amount
from core.ingest.datasets import unbalanced_notes
from core.review import (REASON_CODES, ReviewError, approve_proposed_many, manual_match, net_difference_per_currency, reject_proposed_many,
                         resolve_breaks, unmatch_group)
from core.views import (AGE_BUCKETS, BreakFilters, account_choices, aging_summary, audit_frame, breaks_stamp, confirmed_groups,
                        filter_breaks, filter_proposals, load_breaks, money_per_currency, proposed_frame, recent_runs)
from core.review.followup import assign_break, comment_on_break
from core.views.approvals import read_break_link
from core.views.breaks import SELECTED_TITLES, breaks_grid
from core.views.followup import (VIEW_FILTERS, SavedViewError, assignable_users, break_thread, delete_break_view, mine, save_break_view,
                                 saved_break_views, with_follow_up)
from core.views.format import grid_totals
from core.views.matches import MATCH_TOTALS_TITLES, confirmed_grid, match_totals, proposals_grid
from ui import account, download_buttons, flash, forget_selection, get_store, grid_selection, show_flashes, show_grid, show_totals

me = account()
store = get_store()
may_decide = can(me, "analyst")
gl_accounts = list_gl_accounts(store) if may_decide else []  # for booking a statement-side break to the ledger
gl_names = {a.code: a.name for a in gl_accounts}
st.title("Breaks")
show_flashes()
# After a decision the typed ids and "select every proposal" start empty: what was decided is
# never offered again by a leftover entry.
if st.session_state.pop("breaks_decided", False):
    st.session_state["breaks_ids"] = ""
if st.session_state.pop("breaks_proposed_decided", False):
    st.session_state["breaks_proposed_ids"] = ""
    st.session_state["breaks_proposed_all"] = False

runs = recent_runs(store)
if not runs:
    st.info("No reconciliation has been run yet.")
    st.stop()
# Opened from a link (the Approvals page): the run, and the breaks, proposed match or search it names, once per link.
link = read_break_link(st.query_params.to_dict())
if link is not None and st.session_state.get("breaks_link") != link and link.run_id in {r.id for r in runs}:
    st.session_state["breaks_link"] = link
    st.session_state["breaks_run"] = link.run_id
    st.session_state["breaks_statuses"] = ["open", "resolved", "matched"]
    st.session_state["breaks_ids"] = ",".join(map(str, link.break_ids))
    st.session_state["breaks_proposed_ids"] = str(link.proposed) if link.proposed is not None else ""
    st.session_state["breaks_confirmed_search"] = link.search
if link is not None:
    st.info(f"Opened on run {link.run_id}" + (f", break(s) {', '.join(map(str, link.break_ids))} picked below"
                                               if link.break_ids else "")
            + (f", proposed match {link.proposed} picked on the Proposed matches tab" if link.proposed is not None else "")
            + (f", confirmed matches searched for {link.search!r} on the Confirmed matches tab" if link.search else "") + ".")
run_label = {r.id: f"Run {r.id} · {', '.join(r.accounts) or 'all accounts'} · {r.started_at:%Y-%m-%d %H:%M} · {r.created_by}" for r in runs}
run_id = st.selectbox("Run", list(run_label), format_func=run_label.get, key="breaks_run")
chosen_run = next(r for r in runs if r.id == run_id)
for note in unbalanced_notes(store, [chosen_run.internal_dataset_id, chosen_run.external_dataset_id]).values():
    st.warning(f"⚠ This run read a dataset imported although it does not add up: {note}")


def amount_or_none(text: str, label: str):
    try:
        return parse_amount(text)
    except AmountError as exc:
        st.error(f"{label}: {exc}.")
        st.stop()


def apply_view(settings: dict, options: dict) -> None:
    """Set the grid's filters to a saved view's, keeping only choices this run offers."""
    for name in VIEW_FILTERS:
        value = settings.get(name)
        if name in options:
            value = [v for v in value or [] if v in options[name]]
        elif name == "mine":
            value = bool(value)
        elif name.startswith("amount"):
            value = value or ""
        else:
            value = list(value or [])
        st.session_state[f"breaks_{name}"] = value


def typed_ids(text: str) -> list[int]:
    return [int(x) for x in text.replace(" ", "").split(",") if x.isdigit()]


def described(kind: str, outcomes) -> str:
    counts = Counter(o.status for o in outcomes)
    parts = [f"{counts['applied']:,} {kind}"] if counts["applied"] else []
    return ", ".join(parts + ([f"{counts['pending']:,} sent for approval"] if counts["pending"] else [])) + "."


@st.cache_data(max_entries=4, show_spinner=False)
def cached_breaks(run: int, stamp: tuple[int, int, str]):
    return load_breaks(get_store(), run)


everything = cached_breaks(run_id, breaks_stamp(store, run_id))
account_labels = account_choices(everything)
accounts = st.multiselect("Account (applies to every tab)", list(account_labels), format_func=lambda key: account_labels.get(key, key),
                          key="breaks_accounts")
# A decision names the version the user saw on screen, not whatever is current at the click,
# so a change made meanwhile by someone else is reported instead of overwritten.
seen_breaks = st.session_state.get("breaks_seen", {})
st.session_state["breaks_seen"] = dict(zip(everything["id"].tolist(), everything["version"].tolist())) if len(everything) else {}

open_tab, proposed_tab, confirmed_tab, aging_tab = st.tabs(["Breaks", "Proposed matches", "Confirmed matches", "Aging"])

with open_tab:
    views = saved_break_views(store, me)
    filter_options = {"accounts": list(account_labels), "reasons": sorted(everything["reason"].unique()) if len(everything) else []}
    if views:
        view_col, apply_col, forget_col = st.columns([3, 1, 1], vertical_alignment="bottom")
        view_name = view_col.selectbox("Saved view", list(views), key="breaks_view")
        apply_col.button("Apply view", key="breaks_view_apply", on_click=apply_view, args=(views[view_name], filter_options))
        if forget_col.button("Forget view", key="breaks_view_forget"):
            delete_break_view(store, me, view_name)
            flash("success", f"View {view_name!r} forgotten.")
            st.rerun()
    with st.expander("Filters", expanded=True):
        side_col, age_col, status_col, reason_col = st.columns(4)
        sides = side_col.multiselect("Side", ["internal", "external"], format_func={"internal": "books", "external": "statement"}.get,
                               key="breaks_sides")
        ages = age_col.multiselect("Age (days)", AGE_BUCKETS, key="breaks_ages")
        statuses = status_col.multiselect("Status", ["open", "resolved", "matched"], default=["open"], key="breaks_statuses")
        reasons = reason_col.multiselect("Reason", filter_options["reasons"], key="breaks_reasons")
        amount_min_col, amount_max_col, mine_col = st.columns(3, vertical_alignment="bottom")
        amount_min = amount_or_none(amount_min_col.text_input("Amount from (absolute)", key="breaks_amount_min"), "Amount from")
        amount_max = amount_or_none(amount_max_col.text_input("Amount to (absolute)", key="breaks_amount_max"), "Amount to")
        only_mine = mine_col.toggle("My breaks (assigned to me)", key="breaks_mine")
        name_col, save_col = st.columns([3, 1], vertical_alignment="bottom")
        new_view = name_col.text_input("Save these filters as", key="breaks_view_name", placeholder="a name of your own")
        if save_col.button("Save view", key="breaks_view_save"):
            try:
                save_break_view(store, me, new_view, {name: st.session_state.get(f"breaks_{name}") for name in VIEW_FILTERS})
                flash("success", f"View {new_view.strip()!r} saved.")
            except SavedViewError as exc:
                flash("error", str(exc))
            st.rerun()
    frame = with_follow_up(store, filter_breaks(everything, BreakFilters(tuple(accounts), tuple(sides), tuple(ages), amount_min,
                                                                         amount_max, tuple(statuses), tuple(reasons))))
    if only_mine:
        frame = mine(frame, me)
    overdue = int(frame["overdue"].sum()) if len(frame) else 0
    waiting = int(frame["pending_decision_id"].notna().sum()) if len(frame) else 0
    st.caption(f"{len(frame):,} break(s)" + (f" · ⏳ {waiting:,} waiting for approval" if waiting else "")
               + (f" · ⚠ {overdue:,} overdue" if overdue else ""))
    grid = breaks_grid(frame)
    shown = grid.frame
    chosen = grid_selection("breaks_grid", frame, "break")
    show_grid(grid, "breaks_grid", on_select="rerun", selection_mode="multi-row")
    show_totals(grid_totals(frame), "breaks_totals")
    download_buttons(shown[[c for c in grid.titles if c != "marks"]].rename(columns=grid.titles), f"breaks_run_{run_id}",
                     "breaks_download")
    typed = typed_ids(st.text_input("Or type break ids (comma-separated)", key="breaks_ids"))
    current = st.session_state["breaks_seen"]
    unknown = [i for i in typed if i not in current]
    if unknown:
        st.warning(f"Run {run_id} has no break {', '.join(map(str, unknown))}.")
    shown_ids = set(frame["id"].tolist()) if len(frame) else set()
    if hidden := [i for i in typed if i in current and i not in shown_ids]:
        st.info(f"Break {', '.join(map(str, hidden))} is not among the breaks shown (filtered out, or not open); it is picked "
                "because its id was typed.")
    chosen |= {i: seen_breaks.get(i, current[i]) for i in typed if i in current and i not in chosen}
    rows = everything.set_index("id").loc[list(chosen)].reset_index() if chosen else everything.head(0)
    if len(chosen) == 1:
        with st.expander(f"Audit trail of break {next(iter(chosen))}"):
            st.dataframe(audit_frame(store, entity_type="break", entity_id=str(next(iter(chosen)))), hide_index=True, width="stretch",
                         key="breaks_audit_trail")
        one_id = next(iter(chosen))
        followed = with_follow_up(store, everything[everything["id"] == one_id]).iloc[0]
        with st.expander(f"Follow-up of break {one_id}", expanded=True):
            st.markdown(f"Assigned to **{followed['assignee'] or 'nobody'}**"
                        + (f", due {followed['due_on']}" if followed["due_on"] is not None else "")
                        + (" · ⚠ **overdue**" if followed["overdue"] else ""))
            for comment in break_thread(store, one_id):
                st.markdown(f"**{comment.author}** · {comment.written_at:%Y-%m-%d %H:%M} UTC  \n{comment.text}")
            if may_decide:
                assign_col, comment_col = st.columns(2)
                with assign_col.form("breaks_assign_form"):
                    people = [""] + assignable_users(store)
                    who = st.selectbox("Assign to", people, format_func=lambda u: u or "nobody (free the break)", key="breaks_assignee")
                    due = st.date_input("Due date", value=None, key="breaks_due")
                    if st.form_submit_button("Assign"):
                        try:
                            assign_break(store, one_id, who or None, due, me)
                            flash("success", f"Break {one_id}: " + (f"assigned to {who}" + (f", due {due}" if due else "") + "."
                                                                    if who else "freed."))
                        except ReviewError as exc:
                            flash("error", f"{exc}. Nothing was assigned.")
                        st.rerun()
                with comment_col.form("breaks_comment_form", clear_on_submit=True):
                    text = st.text_area("Comment", key="breaks_comment_text")
                    if st.form_submit_button("Add comment"):
                        try:
                            comment_on_break(store, one_id, text, me)
                            flash("success", f"Comment added to break {one_id}.")
                        except ReviewError as exc:
                            flash("error", f"{exc}. No comment was added.")
                        st.rerun()
    if chosen:
        differences = net_difference_per_currency(list(rows.itertuples()))
        st.markdown(f"**Selected: {len(chosen)} break(s), ids {', '.join(map(str, chosen))}** · net difference (statement less books): "
                    + ", ".join(f"`{currency} {difference}`" for currency, difference in differences.items()))
        show_grid(breaks_grid(rows, SELECTED_TITLES), "breaks_selected_grid")
    if may_decide and chosen:
        resolve_col, match_col = st.columns(2)
        with resolve_col.form("breaks_resolve_form"):
            code = st.selectbox("Reason code", list(REASON_CODES), format_func=REASON_CODES.get, key="breaks_resolve_code")
            comment = st.text_input("Comment", key="breaks_resolve_comment")
            if st.form_submit_button("Resolve selected"):
                try:
                    outcomes = resolve_breaks(store, chosen, code, comment, me)
                    for break_id, outcome in zip(sorted(chosen), outcomes):
                        flash("success", f"Break {break_id}: {'resolved' if outcome.status == 'applied' else 'sent for approval'}.")
                    forget_selection("breaks_grid")
                    st.session_state["breaks_decided"] = True
                except ReviewError as exc:
                    flash("error", f"{exc}. Nothing was resolved.")
                st.rerun()
        with match_col.form("breaks_match_form"):
            code = st.selectbox("Reason code (needed when they do not net to zero)", [""] + list(REASON_CODES),
                                format_func=lambda c: REASON_CODES.get(c, "none"), key="breaks_match_code")
            comment = st.text_input("Comment", key="breaks_match_comment")
            if st.form_submit_button("Match selected"):
                try:
                    outcome = manual_match(store, list(chosen), chosen, me, reason_code=code or None, comment=comment)
                    flash("success", "Matched." if outcome.status == "applied" else f"Sent for approval (decision {outcome.decision_id}).")
                    forget_selection("breaks_grid")
                    st.session_state["breaks_decided"] = True
                except ReviewError as exc:
                    flash("error", str(exc))
                st.rerun()
        one = rows.iloc[0] if len(chosen) == 1 else None
        if one is not None and one["side"] == "external" and one["status"] == "open":
            with st.form("breaks_book_form"):
                st.markdown("**Book to the ledger** (a fee, interest, a returned item): the journal is posted and the break "
                            "resolved together")
                gl_col, code_col, dims_col = st.columns(3)
                counter = gl_col.selectbox("Counter GL account", [a.code for a in gl_accounts if a.active],
                                           format_func=lambda c: f"{c} · {gl_names[c]}", key="breaks_book_account")
                code = code_col.selectbox("Reason code", list(REASON_CODES), format_func=REASON_CODES.get, key="breaks_book_code")
                typed_dims = dims_col.text_input("Dimensions (name=value, comma-separated)", key="breaks_book_dimensions")
                comment = st.text_input("Comment", key="breaks_book_comment")
                if st.form_submit_button("Book and resolve"):
                    dims, wrong = parse_dimension_text(typed_dims)
                    try:
                        if wrong:
                            raise LedgerError(f"write dimensions as name=value: {', '.join(wrong)}")
                        outcome = book_break(store, int(one["id"]), chosen[int(one["id"])], counter or "", actor=me, reason_code=code,
                                             comment=comment, dimensions=dims)
                        flash("success", f"Break {one['id']}: " + ("booked and resolved." if outcome.status == "applied"
                                                                   else f"sent for approval (decision {outcome.decision_id})."))
                        forget_selection("breaks_grid")
                        st.session_state["breaks_decided"] = True
                    except (LedgerError, ReviewError) as exc:
                        flash("error", f"{exc}. Nothing was booked.")
                    st.rerun()

with proposed_tab:
    proposals_all = proposed_frame(store, run_id)
    waiting = proposals_all[proposals_all["waits_for_decision"].notna()]
    proposals_all = proposals_all[proposals_all["waits_for_decision"].isna()].drop(columns="waits_for_decision").reset_index(drop=True)
    if len(waiting):
        st.info(f"{len(waiting):,} proposed match(es) wait for an approver (Approvals page) and cannot be picked here: group(s) "
                + ", ".join(f"{g} (decision {d})" for g, d in zip(waiting["id"], waiting["waits_for_decision"])))
    pass_col, size_min_col, size_max_col = st.columns(3)
    rules = pass_col.multiselect("Pass", sorted(proposals_all["rule"].unique()), key="breaks_proposed_rules")
    size_min = amount_or_none(size_min_col.text_input("Size from (larger side, absolute)", key="breaks_proposed_min"), "Size from")
    size_max = amount_or_none(size_max_col.text_input("Size to (larger side, absolute)", key="breaks_proposed_max"), "Size to")
    proposals = filter_proposals(proposals_all, tuple(accounts), size_min, size_max, tuple(rules))
    st.caption(f"{len(proposals):,} of {len(proposals_all):,} proposed match(es) waiting for review shown")
    seen_groups = st.session_state.get("breaks_proposed_seen", {})
    st.session_state["breaks_proposed_seen"] = dict(zip(proposals_all["id"].tolist(), proposals_all["version"].tolist()))
    picked = grid_selection("breaks_proposed_grid", proposals, "proposed match")
    proposed_grid = proposals_grid(proposals)
    show_grid(proposed_grid, "breaks_proposed_grid", on_select="rerun", selection_mode="multi-row")
    st.dataframe(match_totals(proposals), hide_index=True, column_config=MATCH_TOTALS_TITLES,
                                          key="breaks_proposed_totals")
    download_buttons(proposals[list(proposed_grid.titles)].rename(columns=proposed_grid.titles), f"proposed_run_{run_id}",
                     "breaks_proposed_download")
    if st.checkbox(f"Select every proposal shown ({len(proposals):,})", key="breaks_proposed_all"):
        picked |= {i: seen_groups.get(i, v) for i, v in zip(proposals["id"].tolist(), proposals["version"].tolist()) if i not in picked}
    typed = typed_ids(st.text_input("Or type match group ids (comma-separated)", key="breaks_proposed_ids"))
    current = st.session_state["breaks_proposed_seen"]
    if unknown := [i for i in typed if i not in current]:
        st.warning(f"Run {run_id} has no proposed match {', '.join(map(str, unknown))}.")
    picked |= {i: seen_groups.get(i, current[i]) for i in typed if i in current and i not in picked}
    selected = proposals_all[proposals_all["id"].isin(picked)]
    covers = (f"{len(picked):,} proposed match(es) covering "
              + ", ".join(f"{currency} {format_amount(total)}" for currency, total in money_per_currency(selected, "size").items()))
    asked = st.session_state.get("breaks_proposed_confirm")
    if asked is not None and (asked["run_id"] != run_id or set(asked["chosen"]) != set(picked)):
        # The question covers what was picked when it was asked; a selection changed since (a
        # filter that hides a pick, another run) withdraws it rather than decide on the old picks.
        st.session_state.pop("breaks_proposed_confirm")
        st.info("The selection changed since you asked; the question was withdrawn. Nothing was approved or rejected.")
        asked = None
    if may_decide and asked is not None:
        verb = "Approve" if asked["approve"] else "Reject"
        st.warning(f"{verb} {asked['covers']}? " + ("Each becomes a confirmed match, or waits for an approver when above the approval "
                                                      "threshold." if asked["approve"] else "Their records become open breaks again."))
        yes_col, cancel_col = st.columns(2)
        if yes_col.button(f"Yes, {verb.lower()} {len(asked['chosen']):,}", type="primary", key="breaks_proposed_confirm_yes"):
            try:
                if asked["approve"]:
                    flash("success", described("confirmed", approve_proposed_many(store, asked["chosen"], me)))
                else:
                    outcomes = reject_proposed_many(store, asked["chosen"], me, asked["comment"])
                    flash("success", f"{len(outcomes):,} match(es) rejected; their records are open breaks again.")
                forget_selection("breaks_proposed_grid")
                st.session_state["breaks_proposed_decided"] = True
            except ReviewError as exc:
                flash("error", f"{exc}. Nothing was {'approved' if asked['approve'] else 'rejected'}.")
            del st.session_state["breaks_proposed_confirm"]
            st.rerun()
        if cancel_col.button("Cancel", key="breaks_proposed_confirm_no"):
            del st.session_state["breaks_proposed_confirm"]
            st.rerun()
    elif may_decide and picked:
        st.markdown(f"**Selected: {covers}**")
        approve_col, reject_col = st.columns(2)
        if approve_col.button(f"Approve {len(picked):,}", type="primary", key="breaks_approve"):
            st.session_state["breaks_proposed_confirm"] = {"approve": True, "chosen": picked, "covers": covers, "run_id": run_id}
            st.rerun()
        reason = reject_col.text_input("Why reject", key="breaks_reject_comment")
        if reject_col.button(f"Reject {len(picked):,}", key="breaks_reject"):
            st.session_state["breaks_proposed_confirm"] = {"approve": False, "chosen": picked, "covers": covers, "run_id": run_id,
                                                           "comment": reason}
            st.rerun()

with confirmed_tab:
    search = st.text_input("Search by reference, amount, date (YYYY-MM-DD) or account", key="breaks_confirmed_search")
    limit = 500
    groups = confirmed_groups(store, run_id, search, limit, accounts=tuple(accounts))
    st.caption(f"{len(groups):,} confirmed match(es)" + (f"; only the first {limit:,} are shown, search to narrow" if len(groups) >= limit
                                                          else ""))
    seen_matches = st.session_state.get("breaks_confirmed_seen", {})
    current = dict(zip(groups["match_id"].tolist(), groups["version"].tolist())) if len(groups) else {}
    st.session_state["breaks_confirmed_seen"] = current
    matched_grid = confirmed_grid(groups)
    show_grid(matched_grid, "breaks_confirmed_grid")
    st.dataframe(match_totals(groups), hide_index=True, column_config=MATCH_TOTALS_TITLES, key="breaks_confirmed_totals")
    download_buttons(groups[list(matched_grid.titles)].rename(columns=matched_grid.titles), f"confirmed_run_{run_id}",
                     "breaks_confirmed_download")
    if may_decide and len(groups):
        described_group = {match: f"match {match} · {account} · books {books} · statement {statement}"
                           for match, account, books, statement in zip(groups["match_id"], groups["account"], groups["books"],
                                                                       groups["statement"])}
        with st.form("breaks_unmatch_form"):
            match_id = st.selectbox("Match to undo", list(described_group), format_func=described_group.get, key="breaks_unmatch_id")
            comment = st.text_input("Why", key="breaks_unmatch_comment")
            if st.form_submit_button("Unmatch"):
                try:
                    outcome = unmatch_group(store, run_id, int(match_id), me, comment,
                                            version=int(seen_matches.get(match_id, current[match_id])))
                    flash("success", "Unmatched; its records are open breaks again." if outcome.status == "applied"
                          else f"Sent for approval (decision {outcome.decision_id}).")
                except ReviewError as exc:
                    flash("error", str(exc))
                st.rerun()

with aging_tab:
    aging = aging_summary(filter_breaks(everything, BreakFilters(accounts=tuple(accounts))))
    chart = px.bar(aging, x="age", y="breaks", color="side", barmode="group", category_orders={"age": list(AGE_BUCKETS)}, height=320)
    chart.update_yaxes(rangemode="tozero", dtick=max(1, -(-int(aging["breaks"].max()) // 5)), title="breaks")
    st.plotly_chart(chart, width="stretch", key="breaks_aging_chart")
    st.dataframe(aging, hide_index=True, width="stretch", key="breaks_aging_table",
                 column_config={"age": "Age (days)", "side": "Side", "breaks": "Breaks", "amount": st.column_config.NumberColumn("Amount (absolute)",
                                                                                                           format="%,.2f")})
