import datetime as dt
from decimal import Decimal

import pandas as pd
import plotly.express as px
import streamlit as st

from core.auth import can
from core.banking.alerts import ACKNOWLEDGE_ROLE, AlertError, acknowledge_alert, list_alerts
from core.banking.rates import parse_rates
from core.banking.transfers import transfer_report
from core.banking.variance import dimension_columns, parse_budget, records_of_datasets, statement_side_datasets, variance_of_datasets
from core.domain.money import format_amount
from core.ingest.datasets import list_datasets
from ui import MOMENT, account, download_buttons, get_store, money_shown, show_row_errors

me = account()
store = get_store()
st.title("Variance")
st.caption("Per bank account and month: the movement (the sum of its records) against the month before and the budget, the "
           "unexplained difference of the newest reconciliation covering the month, and transfers between own accounts. A figure past its threshold becomes an alert, raised once, for an analyst to acknowledge.")
if "variance_flash" in st.session_state:
    st.success(st.session_state.pop("variance_flash"))

datasets = list_datasets(store)
by_id = {d.id: d for d in datasets}
chosen = st.multiselect("Statement datasets (the own bank accounts)", list(by_id), key="variance_datasets",
                        default=[d.id for d in statement_side_datasets(store)],
                        format_func=lambda i: f"{by_id[i].name} ({by_id[i].row_count:,} rows)")
records = records_of_datasets(store, chosen)
left, middle, right = st.columns(3)
# A dimension the records carry comes first: the heatmap is by it; without one, by account.
dimension = left.selectbox("Dimension", [*dimension_columns(records), "(by account)"], key="variance_dimension")
dimension = None if dimension == "(by account)" else dimension
as_of = middle.date_input("Transfers as of", value=max([d.date_to for d in datasets if d.id in chosen and d.date_to] or [dt.date.today()]),
                          key="variance_as_of")
budget_file = right.file_uploader("Budget (CSV: account, dimension, month, amount)", type=["csv"], key="variance_budget")
with st.expander("Transfers across currencies"):
    rates_file = st.file_uploader("Rates (CSV: date, currency, rate)", type=["csv"], key="variance_rates")
    reporting = st.text_input("Reporting currency of the rates", value="USD", max_chars=3, key="variance_reporting")
    tolerance = st.number_input("FX tolerance (percent)", min_value=0.0, max_value=10.0, value=1.0, step=0.1, key="variance_tolerance")

budget = rates = None
if budget_file is not None:
    budget, errors = parse_budget(budget_file.getvalue().decode("utf-8-sig"), budget_file.name)
    if errors:
        show_row_errors(errors, saving=False)
if rates_file is not None:
    rates, errors = parse_rates(rates_file.getvalue().decode("utf-8-sig"), reporting, rates_file.name)
    if errors:
        show_row_errors(errors, saving=False)

if not chosen:
    st.info("Choose the statement datasets of the own bank accounts: no reconciliation has taken any as its statement side yet.")
