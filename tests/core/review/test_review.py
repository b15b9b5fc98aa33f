"""Working the breaks on SQLite and PostgreSQL: decisions, maker-checker, conflicts, audit."""

import multiprocessing
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.auth import Account, create_user, update_user
from core.ingest.datasets import import_bytes
from core.matching.rules import load_rules
from core.review import (ConflictError, ReviewError, _shared, approve_proposed, approve_proposed_many, decide_pending, manual_match,
                         net_difference,
                         pending_decisions, reject_proposed, reject_proposed_many, resolve_break, resolve_breaks, unmatch_group)
from core.runs.reconcile import reconcile_datasets
from core.store import open_store, verify_audit_chain
from core.store.models import AuditEntry, Break, Decision, MatchGroup

# Users as the store makes them, in this order, in the fresh store of every test (see ``people``).
ANA = Account("ana", "Ana", "analyst", 1)
BEN = Account("ben", "Ben", "analyst", 2)
PAT = Account("pat", "Pat", "approver", 3)
ADA = Account("ada", "Ada", "approver", 4)
VIC = Account("vic", "Vic", "viewer", 5)
ADM = Account("adm", "Adm", "admin", 6)


@pytest.fixture(autouse=True)
def people(store, monkeypatch):
    from argon2 import PasswordHasher

    from core import auth

    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # cheap: not what is tested here
    for person in (ANA, BEN, PAT, ADA, VIC, ADM):
        assert create_user(store, person.username, "a-long-password", person.role, display_name=person.display_name) == person

BOOKS = b"""id,account,date,amount,currency,reference
b1,A,2026-10-01,100.00,USD,INV-1
b2,A,2026-10-05,5000.00,USD,INV-9
b3,A,2026-10-06,-20000.00,USD,PAY-3
b4,A,2026-10-07,-40.00,USD,
b5,A,2026-10-08,12.00,USD,
"""
BANK = b"""id,account,date,amount,currency,reference
s1,A,2026-10-02,100.00,USD,inv1
s2,A,2026-10-06,4985.00,USD,
s3,A,2026-10-13,-39.50,USD,
s4,A,2026-10-13,-0.50,USD,FEE
s5,A,2026-10-20,-35.00,USD,CHARGES
"""


@pytest.fixture
def run(store, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    return reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run


def open_break(store, record_id):
    with store.session() as session:
        return session.scalar(select(Break).where(Break.record_id == record_id, Break.status == "open"))


def proposed(store):
    with store.session() as session:
        return session.scalar(select(MatchGroup).where(MatchGroup.status == "proposed"))


def test_approving_a_proposed_match_confirms_it_with_a_decision_and_audit(store, run):
    group = proposed(store)
    approve_proposed(store, group.id, group.version, ANA)
    with store.session() as session:
        assert session.get(MatchGroup, group.id).status == "confirmed"
        decision = session.scalar(select(Decision).where(Decision.action == "approve_match"))
        assert (decision.made_by, decision.status, decision.target_id) == ("ana", "applied", str(group.id))
        audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "approve_match"))
        assert audit.before["status"] == "proposed" and audit.after["status"] == "confirmed"


def test_rejecting_a_proposed_match_reopens_its_records(store, run):
    group = proposed(store)
    reject_proposed(store, group.id, group.version, ANA, "not the same wire")
    assert open_break(store, "b2").reason == "rejected_proposal"
    assert open_break(store, "s2").amount == Decimal("4985.00")
    assert open_break(store, "b2").reference == "INV-9"


def test_resolving_below_the_threshold_applies_at_once(store, run):
    charge = open_break(store, "s5")
    outcome = resolve_break(store, charge.id, charge.version, "bank_fee", "monthly charges", ANA)
    assert outcome.status == "applied"
    with store.session() as session:
        row = session.get(Break, charge.id)
        assert (row.status, row.resolution, row.version, row.updated_by) == ("resolved", "bank_fee", 2, "ana")


