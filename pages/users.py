import pandas as pd
import streamlit as st

from core.auth import ROLES, AuthError, create_user, list_users, set_password, update_user
from ui import get_store, require

me = require("admin")
store = get_store()
st.title("Users")
if "users_flash" in st.session_state:
    st.success(st.session_state.pop("users_flash"))
users = list_users(store)
st.dataframe(pd.DataFrame([{"username": u.username, "name": u.display_name, "role": u.role, "active": u.active,
                            "since": u.created_at} for u in users]), hide_index=True, width="stretch", key="users_grid")

with st.form("users_add"):
    st.markdown("**Add a user**")
    c1, c2, c3, c4 = st.columns(4)
    username = c1.text_input("Username", key="users_new_name")
    display = c2.text_input("Full name", key="users_new_display")
    role = c3.selectbox("Role", ROLES, index=1, key="users_new_role")
    password = c4.text_input("Password", type="password", key="users_new_password")
    if st.form_submit_button("Add user"):
        try:
            create_user(store, username, password, role, display_name=display, actor=me.username)
            st.session_state["users_flash"] = f"User {username!r} added."
            st.rerun()
        except AuthError as exc:
            st.error(str(exc))

with st.form("users_change"):
    st.markdown("**Change a user**")
    c1, c2, c3, c4 = st.columns(4)
    who = c1.selectbox("User", [u.username for u in users], key="users_change_name")
    new_role = c2.selectbox("Role", ROLES, key="users_change_role")
    active = c3.selectbox("Active", ["yes", "no"], key="users_change_active")
    new_password = c4.text_input("New password (optional)", type="password", key="users_change_password")
    if st.form_submit_button("Save"):
        try:
            update_user(store, who, actor=me.username, role=new_role, active=active == "yes")
            if new_password:
                set_password(store, who, new_password, actor=me.username)
            st.session_state["users_flash"] = f"User {who!r} updated."
            st.rerun()
        except AuthError as exc:
            st.error(str(exc))
