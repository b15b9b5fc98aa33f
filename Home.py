"""Recon Workbench: the entry file routes to the pages."""

import streamlit as st

st.set_page_config(page_title="Recon Workbench", page_icon=":material/balance:", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    ]
)
navigation.run()