def test_above_the_threshold_a_second_person_must_approve_and_never_the_maker(store, run):
    payment = open_break(store, "b3")
    outcome = resolve_break(store, payment.id, payment.version, "missing_at_bank", "cheque not presented", ANA)
    assert outcome.status == "pending"
    assert open_break(store, "b3").pending_decision_id == outcome.decision_id
    assert [(p.id, p.made_by, p.action) for p in pending_decisions(store)] == [(outcome.decision_id, "ana", "resolve")]
    with pytest.raises(ReviewError, match="needs the approver role"):
        decide_pending(store, outcome.decision_id, True, BEN)
    update_user(store, "ana", actor=ADM, role="approver")
    maker_who_approves = Account("ana", "Ana", "approver", ANA.user_id)
    with pytest.raises(ReviewError, match="their own decision"):
        decide_pending(store, outcome.decision_id, True, maker_who_approves)
    decide_pending(store, outcome.decision_id, True, PAT)
    with store.session() as session:
        row = session.get(Break, payment.id)
        assert (row.status, row.resolution, row.pending_decision_id) == ("resolved", "missing_at_bank", None)
    assert pending_decisions(store) == []
    with pytest.raises(ConflictError, match="already been decided"):
        decide_pending(store, outcome.decision_id, False, ADA)


def test_resolving_several_breaks_at_once_weighs_each_against_the_threshold(store, run):
    charge, interest, payment = open_break(store, "s5"), open_break(store, "b5"), open_break(store, "b3")
    seen = {charge.id: charge.version, interest.id: interest.version, payment.id: payment.version}
    outcomes = resolve_breaks(store, seen, "timing", "October", ANA)
    assert [o.status for o in outcomes] == ["pending" if i == payment.id else "applied" for i in sorted(seen)]
    with store.session() as session:
        rows = {i: session.get(Break, i) for i in seen}
        decisions = session.scalars(select(Decision).where(Decision.action == "resolve")).all()
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action.in_(["resolve", "resolve_requested"]))).all()
    assert (rows[charge.id].status, rows[interest.id].status) == ("resolved", "resolved")
    assert (rows[payment.id].status, rows[payment.id].pending_decision_id) == ("open", outcomes[sorted(seen).index(payment.id)].decision_id)
    assert sorted(int(d.target_id) for d in decisions) == sorted(seen) and {d.made_by for d in decisions} == {"ana"}
    assert sorted(int(a.entity_id) for a in audit) == sorted(seen)
    assert [p.action for p in pending_decisions(store)] == ["resolve"]


def test_resolving_several_breaks_with_one_changed_meanwhile_resolves_none(store, run):
    charge, interest = open_break(store, "s5"), open_break(store, "b5")
    resolve_break(store, charge.id, charge.version, "bank_fee", "", BEN)
    with pytest.raises(ConflictError, match=rf"break {charge.id} was changed by ben"):
        resolve_breaks(store, {charge.id: charge.version, interest.id: interest.version}, "timing", "", ANA)
    with pytest.raises(ReviewError, match="needs a comment"):
        resolve_breaks(store, {interest.id: interest.version}, "other", " ", ANA)
    assert open_break(store, "b5").version == interest.version
    assert _count(store, Decision) == 1 and resolve_breaks(store, {}, "timing", "", ANA) == []


def test_net_difference_is_statement_less_books_or_the_plain_sum_when_all_are_on_one_side(store, run):
    fee, charge, payment = open_break(store, "s4"), open_break(store, "s5"), open_break(store, "b4")
    assert net_difference([fee, charge, payment]) == Decimal("-35.50") - Decimal("-40.00")
    assert net_difference([fee, charge]) == Decimal("-35.50")
    assert net_difference([payment]) == Decimal("-40.00") and net_difference([]) == Decimal(0)


def test_a_refused_decision_leaves_the_break_open(store, run):
    payment = open_break(store, "b3")
    outcome = resolve_break(store, payment.id, payment.version, "timing", "", ANA)
    decide_pending(store, outcome.decision_id, False, PAT, "send the evidence")
    row = open_break(store, "b3")
    assert row is not None and row.pending_decision_id is None and row.status == "open"


def test_manual_match_within_tolerance_and_with_a_reason_when_not(store, run):
    b4, s3, s4 = open_break(store, "b4"), open_break(store, "s3"), open_break(store, "s4")
    manual_match(store, [b4.id, s3.id, s4.id], {b4.id: b4.version, s3.id: s3.version, s4.id: s4.version}, ANA)
    with store.session() as session:
        group = session.scalar(select(MatchGroup).where(MatchGroup.rule == "manual"))
        assert (group.status, group.amount_diff) == ("confirmed", Decimal("0.00"))
        assert session.get(Break, b4.id).status == "matched"
    b5, s5 = open_break(store, "b5"), open_break(store, "s5")
    with pytest.raises(ReviewError, match="differ by -47.00; give a reason code"):
        manual_match(store, [b5.id, s5.id], {b5.id: b5.version, s5.id: s5.version}, ANA)
    manual_match(store, [b5.id, s5.id], {b5.id: b5.version, s5.id: s5.version}, ANA, reason_code="other", comment="write-off agreed")


