"""Follow-up of breaks as the pages show it: who works each break and by when, overdue marks,
"my breaks", a break's comment thread, and each user's saved filter views of the breaks grid.

Assignments and comments are written by :mod:`core.review.followup`; a saved view is a user's
own setting, not a decision, so it is kept here with the other reads of the grid.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import pandas as pd
from sqlalchemy import func, select

from core.auth import Account, canonical_username
from core.store import Store
from core.store.models import Break, BreakComment, BreakFollowUp, SavedBreakView, User

__all__ = ["Comment", "SavedViewError", "VIEW_FILTERS", "assignable_users", "break_thread", "delete_break_view", "mine",
           "save_break_view", "saved_break_views", "with_follow_up"]

# The settings a saved view keeps: the breaks grid's filters, and "my breaks".
VIEW_FILTERS = ("accounts", "sides", "ages", "statuses", "reasons", "amount_min", "amount_max", "mine")


class SavedViewError(ValueError):
    """A view that cannot be saved; the message says why."""


def with_follow_up(store: Store, frame: pd.DataFrame, today: dt.date | None = None) -> pd.DataFrame:
    """The breaks frame with who works each break (``assignee``, a username or blank), its due
    date (``due_on``), whether it is overdue (open past its due date) and how many comments it has.

    Also ``marks``: what a person should see first on each row, as a short text: waiting for an
    approver, overdue.
    """
    today = today or dt.date.today()
    frame = frame.copy()
    ids = [int(i) for i in frame["id"]] if len(frame) else []
    assigned: dict[int, tuple[str, dt.date | None]] = {}
    comments: dict[int, int] = {}
    if ids:
        # Read by run, not by a list of ids: one query whatever the number of breaks shown.
        runs = sorted({int(r) for r in frame["run_id"]})
        with store.session() as session:
            for break_id, username, due_on in session.execute(
                    select(BreakFollowUp.break_id, User.username, BreakFollowUp.due_on).join(User, User.id == BreakFollowUp.assignee_id)
                    .join(Break, Break.id == BreakFollowUp.break_id).where(Break.run_id.in_(runs))).all():
                assigned[break_id] = (username, due_on)
            comments = dict(session.execute(select(BreakComment.break_id, func.count(BreakComment.id))
                                            .join(Break, Break.id == BreakComment.break_id).where(Break.run_id.in_(runs))
                                            .group_by(BreakComment.break_id)).all())
    frame["assignee"] = [assigned.get(i, ("", None))[0] for i in ids]
    frame["due_on"] = [assigned.get(i, ("", None))[1] for i in ids]
    frame["overdue"] = [bool(due is not None and due < today and status == "open")
                        for due, status in zip(frame["due_on"], frame["status"] if len(frame) else [])]
    frame["comments"] = [comments.get(i, 0) for i in ids]
    frame["marks"] = [" ".join(m for m in (f"⏳ waits for approval (decision {int(p)})" if pd.notna(p) else "",
                                           "⚠ overdue" if late else "") if m)
                      for p, late in zip(frame["pending_decision_id"] if len(frame) else [], frame["overdue"])]
    return frame


def mine(frame: pd.DataFrame, account: Account | None) -> pd.DataFrame:
    """The breaks of a frame (from :func:`with_follow_up`) assigned to this person."""
    if account is None or frame.empty:
        return frame.head(0)
    return frame[frame["assignee"] == canonical_username(account.username)].reset_index(drop=True)


class Comment(NamedTuple):
    id: int
    author: str
    text: str
    written_at: dt.datetime


def break_thread(store: Store, break_id: int) -> list[Comment]:
    """A break's comments, oldest first."""
    with store.session() as session:
        return [Comment(c.id, c.author, c.text, c.written_at) for c in session.scalars(
            select(BreakComment).where(BreakComment.break_id == int(break_id)).order_by(BreakComment.written_at, BreakComment.id))]


def assignable_users(store: Store) -> list[str]:
    """The usernames a break can be given to: active users with the analyst role or above, by name."""
    with store.session() as session:
        users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all()
        return [u.username for u in users if u.role != "viewer"]


def save_break_view(store: Store, account: Account, name: str, filters: dict) -> None:
    """Keep the breaks grid's filters under a name of the user's own; the same name is replaced.

    Raises:
        SavedViewError: no name, a setting that is not a filter of the grid, or no signed-in user.
    """
    name = name.strip()
    if not name:
        raise SavedViewError("a saved view needs a name")
    if account is None or account.user_id is None:
        raise SavedViewError("sign in to save a view")
    unknown = sorted(set(filters) - set(VIEW_FILTERS))
    if unknown:
        raise SavedViewError(f"a view keeps only the grid's filters, not {', '.join(unknown)}")
    kept = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in filters.items()}
    with store.session() as session:
        current = session.scalar(select(SavedBreakView).where(SavedBreakView.user_id == account.user_id, SavedBreakView.name == name))
        if current is None:
            session.add(SavedBreakView(user_id=account.user_id, name=name, filters=kept))
        else:
            current.filters = kept
            current.saved_at = dt.datetime.now(dt.UTC)


def saved_break_views(store: Store, account: Account | None) -> dict[str, dict]:
    """The user's saved views: name -> filter settings, by name."""
    if account is None or account.user_id is None:
        return {}
    with store.session() as session:
        return {v.name: dict(v.filters) for v in session.scalars(
            select(SavedBreakView).where(SavedBreakView.user_id == account.user_id).order_by(SavedBreakView.name))}


def delete_break_view(store: Store, account: Account, name: str) -> bool:
    """Forget one of the user's saved views; whether there was one of that name."""
    with store.session() as session:
        current = session.scalar(select(SavedBreakView).where(SavedBreakView.user_id == account.user_id, SavedBreakView.name == name))
        if current is None:
            return False
        session.delete(current)
        return True
