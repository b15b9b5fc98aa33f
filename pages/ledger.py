import datetime as dt

import pandas as pd
import streamlit as st

from core.auth import can
from core.banking.ledger import (LEDGER_ROLE, LedgerError, add_dimension_value, create_journal, import_chart, journal_lines,
                                 lines_from_table, list_dimension_values, list_gl_accounts, list_journals, parse_chart, post_journal,
                                 reverse_journal, trial_balance, update_gl_account)
from core.banking.posting import posted_records
from core.domain.money import format_amount
from ui import DATE, MOMENT, MONEY, account, download_buttons, flash, get_store, show_flashes, show_row_errors

SHOWN = 1000
me = account()
store = get_store()
acts = can(me, LEDGER_ROLE)
st.title("Ledger")
st.caption("Journals post only when their debits equal their credits in every currency; a posted journal never changes and is "
           "corrected by a reversing journal. Bank records are posted by posting rules (`python -m core gl post`).")
show_flashes()
journals_tab, balance_tab, chart_tab, dimensions_tab = st.tabs(["Journals", "Trial balance", "Chart of accounts", "Dimensions"])

with journals_tab:
    status_col, from_col, to_col = st.columns(3)
    statuses = status_col.multiselect("Status", ["draft", "posted", "reversed"], key="ledger_statuses")
    date_from = from_col.date_input("From", value=None, key="ledger_from")
    date_to = to_col.date_input("To", value=None, key="ledger_to")
    journals = list_journals(store, statuses=statuses, date_from=date_from, date_to=date_to, limit=SHOWN + 1)
    if not journals:
        st.info("No journal yet: post bank records with posting rules, or change the filters.")
    else:
        if len(journals) > SHOWN:
            st.caption(f"The newest {SHOWN:,} journals; narrow the dates to see others.")
            journals = journals[:SHOWN]
        frame = pd.DataFrame([{"journal": j.id, "date": j.date, "status": j.status, "source": j.source, "description": j.description,
                               "reverses": str(j.reverses_id or ""), "record": j.record_id or "", "made by": j.created_by,
                               "posted by": j.posted_by or "",
                               "posted": j.posted_at} for j in journals])
        st.dataframe(frame, hide_index=True, width="stretch", key="ledger_journals",
                     column_config={"date": DATE, "posted": MOMENT})
        download_buttons(frame, "journals", "ledger_journals_download")
        by_id = {j.id: j for j in journals}
        chosen = st.selectbox("Journal", list(by_id), key="ledger_journal",
                              format_func=lambda i: f"{i} · {by_id[i].date} · {by_id[i].status} · {by_id[i].description[:60]}")
        journal = by_id[chosen]
        lines = pd.DataFrame([{"line": x.line_no, "gl_account": x.gl_account, "debit": x.debit, "credit": x.credit,
                               "currency": x.currency, "dimensions": ", ".join(f"{k}={v}" for k, v in sorted(x.dimensions.items())),
                               "description": x.description} for x in journal_lines(store, [chosen])])
        st.dataframe(lines, hide_index=True, width="stretch", key="ledger_lines", column_config={"debit": MONEY, "credit": MONEY})
        download_buttons(lines, f"journal_{chosen}", "ledger_lines_download")
        source = posted_records(store, [chosen]).get(chosen)
        if source is not None:
            through = f" (through journal {journal.reverses_id}, which it reverses)" if journal.reverses_id else ""
            st.markdown(f"**Bank record** `{source.record_id}` of {source.dataset_name}{through}")
            if source.record is None:
                st.caption("The dataset no longer holds this record.")
            else:
                record = pd.DataFrame([{**source.record, "amount": format_amount(source.record["amount"])}])
                st.dataframe(record, hide_index=True, width="stretch", key="ledger_source_record")
                download_buttons(record, f"journal_{chosen}_bank_record", "ledger_source_record_download")
        if acts and journal.status == "draft":
            if st.button("Post this journal", key="ledger_post"):
                try:
                    post_journal(store, chosen, actor=me)
                    flash("success", f"Journal {chosen} posted.")
                    st.rerun()
                except LedgerError as exc:
                    st.error(str(exc))
        elif acts and journal.status == "posted" and journal.source != "reversal":
            with st.form("ledger_reverse"):
                reason = st.text_input("Why it is reversed (kept in the audit log)", key="ledger_reverse_reason")
                when = st.date_input("Reversal dated", value=journal.date, key="ledger_reverse_date")
                if st.form_submit_button("Reverse this journal"):
                    try:
                        reversal = reverse_journal(store, chosen, actor=me, date=when, reason=reason)
                        flash("success", f"Journal {chosen} reversed by journal {reversal}.")
                        st.rerun()
                    except LedgerError as exc:
                        st.error(str(exc))

    if acts:
        with st.expander("New journal (saved as a draft, posted from the list above)"):
            date_col, text_col = st.columns([1, 3])
            new_date = date_col.date_input("Date", value=dt.date.today(), key="ledger_new_date")
            new_text = text_col.text_input("Description", key="ledger_new_description")
            blank = pd.DataFrame({"gl_account": ["", ""], "debit": ["", ""], "credit": ["", ""], "currency": ["", ""],
                                  "dimensions": ["", ""], "description": ["", ""]})
            typed = st.data_editor(blank, num_rows="dynamic", hide_index=True, width="stretch", key="ledger_new_lines",
                                   column_config={"dimensions": st.column_config.TextColumn(help="name=value, separated by commas")})
            if st.button("Save draft", key="ledger_new_save"):
                new_lines, errors = lines_from_table(typed.to_dict("records"))
                if errors:
                    show_row_errors(errors)
                else:
                    try:
                        made = create_journal(store, new_date, new_text, new_lines, actor=me)
                        flash("success", f"Journal {made} saved as a draft.")
                        st.rerun()
                    except LedgerError as exc:
                        st.error(str(exc))

