"""The Variance page through AppTest on the demo month: variance by account, transfers, and alerts
that a viewer reads and an analyst acknowledges (audited); open alerts on the Overview."""

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from core.banking.alerts import list_alerts
from core.store.models import AuditEntry
from tests.pages.app import frame_with, on_page


def test_viewer_reads_variance_by_account_and_the_alerts_but_cannot_acknowledge(demo):
    at = on_page("viewer", "pages/variance.py")
    assert len(at.multiselect(key="variance_datasets").value) == 4  # the statement side of the demo's runs
    rows = frame_with(at, "against budget")
    assert "2026-10" in set(rows["month"])
    assert "4471-0092-18" in set(rows["account"])
    # Beside the movements, the unexplained difference of each account's reconciliation of the month, and which one.
    october = rows[rows["month"] == "2026-10"].set_index("account")
    assert october.loc["DE89370400440532013000", "unexplained"] == "-1,850.00"
    assert october.loc["4471-0092-18", "unexplained"] == "0.00"
    assert october.loc["DE89370400440532013000", "reconciliation"].endswith("as of 2026-10-31")
    alerts = frame_with(at, "acknowledged by")
    assert "unexplained_difference" in set(alerts["kind"])
    # Viewing raised the month-on-month breaches of the rows, once each.
    breaches = sorted((r.account, r.month) for r in rows.itertuples()
                      if r.change and abs(Decimal(r.change.replace(",", ""))) > Decimal("5000.00"))
    assert breaches
    assert sorted((a.account, a.period) for a in list_alerts(demo) if a.kind == "variance_previous") == breaches
    on_page("viewer", "pages/variance.py")
    assert len(list_alerts(demo)) == len(alerts)
    assert not [f for f in at.get("form") if getattr(f, "key", None) == "variance_acknowledge"]
    assert any("needs the analyst role" in c.value for c in at.caption)


def test_analyst_acknowledges_an_alert_and_it_is_audited(demo):
    at = on_page("analyst", "pages/variance.py")
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
    at = on_page("viewer", "pages/overview.py")
    assert list(frame_with(at, "Kind")["Kind"]) == ["unexplained_difference"]  # nothing has opened the Variance page yet


OWN_ACCOUNTS = """id,account,date,amount,currency,reference,counterparty
o1,OPS-1,2026-11-02,-1200.00,USD,TR-1,RES-2
o2,OPS-1,2026-11-03,-300.00,USD,TR-2,RES-2
i2,RES-2,2026-11-04,300.00,USD,TR-2,OPS-1
"""


def test_transfers_paired_and_in_transit_with_ages(demo):
    from core.ingest.datasets import import_bytes

    outcome, errors = import_bytes(demo, OWN_ACCOUNTS.encode(), "own-accounts.csv", user="t")
    assert errors == []
    at = on_page("viewer", "pages/variance.py")
    at.multiselect(key="variance_datasets").set_value([outcome.dataset.id]).run()
    at.date_input(key="variance_as_of").set_value(dt.date(2026, 11, 6)).run()
    assert not at.exception, at.exception
    paired = frame_with(at, "in record")
    assert list(zip(paired["out record"], paired["in record"], paired["business days"])) == [("o2", "i2", 1)]
    transit = frame_with(at, "age (business days)")
    assert list(zip(transit["record"], transit["age (business days)"], transit["overdue"])) == [("o1", 4, "⚠ overdue")]
    assert [(a.kind, a.subject) for a in list_alerts(demo) if a.kind == "transfer_in_transit"] == [("transfer_in_transit", "o1")]
