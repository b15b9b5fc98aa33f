import pandas as pd
import plotly.express as px
import streamlit as st

from core.banking.alerts import list_alerts
from core.domain.money import format_amount
from core.views.jobs import failing_pipelines
from core.views.overview import workbench_overview
from core.views.trends import account_trends
from ui import DATE, MOMENT, get_store

store = get_store()
overview = workbench_overview(store)

st.title("Recon Workbench")
st.caption(f"Store: {store.engine.url.render_as_string(hide_password=True)} · data folder: {store.data_dir}")

datasets_col, rows_col, runs_col, breaks_col = st.columns(4)
datasets_col.metric("Datasets", len(overview.datasets))
rows_col.metric("Rows imported", f"{overview.total_rows:,}")
runs_col.metric("Reconciliation runs", overview.run_count)
breaks_col.metric("Open breaks", sum(a.internal_open + a.external_open for a in overview.open_breaks))

open_alerts = list_alerts(store, open_only=True, limit=10)
if open_alerts:
    st.subheader("Open alerts")
    st.dataframe(pd.DataFrame({"Kind": [a.kind for a in open_alerts], "Account": [a.account for a in open_alerts],
                               "Period": [a.period for a in open_alerts], "Amount": [format_amount(a.amount) for a in open_alerts],
                               "Message": [a.message for a in open_alerts], "Raised": [a.created_at for a in open_alerts]}),
                 hide_index=True, width="stretch", key="overview_alerts", column_config={"Raised": MOMENT})
    st.page_link("pages/variance.py", label="Acknowledge them on the Variance page", icon=":material/monitoring:")

failing = failing_pipelines(store)
if failing:
    st.subheader("Failing pipelines")
    st.error(f"The last run of {len(failing)} pipeline(s) failed or was missed: " + ", ".join(f["pipeline"] for f in failing))
    st.dataframe(pd.DataFrame({"Pipeline": [f["pipeline"] for f in failing], "Run": [f["run"] for f in failing],
                               "Status": [f["status"] for f in failing],
                               "Finished": pd.to_datetime([f["finished_at"] for f in failing], utc=True),
                               "Retry queued": [f["retry_queued"] for f in failing], "Error": [f["error"] for f in failing]}),
                 hide_index=True, width="stretch", key="overview_failing_pipelines", column_config={"Finished": MOMENT})
    st.page_link("pages/jobs.py", label="See their runs on the Jobs page", icon=":material/schedule:")

st.subheader("Open breaks per account")
if overview.open_breaks:
    table = pd.DataFrame(
        {
            "Account": [a.account for a in overview.open_breaks],
            "Currency": [a.currency for a in overview.open_breaks],
            "Open in books": [a.internal_open for a in overview.open_breaks],
            "Open at bank/broker": [a.external_open for a in overview.open_breaks],
            "Open amount in books": [format_amount(a.internal_amount) for a in overview.open_breaks],
            "Open amount at bank/broker": [format_amount(a.external_amount) for a in overview.open_breaks],
            "Oldest (days)": [a.oldest_days for a in overview.open_breaks],
        }
    )
    chart = px.bar(
        table.melt(id_vars=["Account"], value_vars=["Open in books", "Open at bank/broker"], var_name="Side", value_name="Breaks"),
        x="Account", y="Breaks", color="Side", barmode="group", height=320,
    )
    most = max(max(a.internal_open, a.external_open) for a in overview.open_breaks)
    chart.update_yaxes(rangemode="tozero", dtick=max(1, -(-most // 5)))
    st.plotly_chart(chart, width="stretch", key="overview_breaks_chart")
    st.dataframe(table, hide_index=True, width="stretch", key="overview_breaks_table")
else:
    st.info("No open breaks: no reconciliation has been run yet, or every item is matched.")

st.subheader("Trends per account over runs")
trends = account_trends(store)
if trends.empty:
    st.info("No completed runs yet: trends appear once accounts have been reconciled.")
else:
    st.caption("What each completed run left open, and its match rate: the share of the account's records the run put in a "
               "confirmed group (a proposed match is not a match until a person confirms it).")
    trends["series"] = trends["account"] + " " + trends["currency"]
    count_col, money_col, rate_col = st.columns(3)
    count_col.plotly_chart(px.line(trends, x="started", y="open_breaks", color="series", markers=True, height=320,
                                   title="Open breaks", labels={"open_breaks": "breaks", "started": "run", "series": "account"}),
                           width="stretch", key="overview_trend_breaks")
    money_col.plotly_chart(px.line(trends.assign(open_amount=trends["open_amount"].astype(float)), x="started", y="open_amount",
                                   color="series", markers=True, height=320, title="Open money (absolute amounts)",
                                   labels={"open_amount": "amount", "started": "run", "series": "account"}),
                           width="stretch", key="overview_trend_money")
    rate_chart = px.line(trends, x="started", y="match_rate", color="series", markers=True, height=320, title="Match rate",
                         labels={"match_rate": "matched", "started": "run", "series": "account"})
    rate_chart.update_yaxes(tickformat=".0%", range=[0, 1.05])
    rate_col.plotly_chart(rate_chart, width="stretch", key="overview_trend_rate")

st.subheader("Recent runs")
if overview.runs:
    st.dataframe(
        pd.DataFrame(
            {
                "Run": [r.id for r in overview.runs],
                "Started": [r.started_at for r in overview.runs],
                "Accounts": [", ".join(r.accounts) or "all" for r in overview.runs],
                "Rules": [r.rules_name for r in overview.runs],
                "Groups": [r.summary.get("groups", {}).get("total", 0) for r in overview.runs],
                "Proposed": [r.summary.get("groups", {}).get("proposed", 0) for r in overview.runs],
                "Open": [sum(side.get("open", 0) for side in r.summary.get("sides", {}).values()) for r in overview.runs],
                "Status": [r.status for r in overview.runs],
                "By": [r.created_by for r in overview.runs],
            }
        ),
        hide_index=True, width="stretch", key="overview_runs_table", column_config={"Started": MOMENT},
    )
else:
    st.info("No reconciliation runs yet.")

st.subheader("Datasets")
if overview.datasets:
    flagged = [d for d in overview.datasets if d.unbalanced]
    if flagged:
        st.warning(f"⚠ {len(flagged)} dataset(s) imported although they do not add up, with the difference recorded: "
                   + ", ".join(d.name for d in flagged))
    st.dataframe(
        pd.DataFrame(
            {
                "Flag": ["⚠ unbalanced" if d.unbalanced else "" for d in overview.datasets],
                "Name": [d.name for d in overview.datasets],
                "Format": [d.format for d in overview.datasets],
                "Profile": [d.profile or "automatic" for d in overview.datasets],
                "Rows": [d.row_count for d in overview.datasets],
                "Accounts": [d.account_count for d in overview.datasets],
                "From": [d.date_from for d in overview.datasets],
                "To": [d.date_to for d in overview.datasets],
                "Warnings": [len(d.warnings) for d in overview.datasets],
                "Imported": [d.created_at for d in overview.datasets],
                "By": [d.created_by for d in overview.datasets],
                "SHA-256": [d.id[:12] for d in overview.datasets],
            }
        ),
        hide_index=True, width="stretch", key="overview_datasets_table",
        column_config={"From": DATE, "To": DATE, "Imported": MOMENT},
    )
else:
    st.info("No datasets yet. Import a file with `python -m core import FILE`, or seed the demo with `python -m core demo`.")
