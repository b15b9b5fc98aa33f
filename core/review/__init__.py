"""Working the breaks: what people decide about matches and open items, with its controls.

Every decision is a row in the append-only ``decisions`` table and an entry in the audit log
with the state before and after, written in the same transaction as the change itself.

- **Proposed matches** (:mod:`.proposals`) are approved (the group becomes ``confirmed``) or
  rejected (its records become open breaks again).
- **Manual match** (:mod:`.breaks`): open breaks of one account and currency grouped by hand.
  The net difference must be within the tolerance, or the match needs a reason code.
- **Resolve** (:mod:`.breaks`): open breaks closed with a reason code and a comment, all of
  the selected ones or none.
- **Unmatch** (:mod:`.unmatch`): a confirmed group undone; its records become open breaks again.
- **Maker-checker** (:mod:`.decisions`): a manual match, unmatch, resolution or approval of a
  proposed match whose amount is over the approval threshold waits, ``pending``, for a second
  person with the approver role. The amount is the larger of the group's two side totals in
  absolute value (:func:`decision_amount`; one break's own amount for a resolution). Nobody
  approves their own decision, told apart by user id.
- **Importing a statement that does not add up** (:mod:`.imports`): an analyst's request
  waits for an approver; an approval imports the kept file with its differences recorded.
- **Who decides**: every decision re-reads the acting user from the store by id in its own
  transaction and uses the store's active flag and role, never the ones on the ``Account``.
- **Two people at once**: each break and group carries a version. A change names the version
  its author saw; if someone changed it since, the change is refused with who and when
  (``ConflictError``), and nothing is applied twice. Decisions run serialised (SQLite's write
  lock, PostgreSQL's row locks); a clash the database itself catches is a ``ConflictError``
  too, never a raw database error.
- **Locked periods**: a signed-off bank reconciliation (:mod:`core.banking.signoff`) locks its
  account up to its date; every decision on a record it covers is refused (``PeriodLockedError``).
"""

from core.review._shared import (REASON_CODES, ConflictError, Outcome, PeriodLockedError, ReviewError, approval_threshold,
                                 decision_amount)
from core.review.breaks import manual_match, net_difference, net_difference_per_currency, resolve_break, resolve_breaks
from core.review.decisions import PendingDecision, decide_pending, pending_decisions
from core.review.imports import decide_unbalanced_import, request_unbalanced_import, waiting_import_request
from core.review.proposals import approve_proposed, approve_proposed_many, reject_proposed, reject_proposed_many
from core.review.unmatch import unmatch_group

__all__ = [
    "REASON_CODES",
    "ConflictError",
    "Outcome",
    "PendingDecision",
    "PeriodLockedError",
    "ReviewError",
    "approval_threshold",
    "approve_proposed",
    "approve_proposed_many",
    "decide_pending",
    "decide_unbalanced_import",
    "decision_amount",
    "manual_match",
    "net_difference",
    "net_difference_per_currency",
    "pending_decisions",
    "reject_proposed",
    "reject_proposed_many",
    "request_unbalanced_import",
    "resolve_break",
    "resolve_breaks",
    "unmatch_group",
    "waiting_import_request",
]
