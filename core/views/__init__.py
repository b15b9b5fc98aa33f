"""Read models: what the pages show, as tables ready to render.

The breaks grid (:mod:`.breaks`), proposed and confirmed matches (:mod:`.matches`), runs and
their figures (:mod:`.runs`), the audit log (:mod:`.audit`), the archive of cleared items
(:mod:`.history`), the workbench overview (:mod:`.overview`) and rows picked in a grid
(:mod:`.selection`). Nothing here changes the store; amounts stay exact ``Decimal``.
"""

from core.views.audit import audit_frame
from core.views.breaks import (AGE_BUCKETS, BreakFilters, account_choices, aging_summary, breaks_stamp, filter_breaks, load_breaks,
                               money_per_currency)
from core.views.history import CLEARED_AS, HistoryPage, history_page
from core.views.matches import confirmed_groups, filter_proposals, proposed_frame
from core.views.overview import AccountBreaks, Overview, workbench_overview
from core.views.runs import dataset_accounts, recent_runs, run_account_summary
from core.views.selection import picked_records, reconcile_selection

__all__ = ["AGE_BUCKETS", "AccountBreaks", "BreakFilters", "CLEARED_AS", "HistoryPage", "Overview", "account_choices", "aging_summary",
           "audit_frame", "breaks_stamp", "confirmed_groups", "dataset_accounts", "filter_breaks", "filter_proposals", "history_page",
           "load_breaks", "money_per_currency", "picked_records", "proposed_frame", "recent_runs", "reconcile_selection",
           "run_account_summary", "workbench_overview"]
