import streamlit as st

from core.store import verify_audit_chain
from core.views import audit_frame
from ui import download_buttons, get_store

store = get_store()
st.title("Audit log")
st.caption("Every import, run, sign-in and decision: who, when, what, and the state before and after. Append-only, and "
           "hash-chained: each entry carries the hash of the one before.")
chain = verify_audit_chain(store)
if chain.intact:
    st.success(f"Chain verified: {chain.entries['audit_log']:,} audit entries and {chain.entries['decisions']:,} decisions, "
               "none changed, removed or slipped in.", icon=":material/verified:")
else:
    where = f"{chain.table} entry {chain.entry_id}" if chain.entry_id is not None else chain.table
    st.error(f"Chain broken at {where}: {chain.problem} ({chain.detail}).", icon=":material/gpp_bad:")
actor_col, action_col, entity_col, dates_col = st.columns(4)
actor = actor_col.text_input("Who", key="audit_actor")
action = action_col.text_input("Action (e.g. resolve, unmatch, import)", key="audit_action")
entity = entity_col.text_input("Entity (type or id, e.g. break or 42)", key="audit_entity")
dates = dates_col.date_input("Between", value=(), key="audit_dates")
since, until = (tuple(dates) + (None, None))[:2] if isinstance(dates, tuple) else (dates, dates)
frame = audit_frame(store, actor.strip(), action.strip(), entity.strip(), since, until)
st.caption(f"{len(frame):,} entries (newest first)")
st.dataframe(frame, hide_index=True, width="stretch", key="audit_grid")
download_buttons(frame, "audit_log", "audit_download")
