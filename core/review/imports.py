"""Importing a bank statement that does not add up, on a second person's word (maker-checker).

A statement whose balances do not add up is refused on import. From the Sources page an
analyst may ask for it to be imported anyway with the difference recorded: the request waits,
``pending``, for someone with the approver role other than the maker, and the file's bytes
are kept meanwhile in ``data_dir/pending_imports/<sha256>``. An approval re-reads the kept
file and imports it only when its hash and its differences are still those the maker asked
about; the verdict lands in the dataset's own transaction, so the two stand or fall together.
A refusal deletes the kept file.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.atomic import write_atomically
from core.auth import Account
from core.ingest.datasets import content_sha256, existing_dataset, import_bytes, unbalanced_differences
from core.ingest.profiles import Profile
from core.review._shared import ConflictError, Outcome, ReviewError, _deciding, _made_by, _record_decision, _user_as_stored
from core.store import Store, lost_to_another_writer, record_audit
from core.store.models import Decision, User

__all__ = ["PENDING_IMPORTS", "decide_unbalanced_import", "request_unbalanced_import", "waiting_import_request"]

ACTION = "import_unbalanced"
PENDING_IMPORTS = "pending_imports"  # the folder, under the data folder, that keeps the files waiting


def _kept_file(store: Store, digest: str) -> Path:
    return store.data_dir / PENDING_IMPORTS / digest


def _profile_name(profile: str | Profile | None) -> str | None:
    if isinstance(profile, Profile):
        return None if profile.name == "auto" else profile.name
    return profile


def _waiting(session, digest: str) -> int | None:
    decided = select(Decision.parent_id).where(Decision.parent_id.is_not(None))
    return session.scalar(select(Decision.id).where(Decision.action == ACTION, Decision.target_id == digest,
                                                    Decision.status == "pending", Decision.id.not_in(decided)).limit(1))


def waiting_import_request(store: Store, data: bytes) -> int | None:
    """The pending request to import these exact bytes with their difference recorded, if any."""
    with store.session() as session:
        return _waiting(session, content_sha256(data))


def request_unbalanced_import(store: Store, actor: Account, data: bytes, name: str, profile: str | Profile | None = None,
                              comment: str = "") -> Outcome:
    """Ask an approver to import a file that does not add up, with its differences recorded.

    Args:
        actor: the analyst asking; nobody may approve their own request.
        profile: as for :func:`core.ingest.datasets.import_bytes`; kept by name for the approval.
        comment: why the file should be imported as it is; required.

    Raises:
        ``ReviewError`` when there is no comment, the file is already imported or already waits,
        or it adds up, or it is refused for another reason as well (which must be fixed first).
    """
    comment = comment.strip()
    if not comment:
        raise ReviewError("say why the file should be imported with the difference recorded: a comment is required")
    already = existing_dataset(store, data)
    if already is not None:
        raise ReviewError(f"{name} is already imported as dataset {already.name!r}")
    differences = unbalanced_differences(store, data, name, profile)
    if not differences:
        raise ReviewError(f"{name} has no balance difference to record: it adds up, or it is refused for another reason "
                          "that must be fixed first")
    digest = content_sha256(data)
    kept = _kept_file(store, digest)
    kept.parent.mkdir(parents=True, exist_ok=True)
    with write_atomically(kept, "wb") as handle:
        handle.write(data)
    try:
        with _deciding(store) as session:
            by = _user_as_stored(session, actor, "analyst")
            waiting = _waiting(session, digest)
            if waiting is not None:
                raise ReviewError(f"a request to import {name} waits for an approver already (decision {waiting})")
            payload = {"name": name, "differences": differences, "profile": _profile_name(profile)}
            decision = _record_decision(session, by, ACTION, "file", digest, run_id=None, status="pending", comment=comment,
                                        payload=payload)
            record_audit(session, by.username, "request_import_unbalanced", "file", digest, None,
                         payload | {"decision_id": decision.id})
    except BaseException:
        if waiting_import_request(store, data) is None:  # the same bytes waiting under another request stay kept
            kept.unlink(missing_ok=True)
        raise
    return Outcome(decision.id, "pending")


def _decidable(session, decision_id: int, actor: Account) -> tuple[User, Decision]:
    """The approver and the request, checked in the caller's transaction: still waiting, not theirs."""
    by = _user_as_stored(session, actor, "approver")
    pending = session.get(Decision, decision_id)
    if pending is None or pending.status != "pending" or pending.action != ACTION:
        raise ReviewError(f"decision {decision_id} is not a request to import a file waiting for approval")
    if session.scalar(select(Decision.id).where(Decision.parent_id == decision_id)):
        raise ConflictError(f"decision {decision_id} has already been decided")
    if _made_by(pending, by):
        raise ReviewError("nobody may approve their own decision; another approver must decide")
    return by, pending