else:
    # The report raises its breaches as alerts (once each), whoever opens it: the product raises them, not the reader.
    report, errors = variance_of_datasets(store, chosen, budget=budget, dimension=dimension)
    if report is None:
        show_row_errors(errors, saving=False)
    elif errors:
        st.warning("Some months have no unexplained difference: " + "; ".join(f"{e.value or e.file}: {e.message}" for e in errors))
    if report is not None and report.rows:
        st.subheader("Variance by account over months")
        sources = report.unexplained_from or {}
        rows = pd.DataFrame([{"account": r.account, "dimension": r.dimension, "month": r.month, "currency": r.currency,
                              "movement": r.movement,
                              "previous month": r.previous,
                              "change": r.change,
                              "budget": r.budget,
                              "against budget": r.budget_variance,
                              "unexplained": r.unexplained,
                              "reconciliation": (f"run {sources[r.account, r.month].run_id} as of {sources[r.account, r.month].as_of}"
                                                 if (r.account, r.month) in sources else "")}
                             for r in report.rows])
        # Charts draw numbers; the grid keeps the exact amounts.
        chart = pd.DataFrame([{"account": r.account, "month": r.month, "movement": float(r.movement)}
                              for r in report.rows if not r.dimension])
        # Months are categories: as dates, plotly spreads them over a time axis, a bar at each month's first day.
        st.plotly_chart(px.bar(chart, x="month", y="movement", color="account", barmode="group", height=340).update_xaxes(type="category"),
                        width="stretch", key="variance_chart")
        st.caption(f"Thresholds: variance {format_amount(report.variance_threshold)}, unexplained difference "
                   f"{format_amount(report.reconciliation_threshold)}; a figure at its threshold is no breach.")
        st.dataframe(money_shown(rows, ("movement", "previous month", "change", "budget", "against budget", "unexplained")), hide_index=True,
                     width="stretch", key="variance_rows")
        download_buttons(rows, "variance", "variance_rows_download")

        st.subheader(f"Movements by {dimension} and month" if dimension else "Movements by account and month")
        heat = pd.DataFrame([{"row": (f"{a} · {d or '(none)'}" if dimension else a), "month": m, "movement": float(v)}
                             for a, d, m, v in report.heatmap])
        grid = heat.pivot_table(index="row", columns="month", values="movement", aggfunc="sum", fill_value=0)
        st.plotly_chart(px.imshow(grid, aspect="auto", color_continuous_scale="RdBu", color_continuous_midpoint=0,
                                  labels={"color": "movement"}).update_xaxes(type="category"), width="stretch", key="variance_heatmap")
        heat_grid = pd.DataFrame([{"account": a, "dimension": d, "month": m, "movement": v}
                                  for a, d, m, v in report.heatmap])
        download_buttons(heat_grid, "variance_heatmap", "variance_heatmap_download")

    transfers = transfer_report(store, chosen, as_of, rates=rates, fx_tolerance_pct=Decimal(str(tolerance)))
    st.subheader("Transfers between own accounts")
    if transfers.transfers:
        paired = pd.DataFrame([{"out of": t.out.account, "out record": t.out.record_id, "out date": t.out.date,
                                "amount out": t.out.amount, "currency out": t.out.currency, "into": t.incoming.account,
                                "in record": t.incoming.record_id, "in date": t.incoming.date,
                                "amount in": t.incoming.amount, "currency in": t.incoming.currency,
                                "business days": t.business_days, "difference": t.difference, "rule": t.rule}
                               for t in transfers.transfers])
        st.dataframe(money_shown(paired, ("amount out", "amount in", "difference")), hide_index=True, width="stretch", key="variance_transfers")
        download_buttons(paired, "transfers", "variance_transfers_download")
    else:
        st.caption("No transfer between own accounts is paired.")
    if transfers.ambiguous:
        st.warning(f"{len(transfers.ambiguous)} leg(s) have more than one equally close partner: a person chooses.")
        st.dataframe(pd.DataFrame([{"account": a.leg.account, "record": a.leg.record_id, "date": a.leg.date,
                                    "amount": a.leg.amount,
                                    "candidates": ", ".join(f"{c.account} {c.record_id}" for c in a.candidates)}
                                   for a in transfers.ambiguous]).pipe(money_shown, ("amount",)), hide_index=True, width="stretch", key="variance_ambiguous")
    st.markdown(f"**In transit on {transfers.as_of}** (alert past {transfers.threshold} business days)")
    if transfers.in_transit:
        transit = pd.DataFrame([{"account": x.leg.account, "record": x.leg.record_id, "date": x.leg.date,
                                 "amount": x.leg.amount, "currency": x.leg.currency, "reference": x.leg.reference,
                                 "age (business days)": x.age, "overdue": "⚠ overdue" if x.overdue else ""}
                                for x in transfers.in_transit])
        st.dataframe(money_shown(transit, ("amount",)), hide_index=True, width="stretch", key="variance_in_transit")
        download_buttons(transit, "transfers_in_transit", "variance_in_transit_download")
    else:
        st.caption("Nothing in transit.")

st.subheader("Alerts")
alerts = list_alerts(store)
if alerts:
    table = pd.DataFrame([{"id": a.id, "kind": a.kind, "account": a.account, "period": a.period, "subject": a.subject,
                           "amount": a.amount, "threshold": a.threshold, "message": a.message,
                           "raised": a.created_at, "acknowledged by": a.acknowledged_by or "", "acknowledged": a.acknowledged_at}
                          for a in alerts])
    st.dataframe(money_shown(table, ("amount", "threshold")), hide_index=True, width="stretch", key="variance_alerts",
                 column_config={"raised": MOMENT, "acknowledged": MOMENT})
    download_buttons(table, "alerts", "variance_alerts_download")
    waiting = [a for a in alerts if a.acknowledged_at is None]
    if not can(me, ACKNOWLEDGE_ROLE):
        st.caption(f"Acknowledging an alert needs the {ACKNOWLEDGE_ROLE} role.")
    elif waiting:
        with st.form("variance_acknowledge"):
            picked = st.selectbox("Alert", [a.id for a in waiting], key="variance_ack_alert",
                                  format_func=lambda i: next(f"{i}: {a.message}" for a in waiting if a.id == i))
            note = st.text_input("Note (kept in the audit log)", key="variance_ack_note")
            if st.form_submit_button("Acknowledge"):
                try:
                    acknowledge_alert(store, picked, actor=me, note=note)
                    st.session_state["variance_flash"] = f"Alert {picked} acknowledged."
                    st.rerun()
                except AlertError as exc:
                    st.error(str(exc))
else:
    st.info("No alerts.")
