import pandas as pd
import streamlit as st

from core.auth import ROLES, AuthError, create_user, list_users, set_password, update_user
from ui import MOMENT, get_store, require

me = require("admin")
store = get_store()
st.title("Users")
if "users_flash" in st.session_state:
    st.success(st.session_state.pop("users_flash"))
users = list_users(store)
st.dataframe(pd.DataFrame([{"username": u.username, "name": u.display_name, "role": u.role, "active": u.active,
                            "since": u.created_at} for u in users]), hide_index=True, width="stretch", key="users_grid",
             column_config={"since": MOMENT})

with st.form("users_add"):
    st.markdown("**Add a user**")
    username_col, display_col, role_col, password_col = st.columns(4)
    username = username_col.text_input("Username", key="users_new_name")
    display = display_col.text_input("Full name", key="users_new_display")
    role = role_col.selectbox("Role", ROLES, index=1, key="users_new_role")
    password = password_col.text_input("Password", type="password", key="users_new_password")
    if st.form_submit_button("Add user"):
        try:
            create_user(store, username, password, role, display_name=display, actor=me)
            st.session_state["users_flash"] = f"User {username!r} added."
            st.rerun()
        except AuthError as exc:
            st.error(str(exc))

st.markdown("**Change a user**")
who = st.selectbox("User", [u.username for u in users], key="users_change_name")
chosen = next(u for u in users if u.username == who)
# The form is keyed by the user, so it opens on that user's own role and active flag.
with st.form(f"users_change_{who}"):
    role_col, active_col = st.columns(2)
    new_role = role_col.selectbox("Role", ROLES, index=ROLES.index(chosen.role), key=f"users_change_role_{who}")
    active = active_col.selectbox("Active", ["yes", "no"], index=0 if chosen.active else 1, key=f"users_change_active_{who}")
    if st.form_submit_button("Save role and active"):
        try:
            update_user(store, who, actor=me, role=new_role, active=active == "yes")
            st.session_state["users_flash"] = f"User {who!r}: role {new_role}, active {active}."
            st.rerun()
        except AuthError as exc:
            st.error(str(exc))

with st.form(f"users_password_{who}", clear_on_submit=True):
    new_password = st.text_input(f"New password for {who}", type="password", key=f"users_password_{who}_new")
    if st.form_submit_button("Set password"):
        try:
            set_password(store, who, new_password, actor=me)
            st.session_state["users_flash"] = f"Password of {who!r} changed; role and active flag unchanged."
            st.rerun()
        except AuthError as exc:
            st.error(str(exc))
