import pandas as pd
import streamlit as st

from core.ingest.datasets import list_datasets
from core.matching.rules import RuleSetError, list_rule_files, parse_rules
from core.runs.reconcile import reconcile_datasets
from core.runs.scope import RunRefused
from core.views import dataset_accounts, run_account_summary
from ui import get_store, require

me = require("analyst")
store = get_store()
st.title("Reconcile")

datasets = list_datasets(store)
if len(datasets) < 2:
    st.info("Import the books and a statement on the Sources page first.")
    st.stop()
by_id = {d.id: d for d in datasets}
label = {d.id: f"{'⚠ unbalanced · ' if d.unbalanced else ''}{d.name} · {d.row_count:,} rows · {d.date_from} to {d.date_to}"
         for d in datasets}
ids = list(by_id)
# Books usually cover many accounts and a statement one; the newest other file is the statement.
books_guess = max(ids, key=lambda i: (by_id[i].account_count, -ids.index(i)))
statement_guess = next(i for i in ids if i != books_guess)
books_col, statement_col = st.columns(2)
internal = books_col.selectbox("Books (internal)", ids, index=ids.index(books_guess), format_func=label.get, key="reconcile_internal")
external = statement_col.selectbox("Statement (external)", ids, index=ids.index(statement_guess), format_func=label.get,
                                   key="reconcile_external")
for chosen in dict.fromkeys((internal, external)):
    if by_id[chosen].unbalanced:
        st.warning(f"⚠ {by_id[chosen].name} was imported although it does not add up: {by_id[chosen].unbalanced}")
# Accounts by key (spellings of one account are one choice), shown by their most common spelling.
statement_accounts = dataset_accounts(store, by_id[external])
account_labels = dataset_accounts(store, by_id[internal]) | statement_accounts
all_accounts = sorted(account_labels, key=lambda key: (account_labels[key], key))
accounts = st.multiselect("Accounts", all_accounts, default=list(statement_accounts), format_func=lambda key: account_labels.get(key, key),
                          key=f"reconcile_accounts_{external}")
first = min(d for d in (by_id[internal].date_from, by_id[external].date_from) if d)
last = max(d for d in (by_id[internal].date_to, by_id[external].date_to) if d)
period = st.date_input("Period", value=(first, last), key=f"reconcile_period_{internal}_{external}")

files = {path.stem: path for path in list_rule_files()}
rule_name = st.selectbox("Rule set", list(files), index=list(files).index("default") if "default" in files else 0, key="reconcile_rules")
rules_text = st.text_area("Rules (TOML, editable for this run)", files[rule_name].read_text(encoding="utf-8"), height=260,
                          key=f"reconcile_rules_text_{rule_name}")
try:
    rules = parse_rules(rules_text, f"{rule_name}.toml")
except RuleSetError as exc:
    st.error(str(exc))
    st.stop()
st.dataframe(pd.DataFrame([{"pass": p.name, "cardinality": p.cardinality, "reference": p.reference,
                            "tolerance": f"{p.amount_tolerance} / {p.amount_tolerance_pct}%", "window (days)": p.date_window,
                            "business days": p.business_days, "status": p.status} for p in rules.passes]),
             hide_index=True, width="stretch", key="reconcile_passes")

if st.button("Run reconciliation", type="primary", key="reconcile_run", disabled=internal == external or not accounts):
    date_from, date_to = (period + (None, None))[:2] if isinstance(period, tuple) else (period, period)
    try:
        with st.status("Matching ...", expanded=False) as status:
            # Any spelling names its account; the run keeps the labels people know.
            outcome = reconcile_datasets(store, by_id[internal], by_id[external], rules, rules_text,
                                         accounts=[account_labels[key] for key in accounts],
                                         date_from=date_from, date_to=date_to, user=me.username)
            status.update(label=f"Run {outcome.run.id} saved", state="complete")
    except RunRefused as exc:
        st.error(str(exc))
        st.stop()
    st.session_state["reconcile_last_run"] = outcome.run.id
    st.session_state["reconcile_last_summary"] = outcome.result.summary

if "reconcile_last_run" in st.session_state:
    summary = st.session_state["reconcile_last_summary"]
    run_id = st.session_state["reconcile_last_run"]
    groups = summary["groups"]
    st.subheader(f"Run {run_id}")
    groups_col, confirmed_col, proposed_col, open_col = st.columns(4)
    groups_col.metric("Groups", f"{groups['total']:,}")
    confirmed_col.metric("Confirmed", f"{groups['confirmed']:,}")
    proposed_col.metric("Proposed for review", f"{groups['proposed']:,}")
    open_col.metric("Open records", f"{summary['sides']['internal']['open'] + summary['sides']['external']['open']:,}")
    st.markdown("**Per pass**")
    st.dataframe(pd.DataFrame([{"pass": name} | figures for name, figures in summary["passes"].items()]), hide_index=True,
                 width="stretch", key="reconcile_per_pass")
    st.markdown("**Per account**")
    st.dataframe(run_account_summary(store, run_id), hide_index=True, width="stretch", key="reconcile_per_account")
    st.page_link("pages/breaks.py", label="Review the breaks", icon=":material/rule:")
