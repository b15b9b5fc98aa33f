"""The worker's lease: one holder per store, taken over only once it lapses."""

from __future__ import annotations

import datetime as dt
import time

from core.jobs.lease import current_lease, release_lease, renew_lease, take_lease


def test_a_second_worker_cannot_take_a_held_lease(store):
    assert take_lease(store, "host:1:a", seconds=30)
    assert not take_lease(store, "host:2:b", seconds=30)
    assert current_lease(store).holder == "host:1:a"


def test_the_holder_keeps_its_lease_by_taking_or_renewing_it(store):
    assert take_lease(store, "host:1:a", seconds=30)
    assert take_lease(store, "host:1:a", seconds=30)
    before = current_lease(store).expires_at
    time.sleep(0.01)
    assert renew_lease(store, "host:1:a", seconds=30)
    assert current_lease(store).expires_at > before


def test_a_lapsed_lease_is_taken_over_and_the_old_holder_cannot_renew_it(store):
    assert take_lease(store, "host:1:a", seconds=0.2)
    time.sleep(0.3)
    assert take_lease(store, "host:2:b", seconds=30)
    assert not renew_lease(store, "host:1:a", seconds=30)
    assert current_lease(store).holder == "host:2:b"


def test_a_released_lease_is_free_at_once_and_names_its_last_holder(store):
    assert take_lease(store, "host:1:a", seconds=30)
    assert not release_lease(store, "host:2:b")
    assert not take_lease(store, "host:2:b", seconds=30)
    assert release_lease(store, "host:1:a")
    lease = current_lease(store)
    assert lease.holder == "host:1:a"
    expires = lease.expires_at if lease.expires_at.tzinfo else lease.expires_at.replace(tzinfo=dt.UTC)
    assert expires <= dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    assert take_lease(store, "host:2:b", seconds=30)
    assert current_lease(store).holder == "host:2:b"
