import datetime as dt

import pandas as pd
import plotly.express as px
import streamlit as st

from core import config
from core.banking.cash import cash_report, flow_lines
from core.banking.posting import posted_records
from core.banking.rates import parse_rates
from ui import download_buttons, get_store, money_shown, show_row_errors

store = get_store()
st.title("Cash position")
st.caption("The cash of each bank account on a date, from its statements (the latest closing balance on or before the date, plus "
           "the statement's records after it), and per dimension from the posted journals on the GL cash accounts; with a rates "
           "file, in one reporting currency.")

left, middle, right = st.columns(3)
as_of = left.date_input("As of", value=dt.date.today(), key="cash_as_of")
date_from = middle.date_input("Flows from (empty: the first of the as-of month)", value=None, key="cash_from")
dimension = right.selectbox("Dimension", list(config.ledger_dimensions()), key="cash_dimension")
with st.expander("In one reporting currency"):
    rates_file = st.file_uploader("Rates (CSV: date, currency, rate)", type=["csv"], key="cash_rates")
    pasted = st.text_area("or paste the rates (date,currency,rate)", key="cash_rates_text")
    reporting = st.text_input("Reporting currency of the rates", value="USD", max_chars=3, key="cash_reporting")

rates = None
if rates_file is not None or pasted.strip():
    text, name = (rates_file.getvalue().decode("utf-8-sig"), rates_file.name) if rates_file is not None else (pasted, "pasted rates")
    rates, errors = parse_rates(text, reporting, name)
    if errors:
        show_row_errors(errors, saving=False)
        st.stop()

report, errors = cash_report(store, as_of, dimension, date_from, rates)
if errors:
    for e in errors:
        st.error(f"{e.message}.")
    st.stop()


st.subheader(f"By bank account on {report.as_of}")
if report.positions:
    reporting = f"balance in {rates.reporting}" if rates else "in reporting currency"
    positions = pd.DataFrame([{"account": p.account, "currency": p.currency, "opening": p.opening, "opening on": p.opening_date,
                               "movement": p.movement, "balance": p.balance, reporting: p.reporting, "from": p.source}
                              for p in report.positions])
    if rates is None:
        positions = positions.drop(columns=["in reporting currency"])
    st.dataframe(money_shown(positions, ("opening", "movement", "balance", reporting)), hide_index=True, width="stretch",
                 key="cash_positions")
    download_buttons(positions, "cash_position", "cash_positions_download")
    # Charts draw numbers; the grid keeps the exact amounts.
    chart = pd.DataFrame([{"account": f"{p.account} ({p.currency})", "balance": float(p.reporting if rates else p.balance)}
                          for p in report.positions])
    st.plotly_chart(px.bar(chart, x="account", y="balance", height=320,
                           labels={"balance": f"balance in {rates.reporting}" if rates else "balance"}),
                    width="stretch", key="cash_chart")
else:
    st.info("No statement in the store has started by this date: import bank statements with balances (MT940, CAMT.053, BAI2).")

shown_dimension = dimension.replace("_", " ")
st.subheader(f"By {shown_dimension} (GL cash accounts)")
if report.by_dimension:
    by_dimension = pd.DataFrame([{dimension: r.value, "currency": r.currency,
                                  f"opening before {report.date_from}": r.opening, "movement": r.movement, "closing": r.closing,
                                  **({f"closing in {rates.reporting}": r.reporting} if rates else {})}
                                 for r in report.by_dimension])
    st.dataframe(money_shown(by_dimension, by_dimension.columns[2:]), hide_index=True, width="stretch", key="cash_by_dimension")
    download_buttons(by_dimension, f"cash_by_{dimension}", "cash_by_dimension_download")
else:
    st.caption("No posted journal on a GL cash account by this date.")

st.subheader(f"Flows by {shown_dimension} and month")
if report.pivot:
    pivot = pd.DataFrame([{dimension: value, "currency": currency,
                           **{m: cells.get(m) for m in report.months}}
                          for value, currency, cells in report.pivot])
    st.dataframe(money_shown(pivot, report.months), hide_index=True, width="stretch", key="cash_pivot")
    download_buttons(pivot, f"flows_by_{dimension}", "cash_pivot_download")
    heat = pd.DataFrame([{"row": f"{value} ({currency})", "month": m, "flow": float(cells.get(m, 0))}
                         for value, currency, cells in report.pivot for m in report.months])
    grid = heat.pivot_table(index="row", columns="month", values="flow", aggfunc="sum", fill_value=0)
    # Months are categories: as dates, plotly spreads them over a time axis.
    st.plotly_chart(px.imshow(grid, aspect="auto", color_continuous_scale="RdBu", color_continuous_midpoint=0, labels={"color": "flow"})
                    .update_xaxes(type="category"), width="stretch", key="cash_heatmap")
    cells = [(value, currency, m) for value, currency, by_month in report.pivot for m in report.months if m in by_month]
    picked = st.selectbox("Drill down to the journal lines of", cells, key="cash_drill",
                          format_func=lambda c: f"{c[0]} · {c[1]} · {c[2]}")
    lines = flow_lines(report.flows, picked[0], picked[2], picked[1]).to_pandas()
    st.dataframe(money_shown(lines, ("amount",)), hide_index=True, width="stretch", key="cash_drill_lines")
    download_buttons(lines, "flow_lines", "cash_drill_download")
    sources = posted_records(store, lines["journal"].tolist())
    if sources:
        st.markdown("**The bank records these journals were posted from**")
        records = pd.DataFrame([{"journal": x.journal_id, "dataset": x.dataset_name, "record": x.record_id,
                                 "date": (x.record or {}).get("date"),
                                 "amount": x.record["amount"] if x.record else None,
                                 "note": "" if x.record else "no longer in the dataset",
                                 **{c: (x.record or {}).get(c) or "" for c in ("currency", "reference", "description", "counterparty")}}
                                for x in sources.values()])
        st.dataframe(money_shown(records, ("amount",)), hide_index=True, width="stretch", key="cash_drill_records")
        download_buttons(records, "flow_bank_records", "cash_drill_records_download")
    else:
        st.caption("No line of this cell was posted from a bank record (manual journals).")
else:
    st.info(f"No posted journal line on a GL cash account from {report.date_from} to {report.as_of}: choose an earlier "
            "'Flows from' (or as-of) date, or post bank records to the ledger (`python -m core gl post`).")
