import streamlit as st

from core.auth import can
from core.domain.money import AmountError, parse_amount
from core.review import REASON_CODES, ReviewError
from core.views import breaks_stamp, recent_runs
from core.views.format import format_money
from core.views.workspace import (SIDE_NAMES, SORT_COLUMNS, SideFilters, candidates_for, load_open_items, mark_candidates,
                                  match_selection, selection_net, side_accounts, side_page, totals_frame)
from ui import DATE, account, flash, forget_selection, get_store, grid_selection, show_flashes

me = account()
store = get_store()
may_match = can(me, "analyst")
st.title("Match")
show_flashes()

runs = recent_runs(store)
if not runs:
    st.info("No reconciliation has been run yet.")
    st.stop()
run_label = {r.id: f"Run {r.id} · {', '.join(r.accounts) or 'all accounts'} · {r.started_at:%Y-%m-%d %H:%M}" for r in runs}
run_id = st.selectbox("Run", list(run_label), format_func=run_label.get, key="match_run")


@st.cache_resource(max_entries=4, show_spinner=False)
def open_items(run: int, stamp: tuple[int, int, str]):
    return load_open_items(get_store(), run)


items = open_items(run_id, breaks_stamp(store, run_id))
st.caption("Open items of the run, books on the left and statement on the right, each filtered on its own (press Enter in a filter "
           "to apply it). Pick a record to see its candidates on the other side; the net of what is picked is shown under the grids."
           + ("" if may_match else " Viewers read; analysts match."))


def amount_or_none(text: str, label: str):
    try:
        return parse_amount(text)
    except AmountError as exc:
        st.error(f"{label}: {exc}.")
        return None


def side_filters(side: str) -> tuple[SideFilters, str, bool]:
    accounts = side_accounts(items, side)
    with st.form(f"match_{side}_filters", border=False):
        account_col, text_col = st.columns(2)
        chosen_account = account_col.selectbox("Account", [""] + list(accounts), format_func=lambda k: accounts.get(k, "every account"),
                                               key=f"match_{side}_account")
        text = text_col.text_input("Reference or description contains", key=f"match_{side}_text")
        from_col, to_col, min_col, max_col = st.columns(4)
        date_from = from_col.date_input("Date from", value=None, key=f"match_{side}_from")
        date_to = to_col.date_input("Date to", value=None, key=f"match_{side}_to")
        amount_min = amount_or_none(min_col.text_input("Amount from (absolute)", key=f"match_{side}_min"), "Amount from")
        amount_max = amount_or_none(max_col.text_input("Amount to (absolute)", key=f"match_{side}_max"), "Amount to")
        sort_col, order_col = st.columns(2)
        sort = sort_col.selectbox("Sort by", list(SORT_COLUMNS), key=f"match_{side}_sort")
        descending = order_col.toggle("Largest / latest first", key=f"match_{side}_descending")
        st.form_submit_button("Apply filters")
    return SideFilters(chosen_account or None, date_from, date_to, amount_min, amount_max, text), sort, descending


SHOWN = ["id", "date", "amount_shown", "currency", "reference", "description", "account", "reason"]
# Amounts come as text formatted per currency (core); right-aligned like numbers.
AMOUNT = st.column_config.TextColumn("amount", alignment="right")
TITLES = {"amount_shown": AMOUNT, "date": DATE, "candidate": st.column_config.TextColumn("candidate"),
          "explanation": st.column_config.TextColumn("why", width="large")}
TOTALS = {name: st.column_config.TextColumn(name, alignment="right") for name in ("items", "money in", "money out", "net")}

columns = dict(zip(SIDE_NAMES, st.columns(2)))
views, picked = {}, {}
for side, column in columns.items():
    with column:
        st.subheader("Books" if side == "internal" else "Statement")
        filters, sort, descending = side_filters(side)
        page_number = st.number_input("Page", min_value=1, step=1, key=f"match_{side}_page")
        views[side] = side_page(items, side, filters, sort, descending, int(page_number))
        picked[side] = grid_selection(f"match_{side}_grid", views[side].rows, f"{SIDE_NAMES[side]} record")

# The record whose candidates are shown: the one books record picked, else the one statement
# record when no books record is; picking its candidates keeps it the anchor.
anchor = (("internal", next(iter(picked["internal"]))) if len(picked["internal"]) == 1
          else ("external", next(iter(picked["external"]))) if not picked["internal"] and len(picked["external"]) == 1 else None)
candidates = candidates_for(items, anchor[1]) if anchor else None
chosen = picked["internal"] | picked["external"]
for side, column in columns.items():
    with column:
        rows = views[side].rows
        marking = anchor is not None and anchor[0] != side
        st.dataframe((mark_candidates(rows, candidates) if marking else rows)[(["candidate"] if marking else []) + SHOWN],
                     hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row", key=f"match_{side}_grid",
                     column_config=TITLES)
        view = views[side]
        st.caption(f"Showing items {view.first:,} to {view.last:,} of {view.total:,} ({SIDE_NAMES[side]}), page {view.page:,} of "
                   f"{view.pages:,}")
        st.markdown(f"**Totals of the {SIDE_NAMES[side]} items that pass the filters**")
        st.dataframe(totals_frame(view.totals), hide_index=True, width="stretch", key=f"match_{side}_totals",
                     column_config=TOTALS)
        if marking:
            st.markdown(f"**Candidates for {SIDE_NAMES[anchor[0]]} record {anchor[1]}**, best first (the engine's ranking: amount, "
                        "then reference, then days apart); pick one here or in the grid above")
            if candidates.empty:
                st.info("No open item on this side has the same account and currency within the run's widest date window.")
            else:
                chosen |= grid_selection("match_candidates", candidates, "candidate")
                st.dataframe(candidates[["rank", "id", "date", "amount_shown", "currency", "reference", "explanation"]], hide_index=True,
                             width="stretch", on_select="rerun", selection_mode="multi-row", key="match_candidates",
                             column_config=TITLES | {"reference": st.column_config.TextColumn("reference", width="small")})

net = selection_net(store, chosen)
if chosen:
    line = f"**Selected: {net.books:,} books record(s), {net.statement:,} statement record(s)**"
    if net.net is not None:
        money = {name: f"{net.currency} {format_money(value, net.currency)}"
                 for name, value in (("books", net.books_total), ("statement", net.statement_total), ("net", net.net))}
        line += (f" · books {money['books']} · statement {money['statement']} · **net difference (statement less books): "
                 f"{money['net']}**")
    st.markdown(line)
    if net.refusal:
        st.warning(net.refusal)
if may_match and chosen and not net.refusal:
    with st.form("match_form"):
        if net.nets_to_zero:
            st.markdown("They net to zero: one click matches them.")
            code = ""
        else:
            code = st.selectbox("Reason code (needed: they do not net to zero)", list(REASON_CODES), format_func=REASON_CODES.get,
                                key="match_reason")
        comment = st.text_input("Comment", key="match_comment")
        if st.form_submit_button("Match", type="primary"):
            try:
                outcome = match_selection(store, chosen, me, code or None, comment)
                flash("success", "Matched." if outcome.status == "applied" else f"Sent for approval (decision {outcome.decision_id}).")
                for grid in ("match_internal_grid", "match_external_grid", "match_candidates"):
                    forget_selection(grid)
            except ReviewError as exc:
                flash("error", f"{exc}. Nothing was matched.")
            st.rerun()
