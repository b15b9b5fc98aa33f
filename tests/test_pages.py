"""Pages through Streamlit's AppTest: the Home screen over the demo data."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.demo import seed_demo
from core.store import open_store

HOME = str(Path(__file__).resolve().parents[1] / "Home.py")


@pytest.fixture
def app_data(tmp_path, monkeypatch):
    monkeypatch.setenv("RECON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    import streamlit as st

    st.cache_resource.clear()
    yield tmp_path / "data"
    st.cache_resource.clear()


def test_home_shows_the_demo_datasets(app_data):
    seed_demo(open_store())
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Datasets"] == "5"
    assert metrics["Rows imported"] == "380"
    frames = [d.value for d in at.dataframe if "Name" in d.value.columns]
    names = frames[0]["Name"].tolist()
    assert "general_ledger_cash_2026-10.csv" in names and "clear_street_cash_activity_2026-10.xlsx" in names
    assert metrics["Reconciliation runs"] == "4"
    assert int(metrics["Open breaks"]) > 0
    per_account = [d.value for d in at.dataframe if "Account" in d.value.columns][0]
    assert set(per_account["Account"]) == {"4471-0092-18", "DE89370400440532013000", "CS-00192-CASH", "RC-7781-SAR"}


def test_home_on_an_empty_store_says_how_to_start(app_data):
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    assert any("python -m core demo" in i.value for i in at.info)
