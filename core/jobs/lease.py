"""The worker's lease: one row per store that says which worker may run the schedules.

A worker takes the lease when nobody holds it, when it holds it already, or when the holder
stopped renewing it (``expires_at`` passed): one UPDATE, or one INSERT for a store that never had
a worker, decides it, so two workers asking at once never both get it. The holder renews it
every few seconds and gives it up on a clean stop; a worker that dies simply stops renewing, and
the lease lapses after ``lease_seconds`` for the next worker to take.

Times are the workers' own UTC clocks: workers sharing a store keep their clocks in step (NTP),
to well within the lease's length.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.store import Store
from core.store.models import WorkerLease, utc_now

__all__ = ["SCHEDULER_LEASE", "current_lease", "release_lease", "renew_lease", "take_lease", "worker_alive", "worker_identity"]

SCHEDULER_LEASE = "scheduler"


def worker_identity() -> str:
    """``host:pid:start`` of this process: who holds the lease, and who ran a run."""
    return f"{socket.gethostname()}:{os.getpid()}:{utc_now():%Y%m%dT%H%M%S}"


def take_lease(store: Store, holder: str, *, seconds: float, name: str = SCHEDULER_LEASE) -> bool:
    """Take (or keep) the lease for ``seconds`` from now; False while another worker holds it.

    Args:
        holder: this worker's identity (:func:`worker_identity`).
        seconds: how long the lease lasts unless renewed.
    """
    now = utc_now()
    expires = now + dt.timedelta(seconds=seconds)
    with store.session() as session:
        taken = session.execute(
            update(WorkerLease)
            .where(WorkerLease.name == name, or_(WorkerLease.holder == holder, WorkerLease.expires_at < now))
            .values(holder=holder, acquired_at=now, renewed_at=now, expires_at=expires)
            .execution_options(synchronize_session=False))
        if taken.rowcount == 1:
            return True
        row = {"name": name, "holder": holder, "acquired_at": now, "renewed_at": now, "expires_at": expires}
        try:
            with session.begin_nested():
                session.execute(insert(WorkerLease).values(row))
        except IntegrityError:  # another worker inserted it first
            return False
        return True


def renew_lease(store: Store, holder: str, *, seconds: float, name: str = SCHEDULER_LEASE) -> bool:
    """Push the lease's expiry ``seconds`` from now; False when ``holder`` no longer holds it
    (another worker took it over): the caller stops scheduling at once."""
    now = utc_now()
    with store.session() as session:
        renewed = session.execute(
            update(WorkerLease)
            .where(WorkerLease.name == name, WorkerLease.holder == holder)
            .values(renewed_at=now, expires_at=now + dt.timedelta(seconds=seconds))
            .execution_options(synchronize_session=False))
        return renewed.rowcount == 1


def release_lease(store: Store, holder: str, *, name: str = SCHEDULER_LEASE) -> bool:
    """Give the lease up (a clean stop): it expires now, so the next worker need not wait for it
    to lapse, and the row still says who held it last."""
    with store.session() as session:
        released = session.execute(update(WorkerLease).where(WorkerLease.name == name, WorkerLease.holder == holder)
                                   .values(expires_at=utc_now()).execution_options(synchronize_session=False))
        return released.rowcount == 1


def current_lease(store: Store, *, name: str = SCHEDULER_LEASE) -> WorkerLease | None:
    """The lease row as it stands (its holder may have stopped: compare ``expires_at`` with now)."""
    with store.session() as session:
        return session.scalars(select(WorkerLease).where(WorkerLease.name == name)).first()


def worker_alive(store: Store, *, name: str = SCHEDULER_LEASE) -> bool:
    """Whether a worker holds the lease now: it builds queued exports, so others need not."""
    lease = current_lease(store, name=name)
    if lease is None:
        return False
    expires = lease.expires_at if lease.expires_at.tzinfo else lease.expires_at.replace(tzinfo=dt.UTC)
    return expires > utc_now()
