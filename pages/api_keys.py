import pandas as pd
import streamlit as st

from core.apikeys import KEY_ROLES, ApiKeyError, create_api_key, delete_api_key, disable_api_key, list_api_keys
from ui import MOMENT, flash, get_store, require, show_flashes

me = require("admin")
store = get_store()
st.title("API keys")
st.caption("Keys other systems send to the HTTP API as `Authorization: Bearer sk_...`. A key is shown once, when it is made; "
           "the store keeps only its SHA-256 and its first characters. A key's role is what it may do: every key reads, "
           "an analyst key also posts bank transactions.")
show_flashes()
if made := st.session_state.pop("api_keys_new", None):
    st.success(f"Key {made[0]!r} made. Copy it now: it is not shown again.")
    st.code(made[1], language=None)



def moment(when, otherwise: str) -> str:
    """A time as the grid's other times read (an empty cell would read "None")."""
    return otherwise if when is None else f"{when:%Y-%m-%d %H:%M}"


keys = list_api_keys(store)
if keys:
    st.dataframe(pd.DataFrame([{"name": k.name, "prefix": k.prefix + "…", "role": k.role, "state": "active" if k.active else "disabled",
                                "made by": k.created_by, "made": k.created_at, "last used": moment(k.last_used_at, "never"),
                                "disabled": moment(k.disabled_at, "")} for k in keys]),
                 hide_index=True, width="stretch", key="api_keys_grid", column_config={"made": MOMENT})
else:
    st.info("No API key yet.")

with st.form("api_keys_create", clear_on_submit=True):
    st.markdown("**Make a key**")
    name_col, role_col = st.columns(2)
    name = name_col.text_input("Name (the system that uses it)", key="api_keys_name")
    role = role_col.selectbox("Role", KEY_ROLES, key="api_keys_role")
    if st.form_submit_button("Make key"):
        try:
            view, secret = create_api_key(store, name, role, actor=me)
        except ApiKeyError as exc:
            st.error(str(exc))
        else:
            st.session_state["api_keys_new"] = (view.name, secret)
            st.rerun()

if keys:
    st.markdown("**Disable or delete a key**")
    picked = st.selectbox("Key", [k.name for k in keys], key="api_keys_pick",
                          format_func=lambda n: next(f"{k.name} ({k.prefix}…, {k.role}, {'active' if k.active else 'disabled'})"
                                                     for k in keys if k.name == n))
    disable_col, delete_col = st.columns(2)
    chosen = next(k for k in keys if k.name == picked)
    if disable_col.button("Disable", key="api_keys_disable", disabled=not chosen.active):
        try:
            disable_api_key(store, picked, actor=me)
            flash("success", f"Key {picked!r} disabled: requests with it get 401 from now on.")
            st.rerun()
        except ApiKeyError as exc:
            st.error(str(exc))
    if delete_col.button("Delete", key="api_keys_delete"):
        st.session_state["api_keys_deleting"] = picked
    if st.session_state.get("api_keys_deleting") == picked:  # one click too many would cut a system off for good: ask first
        st.warning(f"Delete the key {picked!r}? Requests with it get 401 from now on and it cannot be made to work again; "
                   "a disabled key stays listed, a deleted one is gone (the audit log keeps that it existed).")
        yes_col, no_col = st.columns(2)
        if yes_col.button("Yes, delete it", key="api_keys_delete_yes", type="primary"):
            st.session_state.pop("api_keys_deleting", None)
            try:
                delete_api_key(store, picked, actor=me)
                flash("success", f"Key {picked!r} deleted.")
                st.rerun()
            except ApiKeyError as exc:
                st.error(str(exc))
        if no_col.button("Keep it", key="api_keys_delete_no"):
            st.session_state.pop("api_keys_deleting", None)
            st.rerun()
