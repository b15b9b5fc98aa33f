import pandas as pd
import streamlit as st

from core.monitoring import system_status
from ui import MOMENT, get_store, require

require("admin")
store = get_store()
st.title("System")
st.caption("The store, the worker and the queues, as every process sees them. The same figures are at the API's `/metrics`.")
st.button("Refresh", key="system_refresh")

status = system_status(store)
known = status.store.reachable  # the worker and the queues are read from the store: without it they are unknown, not zero
store_col, worker_col, exports_col, runs_col = st.columns(4)
store_col.metric("Store", "reachable" if known else "unreachable",
                 help=f"{status.store.database}, schema {status.store.revision or '?'}")
worker_col.metric("Worker", ("alive" if status.worker_alive else "not running") if known else "unknown")
exports_col.metric("Exports waiting / running", f"{status.exports_pending:,} / {status.exports_running:,}" if known else "unknown")
runs_col.metric("Pipeline runs queued / running", f"{status.runs_queued:,} / {status.runs_running:,}" if known else "unknown")
if not status.store.reachable:
    st.error(f"The store does not answer: {status.store.detail}")
    st.stop()

st.subheader("Worker lease")
if status.workers:
    st.dataframe(pd.DataFrame([{"lease": w.name, "holder": w.holder, "acquired": w.acquired_at, "renewed": w.renewed_at,
                                "expires": w.expires_at, "state": "alive" if w.alive else "expired"} for w in status.workers]),
                 hide_index=True, width="stretch", key="system_workers",
                 column_config={"acquired": MOMENT, "renewed": MOMENT, "expires": MOMENT})
else:
    st.info("No worker has ever held the lease: start one with `python -m core worker`.")

st.subheader("Last failures")
if status.failures:
    st.dataframe(pd.DataFrame([{"what": f.what, "subject": f.subject, "when": f.at, "error": f.error} for f in status.failures]),
                 hide_index=True, width="stretch", key="system_failures", column_config={"when": MOMENT})
else:
    st.caption("No export or pipeline run has failed.")
