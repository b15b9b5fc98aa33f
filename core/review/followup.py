"""Ownership and follow-up of a break: who works it, by when, and the thread of comments on it.

Kept on the break by its id, never by a grid position. An assignment names a user the store
knows, active and allowed to work breaks (the analyst role or above), and may carry a due
date; assigning to nobody frees the break. Every assignment and every comment is an entry in
the audit log, written in the same transaction.

Analysts assign and comment; viewers read. Like every decision, neither is taken on a break of
a locked period (a signed-off bank reconciliation covers it, ``PeriodLockedError``): the
period's record is closed, and a note added after sign-off would not be part of what was
signed. An assignment also needs the break open; a comment may be written on a break of any
status (explaining a resolution after the fact).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from core.auth import ROLES, Account, canonical_username
from core.review._shared import ReviewError, _deciding, _now, _refuse_if_locked, _user_as_stored
from core.store import Store, record_audit
from core.store.models import Break, BreakComment, BreakFollowUp, User

__all__ = ["MAX_COMMENT_LENGTH", "assign_break", "comment_on_break"]

MAX_COMMENT_LENGTH = 4000


def assign_break(store: Store, break_id: int, assignee: str | None, due_on: dt.date | None, actor: Account) -> None:
    """Give a break to a person (by username) with an optional due date, or free it (``assignee`` ``None`` or blank).

    Raises:
        ReviewError: no such break, the break is not open, an unknown or disabled user, a user
            who may not work breaks (a viewer), a due date without an assignee; nothing is changed.
        PeriodLockedError: the break is in a locked period.
    """
    name = canonical_username(assignee or "")
    if not name and due_on is not None:
        raise ReviewError("a due date needs someone to assign the break to")
    with _deciding(store) as session:
        by = _user_as_stored(session, actor, "analyst")
        row = _the_break(session, break_id)
        if row.status != "open":
            raise ReviewError(f"break {break_id} is {row.status}, not open: only open breaks are assigned")
        _refuse_if_locked(session, [row])
        user = None
        if name:
            user = session.scalar(select(User).where(User.username == name))
            if user is None:
                raise ReviewError(f"no user {assignee!r}: assign the break to a user of the workbench")
            if not user.active:
                raise ReviewError(f"{user.username} is disabled and cannot be assigned a break")
            if ROLES.index(user.role) < ROLES.index("analyst"):
                raise ReviewError(f"{user.username} is a {user.role} and cannot work breaks; assign it to an analyst or above")
        current = session.get(BreakFollowUp, break_id)
        before = _state(session, current)
        if current is None:
            current = BreakFollowUp(break_id=break_id, assigned_by=by.username)
            session.add(current)
        current.assignee_id = user.id if user else None
        current.due_on = due_on if user else None
        current.assigned_by = by.username
        current.assigned_at = _now()
        session.flush()
        record_audit(session, by.username, "assign" if user else "unassign", "break", str(break_id), before, _state(session, current))


def comment_on_break(store: Store, break_id: int, text: str, actor: Account) -> int:
    """Add a comment to a break's thread.

    Returns:
        The comment's id.

    Raises:
        ReviewError: no such break, an empty comment or one over ``MAX_COMMENT_LENGTH`` characters.
        PeriodLockedError: the break is in a locked period.
    """
    text = text.strip()
    if not text:
        raise ReviewError("a comment needs some text")
    if len(text) > MAX_COMMENT_LENGTH:
        raise ReviewError(f"a comment holds at most {MAX_COMMENT_LENGTH:,} characters; this one has {len(text):,}")
    with _deciding(store) as session:
        by = _user_as_stored(session, actor, "analyst")
        row = _the_break(session, break_id)
        _refuse_if_locked(session, [row])
        comment = BreakComment(break_id=break_id, author=by.username, author_id=by.id, text=text, written_at=_now())
        session.add(comment)
        session.flush()
        record_audit(session, by.username, "comment", "break", str(break_id), None, {"comment_id": comment.id, "text": text})
        return comment.id


def _the_break(session, break_id: int) -> Break:
    row = session.get(Break, int(break_id))
    if row is None:
        raise ReviewError(f"no break {break_id}")
    return row


def _state(session, follow_up: BreakFollowUp | None) -> dict | None:
    if follow_up is None or follow_up.assignee_id is None:
        return None if follow_up is None else {"assignee": None, "due_on": None}
    assignee = session.get(User, follow_up.assignee_id)
    return {"assignee": assignee.username if assignee else None, "due_on": follow_up.due_on.isoformat() if follow_up.due_on else None}
