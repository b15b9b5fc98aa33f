"""Retiring a dataset: taken out of use, no longer read by runs; its file and rows stay.

Only a dataset no run has read may be retired (a run keeps the datasets it read); the audit log
says who retired it and why, in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select

from core.store import Store, record_audit
from core.store.models import DatasetRecord, DatasetRetirement, Run

__all__ = ["DatasetRetireError", "retire_dataset"]


class DatasetRetireError(ValueError):
    """A dataset that may not be retired; the message says why."""


def retire_dataset(store: Store, dataset_id: str, user: str, reason: str = "") -> DatasetRetirement:
    """Take a dataset out of use; refused while any run has read it, or when it is retired already.

    Raises:
        DatasetRetireError: the dataset is unknown, retired already, or read by a run (named).
    """
    with store.session(serialised=True) as session:
        record = session.get(DatasetRecord, dataset_id)
        if record is None:
            raise DatasetRetireError(f"no dataset {dataset_id[:12]!r}")
        gone = session.get(DatasetRetirement, dataset_id)
        if gone is not None:
            raise DatasetRetireError(f"{record.name} was retired already, by {gone.retired_by} on {gone.retired_at:%Y-%m-%d %H:%M}")
        runs = sorted(session.scalars(select(Run.id).where(or_(Run.internal_dataset_id == dataset_id,
                                                                 Run.external_dataset_id == dataset_id))))
        if runs:
            named = ", ".join(map(str, runs[:10])) + (f" and {len(runs) - 10} more" if len(runs) > 10 else "")
            raise DatasetRetireError(f"{record.name} cannot be retired: run{'s' if len(runs) > 1 else ''} {named} "
                                     f"read{'' if len(runs) > 1 else 's'} it, and a run keeps the datasets it read")
        retirement = DatasetRetirement(dataset_id=dataset_id, reason=reason.strip(), retired_by=user,
                                       retired_at=dt.datetime.now(dt.UTC))
        session.add(retirement)
        record_audit(session, user, "retire_dataset", "dataset", dataset_id, None, {"name": record.name, "reason": reason.strip()})
    return retirement