def _audit_verdict(session, by: User, pending: Decision, verdict: Decision, **after) -> None:
    record_audit(session, by.username, "approve" if verdict.status == "approved" else "refuse", "decision", str(pending.id),
                 {"status": "pending", "action": pending.action, "made_by": pending.made_by},
                 {"status": verdict.status, "decision_id": verdict.id} | after)


def decide_unbalanced_import(store: Store, decision_id: int, approve: bool, actor: Account, comment: str = "") -> Outcome:
    """Approve (import the kept file, flagged) or refuse a request to import a file that does not add up.

    An approval is refused (``ReviewError``) when the kept file is gone or changed, when the
    file's differences are no longer those asked about (another statement imported since), or
    when it cannot be imported now: refusing the request is then the way out.
    """
    if not approve:
        with _deciding(store) as session:
            by, pending = _decidable(session, decision_id, actor)
            verdict = _record_decision(session, by, "refuse", "file", pending.target_id, run_id=None, status="refused",
                                       comment=comment, parent_id=pending.id)
            _audit_verdict(session, by, pending, verdict)
        _kept_file(store, pending.target_id).unlink(missing_ok=True)
        return Outcome(verdict.id, verdict.status)
    with store.session() as session:
        _, pending = _decidable(session, decision_id, actor)
    payload = pending.payload or {}
    kept = _kept_file(store, pending.target_id)
    try:
        data = kept.read_bytes()
    except OSError:
        raise ReviewError(f"the file kept for decision {decision_id} is gone; refuse the request and ask again") from None
    if content_sha256(data) != pending.target_id:
        raise ReviewError(f"the file kept for decision {decision_id} changed since it was asked for; refuse the request and ask again")
    already = existing_dataset(store, data)
    if already is not None:
        raise ReviewError(f"{payload['name']} was imported meanwhile as dataset {already.name!r}; refuse the request")
    differences = unbalanced_differences(store, data, payload["name"], payload["profile"])
    if differences != payload["differences"]:
        now = "; ".join(differences) or "it adds up, or is refused for another reason"
        raise ReviewError(f"the differences of {payload['name']} are no longer those asked about (now: {now}); "
                          "refuse the request and ask again")
    verdicts: list[Decision] = []

    def record_verdict(session, dataset) -> None:
        by, current = _decidable(session, decision_id, actor)
        verdict = _record_decision(session, by, "approve", "file", current.target_id, run_id=None, status="approved",
                                   comment=comment, parent_id=current.id)
        _audit_verdict(session, by, current, verdict, dataset=dataset.id)
        verdicts.append(verdict)

    try:
        outcome, errors = import_bytes(store, data, payload["name"], payload["profile"], user=pending.made_by, accept_unbalanced=True,
                                       approval=record_verdict)
    except IntegrityError:
        raise ConflictError(f"someone else decided on decision {decision_id} at the same moment; reload and decide again") from None
    except DBAPIError as exc:
        if lost_to_another_writer(exc):
            raise ConflictError(f"someone else was deciding on decision {decision_id}; reload and decide again") from None
        raise
    if errors:
        raise ReviewError(f"{payload['name']} cannot be imported now ({errors[0].message}); refuse the request")
    if not verdicts:
        raise ConflictError(f"{payload['name']} was imported meanwhile as dataset {outcome.dataset.name!r}; refuse the request")
    kept.unlink(missing_ok=True)
    return Outcome(verdicts[0].id, verdicts[0].status)