def test_unmatching_a_confirmed_engine_group_reopens_its_records(store, run):
    unmatch_group(store, run.id, 1, ANA, "wrong invoice", version=1)
    assert open_break(store, "b1").reason == "unmatched_by_user"
    assert open_break(store, "s1").reference == "inv1"
    with pytest.raises(ReviewError, match="not confirmed"):
        unmatch_group(store, run.id, 1, ANA, version=2)


def test_two_people_at_once_the_second_is_told_who_changed_it_and_nothing_doubles(store, run):
    seen_by_ana = open_break(store, "s5")
    seen_by_ben = open_break(store, "s5")
    resolve_break(store, seen_by_ben.id, seen_by_ben.version, "bank_fee", "", BEN)
    with pytest.raises(ConflictError, match=r"changed by ben at \d{4}-\d\d-\d\d"):
        resolve_break(store, seen_by_ana.id, seen_by_ana.version, "other", "mine", ANA)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Decision).where(Decision.action == "resolve")) == 1
        assert session.get(Break, seen_by_ana.id).resolution == "bank_fee"


def test_unmatching_names_the_version_seen_and_a_stale_one_is_a_conflict(store, run):
    with pytest.raises(ConflictError, match="version 1, not 2"):
        unmatch_group(store, run.id, 1, ANA, version=2)
    unmatch_group(store, run.id, 1, BEN, version=1)
    with pytest.raises(ConflictError, match=r"changed by ben at \d{4}-"):
        unmatch_group(store, run.id, 1, ANA, version=1)
    assert _count(store, Break, Break.reason == "unmatched_by_user") == 2


def _unmatch_in_a_process(url, data_dir, run_id, person, start, results) -> None:
    store = open_store(url, data_dir)
    try:
        start.wait()
        unmatch_group(store, run_id, 1, Account(*person), version=1)
        results.put("unmatched")
    except ConflictError:
        results.put("conflict")
    except Exception as exc:  # anything else is the failure this test is about
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        store.engine.dispose()


