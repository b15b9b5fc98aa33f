import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.auth import create_user
from core.banking.alerts import AlertDraft, AlertError, acknowledge_alert, list_alerts, raise_alerts
from core.banking.variance import parse_budget, variance_of_datasets
from core.ingest.datasets import import_bytes
from core.store.models import Alert, AuditEntry

PASSWORD = "a long enough password 1"


def draft(period="2026-10", subject=""):
    return AlertDraft("variance_previous", "OPS-1", period, subject, Decimal("6000.00"), Decimal("5000.00"), "OPS-1 moved")


def test_an_alert_is_raised_once(store):
    assert len(raise_alerts(store, [draft(), draft()])) == 1
    assert raise_alerts(store, [draft()]) == []
    assert len(raise_alerts(store, [draft(), draft("2026-11")])) == 1
    assert [a.period for a in list_alerts(store)] == ["2026-11", "2026-10"]


def test_the_database_refuses_the_same_alert_twice(store):
    with pytest.raises(IntegrityError):
        with store.session() as session:
            session.add_all([Alert(**draft()._asdict()), Alert(**draft()._asdict())])
    raise_alerts(store, [draft()])
    assert len(list_alerts(store)) == 1


def test_acknowledging_an_alert_is_audited_and_needs_an_analyst(store):
    raise_alerts(store, [draft()])
    alert = list_alerts(store)[0]
    viewer = create_user(store, "viewer", PASSWORD, "viewer")
    with pytest.raises(AlertError, match=r"viewer \(viewer\) may not do this; it needs the analyst role"):
        acknowledge_alert(store, alert.id, actor=viewer)
    analyst = create_user(store, "analyst", PASSWORD, "analyst")
    done = acknowledge_alert(store, alert.id, actor=analyst, note="bonus month")
    assert done.acknowledged_by == "analyst" and isinstance(done.acknowledged_at, dt.datetime)
    assert list_alerts(store, open_only=True) == []
    with pytest.raises(AlertError, match=f"alert {alert.id} was acknowledged by analyst already"):
        acknowledge_alert(store, alert.id, actor=analyst)
    with pytest.raises(AlertError, match="there is no alert 999"):
        acknowledge_alert(store, 999, actor=analyst)
    with store.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "acknowledge_alert")).one()
    assert (entry.actor, entry.entity_id) == ("analyst", str(alert.id))
    assert entry.before["acknowledged_by"] is None
    assert (entry.after["acknowledged_by"], entry.after["note"]) == ("analyst", "bonus month")


def test_variance_of_stored_datasets_raises_its_alerts_once(store):
    statement = ("id,account,date,amount,currency,reference\na,OPS-1,2026-09-03,100.00,USD,\nb,OPS-1,2026-10-05,9000.00,USD,\n")
    outcome, errors = import_bytes(store, statement.encode(), "ops.csv", user="t")
    assert errors == []
    budget, _ = parse_budget("account,month,amount\nOPS-1,2026-10,3000.00\n")
    for _ in range(2):
        report, errors = variance_of_datasets(store, [outcome.dataset], budget=budget)
        assert errors == []
    assert [(r.month, r.change, r.budget_variance) for r in report.rows] == \
        [("2026-09", None, None), ("2026-10", Decimal("8900.00"), Decimal("6000.00"))]
    assert sorted((a.kind, a.period, a.amount) for a in list_alerts(store)) == \
        [("variance_budget", "2026-10", Decimal("6000.00")), ("variance_previous", "2026-10", Decimal("8900.00"))]
