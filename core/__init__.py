"""Recon Workbench engine: import, store, match, review, export. Never imports streamlit."""