def test_two_processes_unmatching_one_group_one_wins_and_the_other_is_told(store, run):
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    url = store.engine.url.render_as_string(hide_password=False)
    workers = [context.Process(target=_unmatch_in_a_process, args=(url, str(store.data_dir), run.id, tuple(person), start, results))
               for person in (ANA, BEN)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert sorted(results.get(timeout=5) for _ in workers) == ["conflict", "unmatched"]
    assert _count(store, Decision, Decision.action == "unmatch") == 1
    assert _count(store, Break, Break.reason == "unmatched_by_user") == 2
    assert verify_audit_chain(store).intact


def test_a_forged_disabled_or_re_roled_account_decides_nothing(store, run):
    payment, charge = open_break(store, "b3"), open_break(store, "s5")
    outcome = resolve_break(store, payment.id, payment.version, "timing", "", ANA)
    forged = [Account("pat", "Pat", "approver"), Account("pat", "Pat", "approver", ANA.user_id),
              Account("Pat", "Pat", "approver", PAT.user_id), Account("pat ", "Pat", "approver", PAT.user_id),
              Account("boss", "Boss", "approver", 999)]
    for account in forged:
        with pytest.raises(ReviewError, match="not known to the store"):
            decide_pending(store, outcome.decision_id, True, account)
    with pytest.raises(ReviewError, match="not known to the store"):
        decide_pending(store, outcome.decision_id, True, Account("Ana", "Ana", "approver", ANA.user_id))
    update_user(store, "ben", actor=ADM, role="viewer")
    with pytest.raises(ReviewError, match=r"ben \(viewer\) may not do this; it needs the analyst role"):
        resolve_break(store, charge.id, charge.version, "bank_fee", "", BEN)
    update_user(store, "ada", actor=ADM, active=False)
    with pytest.raises(ReviewError, match="ada is disabled"):
        decide_pending(store, outcome.decision_id, True, ADA)
    assert [p.id for p in pending_decisions(store)] == [outcome.decision_id]
    assert open_break(store, "s5").version == charge.version
    decide_pending(store, outcome.decision_id, True, PAT)
    with store.session() as session:
        assert session.scalar(select(Decision.made_by_id).where(Decision.parent_id == outcome.decision_id)) == PAT.user_id


def test_a_proposed_match_above_the_threshold_waits_for_an_approver_who_is_not_its_maker(store, run, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "1000.00")
    group = proposed(store)
    outcome = approve_proposed(store, group.id, group.version, PAT)
    assert outcome.status == "pending"
    with store.session() as session:
        row = session.get(MatchGroup, group.id)
        assert (row.status, row.pending_decision_id, row.version) == ("proposed", outcome.decision_id, group.version + 1)
    assert [(p.id, p.action, p.amount, p.made_by_id) for p in pending_decisions(store)] == [
        (outcome.decision_id, "approve_match", Decimal("5000.00"), PAT.user_id)]
    with pytest.raises(ReviewError, match="waits for an approver"):
        reject_proposed(store, group.id, group.version + 1, ANA)
    with pytest.raises(ReviewError, match="their own decision"):
        decide_pending(store, outcome.decision_id, True, PAT)
    decide_pending(store, outcome.decision_id, True, ADA)
    with store.session() as session:
        row = session.get(MatchGroup, group.id)
        assert (row.status, row.pending_decision_id) == ("confirmed", None)
    assert pending_decisions(store) == []


def test_a_viewer_cannot_decide(store, run):
    charge = open_break(store, "s5")
    with pytest.raises(ReviewError, match="needs the analyst role"):
        resolve_break(store, charge.id, charge.version, "bank_fee", "", VIC)


# A queue of proposals: each wire arrives 1.50 short (a fee), which the default rules only propose.
QUEUE_SIZE = 30
QUEUE_BOOKS = "id,account,date,amount,currency,reference,description\n" + "".join(
    f"b{n},A,2026-10-{1 + n % 20:02d},{1000 + 100 * n}.00,USD,WIRE-{n},book {n}\n" for n in range(QUEUE_SIZE))
QUEUE_BANK = "id,account,date,amount,currency,reference,description\n" + "".join(
    f"s{n},A,2026-10-{1 + n % 20:02d},{1000 + 100 * n - 2}.50,USD,,bank {n}\n" for n in range(QUEUE_SIZE))


@pytest.fixture
def queue(store, monkeypatch):
    """The proposed groups of a run (id -> version), with the store read in small chunks."""
    monkeypatch.setattr(_shared, "IDS_PER_QUERY", 7)
    books, _ = import_bytes(store, QUEUE_BOOKS.encode(), "queue_books.csv")
    bank, _ = import_bytes(store, QUEUE_BANK.encode(), "queue_bank.csv")
    reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "")
    with store.session() as session:
        found = dict(session.execute(select(MatchGroup.id, MatchGroup.version).where(MatchGroup.status == "proposed")).all())
    assert len(found) == QUEUE_SIZE
    return found


def _count(store, model, *where):
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_whole_queue_is_approved_at_once_with_a_decision_and_audit_entry_each(store, queue):
    outcomes = approve_proposed_many(store, queue, ANA)
    assert len({o.decision_id for o in outcomes}) == QUEUE_SIZE and {o.status for o in outcomes} == {"applied"}
    with store.session() as session:
        groups = session.scalars(select(MatchGroup).where(MatchGroup.id.in_(queue))).all()
        assert {(g.status, g.version, g.updated_by) for g in groups} == {("confirmed", 2, "ana")}
        decisions = {d.id: d for d in session.scalars(select(Decision).where(Decision.action == "approve_match"))}
        assert {decisions[o.decision_id].target_id for o in outcomes} == {str(g) for g in queue}
        # The amount the threshold measures: the larger side, here the books' wire (the bank's is 1.50 short).
        assert sorted(decisions[o.decision_id].amount for o in outcomes) == [Decimal(1000 + 100 * n) for n in range(QUEUE_SIZE)]
        assert {abs(g.amount_diff) for g in groups} == {Decimal("1.50")}
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "approve_match")).all()
    assert sorted(int(a.entity_id) for a in audit) == sorted(queue)
    assert all(a.after["decision_id"] in decisions and a.before == {"status": "proposed", "version": 1} for a in audit)


def test_a_queue_with_one_stale_group_is_refused_whole(store, queue):
    first = min(queue)
    approve_proposed(store, first, queue[first], BEN)
    with pytest.raises(ConflictError, match=rf"match {first} was changed by ben"):
        approve_proposed_many(store, queue, ANA)
    with pytest.raises(ReviewError, match="not a proposed match"):
        reject_proposed_many(store, {first: queue[first] + 1} | {g: v for g, v in queue.items() if g != first}, ANA)
    assert _count(store, MatchGroup, MatchGroup.status == "proposed") == QUEUE_SIZE - 1
    assert _count(store, Decision) == 1 and _count(store, Break, Break.reason == "rejected_proposal") == 0


