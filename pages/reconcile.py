import plotly.express as px
import streamlit as st

from core.matching.rules import RuleSetError, list_rule_files, parse_rules
from core.runs.reconcile import reconcile_datasets
from core.runs.scope import RunRefused
from core.views import run_account_summary
from core.views.datasets import accounts_missing_from_books, reconcile_choices
from core.views.reconcile import pass_figures, rules_summary, run_summary_text
from ui import get_store, require

me = require("analyst")
store = get_store()
st.title("Reconcile")

choices = reconcile_choices(store)
every_role = st.checkbox("Offer every dataset on both sides (not only books as books and statements as statements)",
                         key="reconcile_every_role")
entries = {e.dataset.id: e for e in choices.books + choices.statements}
books_ids = list(entries) if every_role else [e.dataset.id for e in choices.books]
statement_ids = list(entries) if every_role else [e.dataset.id for e in choices.statements]
if not books_ids or not statement_ids or len(entries) < 2:
    st.info("Import the books and a statement on the Sources page first (retired datasets are not offered).")
    st.stop()


def label(dataset_id: str) -> str:
    e = entries[dataset_id]
    d = e.dataset
    accounts = ", ".join(e.accounts.values()) if len(e.accounts) <= 3 else f"{len(e.accounts)} accounts"
    return (f"{'⚠ unbalanced · ' if d.unbalanced else ''}{d.name} · {e.role} · {accounts} · {d.row_count:,} rows · "
            f"{d.date_from} to {d.date_to}")


books_col, statement_col = st.columns(2)
internal = books_col.selectbox("Books (internal)", books_ids, format_func=label, key="reconcile_internal",
                               index=books_ids.index(choices.books_guess) if choices.books_guess in books_ids else 0)
external = statement_col.selectbox("Statement (external)", statement_ids, format_func=label, key="reconcile_external",
                                   index=statement_ids.index(choices.statement_guess) if choices.statement_guess in statement_ids else 0)
for chosen in dict.fromkeys((internal, external)):
    if entries[chosen].dataset.unbalanced:
        st.warning(f"⚠ {entries[chosen].dataset.name} was imported although it does not add up: {entries[chosen].dataset.unbalanced}")
missing = accounts_missing_from_books(entries[internal], entries[external])
if missing:
    st.warning(f"⚠ The statement holds account(s) the books do not: {', '.join(missing)}. Their records can only stay open: "
               "choose the books that hold them, or leave those accounts out.")
# Accounts by key (spellings of one account are one choice), shown by their most common spelling.
statement_accounts = entries[external].accounts
account_labels = entries[internal].accounts | statement_accounts
all_accounts = sorted(account_labels, key=lambda key: (account_labels[key], key))
accounts = st.multiselect("Accounts", all_accounts, default=list(statement_accounts), format_func=lambda key: account_labels.get(key, key),
                          key=f"reconcile_accounts_{external}")
dates = [d for d in (entries[internal].dataset.date_from, entries[external].dataset.date_from,
                     entries[internal].dataset.date_to, entries[external].dataset.date_to) if d]
period = st.date_input("Period", value=(min(dates), max(dates)), key=f"reconcile_period_{internal}_{external}") if dates else ()

files = {path.stem: path for path in list_rule_files()}
rule_name = st.selectbox("Rule set", list(files), index=list(files).index("default") if "default" in files else 0, key="reconcile_rules")
with st.expander("Edit the rules (TOML) for this run"):
    rules_text = st.text_area("Rules (TOML, editable for this run)", files[rule_name].read_text(encoding="utf-8"), height=260,
                              key=f"reconcile_rules_text_{rule_name}")
try:
    rules = parse_rules(rules_text, f"{rule_name}.toml")
except RuleSetError as exc:
    st.error(str(exc))
    st.stop()
st.markdown(f"**Passes of {rules.name}**, in order:")
st.markdown("\n".join(f"- {line}" for line in rules_summary(rules)))

if st.button("Run reconciliation", type="primary", key="reconcile_run", disabled=internal == external or not accounts):
    date_from, date_to = (tuple(period) + (None, None))[:2] if isinstance(period, tuple) else (period, period)
    try:
        with st.status("Matching: reading both sides and running the passes ...", expanded=False) as status:
            # Any spelling names its account; the run keeps the labels people know.
            outcome = reconcile_datasets(store, entries[internal].dataset, entries[external].dataset, rules, rules_text,
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
    st.write(run_summary_text(summary))
    groups_col, confirmed_col, proposed_col, open_col = st.columns(4)
    groups_col.metric("Groups", f"{groups['total']:,}")
    confirmed_col.metric("Confirmed", f"{groups['confirmed']:,}")
    proposed_col.metric("Proposed for review", f"{groups['proposed']:,}")
    open_col.metric("Open records", f"{summary['sides']['internal']['open'] + summary['sides']['external']['open']:,}")
    st.markdown("**Per pass**")
    figures = pass_figures(summary, [p.name for p in rules.passes])
    counts_col, amounts_col = st.columns(2)
    counts_col.plotly_chart(px.bar(figures, x="pass", y=["confirmed", "proposed"], height=320, title="Groups matched by pass",
                                   labels={"value": "groups", "variable": "status"}),
                            width="stretch", key="reconcile_pass_counts")
    amounts_col.plotly_chart(px.bar(figures.assign(amount=figures["amount"].astype(float)), x="pass", y="amount", height=320,
                                    title="Amount matched by pass (books side)", hover_data={"amount_text": True, "amount": False}),
                             width="stretch", key="reconcile_pass_amounts")
    st.dataframe(figures.drop(columns=["amount"]).rename(columns={"amount_text": "amount (books side)"}), hide_index=True,
                 width="stretch", key="reconcile_per_pass")
    st.markdown("**Per account**")
    st.dataframe(run_account_summary(store, run_id), hide_index=True, width="stretch", key="reconcile_per_account")
    st.page_link("pages/breaks.py", label="Review the breaks", icon=":material/rule:")
