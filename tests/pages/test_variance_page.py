"""The Variance page through AppTest on the demo month: variance by account, transfers, and alerts
that a viewer reads and an analyst acknowledges (audited); open alerts on the Overview."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.banking.alerts import list_alerts
from core.demo import DEMO_USERS, seed_demo
from core.store import open_store
from core.store.models import AuditEntry

HOME = str(Path(__file__).resolve().parents[2] / "Home.py")


@pytest.fixture
def demo(tmp_path, monkeypatch):
    monkeypatch.setenv("RECON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECON_DEMO", "1")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    store = open_store()
    seed_demo(store)  # raises the demo month's one alert: the Hanse Bank account's unexplained difference
    yield store
    st.cache_resource.clear()
    st.cache_data.clear()


def signed_in(username: str, page: str) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=90).run()
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(DEMO_USERS[username])
    at.button[0].click().run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def frame(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_viewer_reads_variance_by_account_and_the_alerts_but_cannot_acknowledge(demo):
    at = signed_in("viewer", "pages/variance.py")
    assert len(at.multiselect(key="variance_datasets").value) == 4  # the statement side of the demo's runs
    rows = frame(at, "against budget")
    assert "2026-10" in set(rows["month"])
    assert "4471-0092-18" in set(rows["account"])
    alerts = frame(at, "acknowledged by")
    assert "unexplained_difference" in set(alerts["kind"])
    # Viewing raised the month-on-month breaches of the rows, once each.
    breaches = sorted((r.account, r.month) for r in rows.itertuples()
                      if r.change and abs(Decimal(r.change.replace(",", ""))) > Decimal("5000.00"))
    assert breaches
    assert sorted((a.account, a.period) for a in list_alerts(demo) if a.kind == "variance_previous") == breaches
    signed_in("viewer", "pages/variance.py")
    assert len(list_alerts(demo)) == len(alerts)
    assert not [f for f in at.get("form") if getattr(f, "key", None) == "variance_acknowledge"]
    assert any("needs the analyst role" in c.value for c in at.caption)


def test_analyst_acknowledges_an_alert_and_it_is_audited(demo):
    at = signed_in("analyst", "pages/variance.py")
    picked = at.selectbox(key="variance_ack_alert").value
    at.text_input(key="variance_ack_note").input("bank fee booked late")
    at.button(key="FormSubmitter:variance_acknowledge-Acknowledge").click().run()
    assert not at.exception, at.exception
    assert any("acknowledged" in s.value for s in at.success)
    assert picked not in {a.id for a in list_alerts(demo, open_only=True)}
    assert picked in {a.id for a in list_alerts(demo)}
    with demo.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "acknowledge_alert")).one()
    assert (entry.actor, entry.entity_id, entry.after["note"]) == ("analyst", str(picked), "bank fee booked late")


def test_overview_lists_the_open_alerts(demo):
    at = signed_in("viewer", "pages/overview.py")
    assert list(frame(at, "Kind")["Kind"]) == ["unexplained_difference"]  # nothing has opened the Variance page yet


OWN_ACCOUNTS = """id,account,date,amount,currency,reference,counterparty
o1,OPS-1,2026-11-02,-1200.00,USD,TR-1,RES-2
o2,OPS-1,2026-11-03,-300.00,USD,TR-2,RES-2
i2,RES-2,2026-11-04,300.00,USD,TR-2,OPS-1
"""


def test_transfers_paired_and_in_transit_with_ages(demo):
    from core.ingest.datasets import import_bytes

    outcome, errors = import_bytes(demo, OWN_ACCOUNTS.encode(), "own-accounts.csv", user="t")
    assert errors == []
    at = signed_in("viewer", "pages/variance.py")
    at.multiselect(key="variance_datasets").set_value([outcome.dataset.id]).run()
    at.date_input(key="variance_as_of").set_value(dt.date(2026, 11, 6)).run()
    assert not at.exception, at.exception
    paired = frame(at, "in record")
    assert list(zip(paired["out record"], paired["in record"], paired["business days"])) == [("o2", "i2", 1)]
    transit = frame(at, "age (business days)")
    assert list(zip(transit["record"], transit["age (business days)"], transit["overdue"])) == [("o1", 4, "⚠ overdue")]
    assert [(a.kind, a.subject) for a in list_alerts(demo) if a.kind == "transfer_in_transit"] == [("transfer_in_transit", "o1")]