def test_a_whole_queue_is_rejected_at_once_and_every_record_is_open_again(store, queue):
    outcomes = reject_proposed_many(store, queue, ANA, "fees are booked separately")
    assert len(outcomes) == QUEUE_SIZE
    with store.session() as session:
        reopened = session.scalars(select(Break).where(Break.reason == "rejected_proposal").order_by(Break.id)).all()
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "reject_match")).all()
        comments = set(session.scalars(select(Decision.comment).where(Decision.action == "reject_match")))
    assert len(reopened) == 2 * QUEUE_SIZE and comments == {"fees are booked separately"}
    by_record = {r.record_id: r for r in reopened}
    assert (by_record["b7"].reference, by_record["b7"].description, by_record["b7"].amount) == ("WIRE-7", "book 7", Decimal("1700.00"))
    assert (by_record["s7"].description, by_record["s7"].amount, by_record["s7"].status) == ("bank 7", Decimal("1698.50"), "open")
    listed = sorted(b for a in audit for b in a.after["reopened_breaks"])
    assert listed == sorted(r.id for r in reopened)
    assert all(len(a.after["reopened_breaks"]) == 2 for a in audit)


def test_in_a_queue_the_groups_above_the_threshold_wait_and_a_refused_one_is_proposed_again(store, queue, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "2500.00")
    outcomes = approve_proposed_many(store, queue, ANA)
    with store.session() as session:
        amounts = {o.decision_id: session.get(Decision, o.decision_id).amount for o in outcomes}
    assert all((o.status == "pending") == (amounts[o.decision_id] > Decimal("2500.00")) for o in outcomes)
    assert sum(o.status == "pending" for o in outcomes) == sum(1000 + 100 * n > 2500 for n in range(QUEUE_SIZE))
    waiting = [o.decision_id for o in outcomes if o.status == "pending"]
    assert sorted(p.id for p in pending_decisions(store)) == sorted(waiting)
    decide_pending(store, waiting[0], False, PAT, "show the wire")
    with store.session() as session:
        refused = session.get(MatchGroup, int(session.get(Decision, waiting[0]).target_id))
    assert (refused.status, refused.pending_decision_id, refused.version) == ("proposed", None, 3)
    assert _count(store, MatchGroup, MatchGroup.status == "confirmed") == QUEUE_SIZE - len(waiting)
    assert verify_audit_chain(store).intact, "decisions and audit entries written in bulk are chained too"


def test_a_waiting_approval_cannot_confirm_records_cleared_in_another_run_since(store, run, monkeypatch, write_file):
    from core.runs.reconcile import reconcile_files

    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "1000.00")
    group = proposed(store)
    waiting = approve_proposed(store, group.id, group.version, PAT)
    assert waiting.status == "pending"
    # The command line matches the same two files again, a run of its own, and proposes the same records.
    again, errors = reconcile_files(store, write_file("books.csv", BOOKS), write_file("bank.csv", BANK), load_rules(), "")
    assert errors == []
    with store.session() as session:
        twin = session.scalar(select(MatchGroup).where(MatchGroup.run_id == again.run.id, MatchGroup.status == "proposed"))
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    assert approve_proposed(store, twin.id, twin.version, ANA).status == "applied"
    with pytest.raises(ReviewError, match=rf"record s2 was cleared in run {again.run.id} since decision {waiting.decision_id} was made"):
        decide_pending(store, waiting.decision_id, True, ADA)
    with store.session() as session:
        assert session.get(MatchGroup, group.id).status == "proposed", "nothing is confirmed twice"
    decide_pending(store, waiting.decision_id, False, ADA, "matched in the other run")
    assert pending_decisions(store) == []


def test_waiting_decisions_name_the_account_and_currency_of_their_records(store, run, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "1000.00")
    payment = open_break(store, "b3")
    resolution = resolve_break(store, payment.id, payment.version, "timing", "", ANA)
    group = proposed(store)
    match = approve_proposed(store, group.id, group.version, BEN)
    assert [(p.id, p.account, p.currency, p.amount) for p in pending_decisions(store)] == [
        (resolution.decision_id, "A", "USD", Decimal("20000.00")), (match.decision_id, "A", "USD", Decimal("5000.00"))]
