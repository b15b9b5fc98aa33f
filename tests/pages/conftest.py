"""Fixtures every page test shares: a data folder of the test's own, empty or holding the demo
month."""

import pytest

from core.demo import seed_demo
from core.store import open_store


@pytest.fixture
def app_data(tmp_path, monkeypatch):
    monkeypatch.setenv("RECON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECON_DEMO", "1")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path / "data"
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def demo(app_data):
    """The demo month, banking side included: chart, postings, statement balances and one alert."""
    store = open_store()
    seed_demo(store)
    return store


@pytest.fixture
def demo_without_ledger(app_data):
    """The demo month with an empty ledger, for a test that posts a chart of its own."""
    store = open_store()
    seed_demo(store, banking=False)
    return store