with balance_tab:
    today = dt.date.today()
    start_col, end_col = st.columns(2)
    period_from = start_col.date_input("Period from (empty: from the start)", value=None, key="ledger_tb_from")
    as_of = end_col.date_input("As of", value=today, key="ledger_tb_as_of")
    rows = trial_balance(store, as_of, period_from)
    if not rows:
        st.info("No posted journal in the period.")
    else:
        balance = pd.DataFrame([r._asdict() for r in rows])
        st.dataframe(balance, hide_index=True, width="stretch", key="ledger_trial_balance",
                     column_config={"debit": MONEY, "credit": MONEY, "balance": MONEY})
        download_buttons(balance, f"trial_balance_{as_of}", "ledger_tb_download")
        net = {currency: sum(r.balance for r in rows if r.currency == currency) for currency in sorted({r.currency for r in rows})}
        off = {c: v for c, v in net.items() if v != 0}
        if off:
            st.error("The trial balance does not net to zero: " + ", ".join(f"{v} {c}" for c, v in off.items()))
        else:
            st.success(f"Nets to zero in {', '.join(net)}.")

with chart_tab:
    accounts = list_gl_accounts(store)
    chart = pd.DataFrame([{"code": a.code, "name": a.name, "type": a.type, "active": a.active, "bank_account": a.bank_account_key or ""}
                          for a in accounts], columns=["code", "name", "type", "active", "bank_account"])
    if acts and accounts:
        edited = st.data_editor(chart, hide_index=True, width="stretch", key="ledger_chart_editor", disabled=["code", "type"],
                                num_rows="fixed")
        if st.button("Save changes to the chart", key="ledger_chart_save"):
            changed = 0
            try:
                for (_, before), (_, after) in zip(chart.iterrows(), edited.iterrows()):
                    if before.to_dict() != after.to_dict():
                        update_gl_account(store, before["code"], actor=me, name=str(after["name"]), active=bool(after["active"]),
                                          bank_account=str(after["bank_account"] or ""))
                        changed += 1
                flash("success", f"{changed} GL account(s) changed.")
                st.rerun()
            except LedgerError as exc:
                st.error(str(exc))
    elif accounts:
        st.dataframe(chart, hide_index=True, width="stretch", key="ledger_chart")
    else:
        st.info("The chart of accounts is empty: import one.")
    if accounts:
        download_buttons(chart, "chart_of_accounts", "ledger_chart_download")
    if acts:
        upload = st.file_uploader("Import a chart of accounts (CSV: code,name,type,active,bank_account; or TOML [[accounts]])",
                                  type=["csv", "toml"], key="ledger_chart_upload")
        if upload is not None and st.button("Import", key="ledger_chart_import"):
            found, errors = parse_chart(upload.getvalue(), upload.name)
            if errors:
                show_row_errors(errors)
            else:
                try:
                    changed = import_chart(store, found, actor=me)
                    flash("success", f"{len(found)} account(s) read, {changed} added or changed.")
                    st.rerun()
                except LedgerError as exc:
                    st.error(str(exc))
    else:
        st.caption(f"Changing the chart needs the {LEDGER_ROLE} role.")

with dimensions_tab:
    values = list_dimension_values(store)
    dimensions = pd.DataFrame([{"dimension": d, "value": v, "name": n} for d, found in values.items() for v, n in found.items()],
                              columns=["dimension", "value", "name"])
    st.dataframe(dimensions, hide_index=True, width="stretch", key="ledger_dimensions")
    download_buttons(dimensions, "dimension_values", "ledger_dimensions_download")
    if acts:
        with st.form("ledger_dimension_add", clear_on_submit=True):
            dimension_col, value_col, name_col = st.columns(3)
            dimension = dimension_col.selectbox("Dimension", list(values), key="ledger_dimension")
            value = value_col.text_input("Value", key="ledger_dimension_value")
            name = name_col.text_input("Name", key="ledger_dimension_name")
            if st.form_submit_button("Add value"):
                try:
                    add_dimension_value(store, dimension, value, actor=me, name=name)
                    flash("success", f"{dimension} {value.strip()} added.")
                    st.rerun()
                except LedgerError as exc:
                    st.error(str(exc))
