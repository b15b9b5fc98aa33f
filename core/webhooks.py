"""Webhook subscribers: other systems told of the product's events, signed, retried, every attempt kept.

A **subscriber** is a URL, a signing secret and the events it takes among :data:`EVENTS`, and
is active or not. Its secret is kept encrypted with the document key from configuration
(``config.document_key()``, Fernet), so that an admin adds a receiver on the Webhooks page
without a redeploy, and the database alone does not give it away; once saved it is never shown
back.

**The outbox.** :func:`emit` is called by the change an event tells of, inside that change's own
transaction: it writes one ``WebhookEvent`` row per active subscriber of the event, *pending*
and due now. Nothing is sent from inside a page or a request: the change and the events it owes
are committed together or not at all. The worker sends them (:func:`deliver_pending`, each
poll, beside the export queue); when no worker holds the lease, the app or the API sends them
on a thread of its own (:func:`hand_over`), as exports are built.

**A delivery** is a POST of the JSON body (``id``, ``event``, ``created``, ``data``: the same on
every attempt, so a receiver drops what it has seen) signed as ``core.jobs.notify`` signs: the
header ``Recon-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">``. A 2xx answer
delivers it. A connection failure, a timeout, a 408, a 429 or a 5xx is tried again after
``RECON_WEBHOOK_BACKOFF_SECONDS``, twice as long before each further try, up to
``RECON_WEBHOOK_ATTEMPTS`` tries; the next try's time is stored, so a restarted worker carries on.
Another 4xx answer, or the last try, fails the event; a person may send it again by hand
(:func:`redeliver_event`). Every attempt is a ``WebhookDelivery`` row (status code or error).

The events: ``application.ready`` (every statement of an application read and adding up),
``application.decided``, ``export.completed``, ``pipeline.failed``, ``alert.raised``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import urllib.parse
from typing import NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import config
from core.jobs.lease import worker_alive
from core.jobs.notify import WebhookError, _try_once, event_body
from core.store import Store, record_audit
from core.store.models import WebhookDelivery, WebhookEvent, WebhookSubscriber, utc_now

__all__ = ["EVENTS", "WebhookError", "SubscriberView", "deliver_pending", "emit", "hand_over", "list_attempts", "list_events",
           "list_subscribers", "redeliver_event", "remove_subscriber", "subscribe", "update_subscriber"]

EVENTS = ("application.ready", "application.decided", "export.completed", "pipeline.failed", "alert.raised")
STALE_SENDING_SECONDS = 300  # an event "sending" longer than this was left by a process that stopped
MIN_SECRET_LENGTH = 16

log = logging.getLogger("core.webhooks")


class SubscriberView(NamedTuple):
    """A subscriber as shown: never its secret."""

    id: int
    url: str
    events: list[str]
    active: bool
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime | None


def _fernet():
    from cryptography.fernet import Fernet

    return Fernet(config.document_key())


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WebhookError(f"{url or '(empty)'}: a webhook URL starts with http:// or https:// and names a host")
    return url


def _check_events(events) -> list[str]:
    chosen = sorted(set(events or ()))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise WebhookError(f"unknown event {unknown[0]!r}: the events are {', '.join(EVENTS)}")
    if not chosen:
        raise WebhookError("a subscriber takes at least one event")
    return chosen


def _check_secret(secret: str) -> str:
    if len(secret or "") < MIN_SECRET_LENGTH:
        raise WebhookError(f"a signing secret has at least {MIN_SECRET_LENGTH} characters")
    return secret


def _view(row: WebhookSubscriber) -> SubscriberView:
    return SubscriberView(row.id, row.url, list(row.events), row.active, row.created_by, _utc(row.created_at), _utc(row.updated_at))


def subscribe(store: Store, url: str, secret: str, events, *, actor: str, active: bool = True) -> SubscriberView:
    """A new subscriber of ``events`` at ``url``, signing with ``secret`` (kept encrypted)."""
    url, events, secret = _check_url(url), _check_events(events), _check_secret(secret)
    with store.session() as session:
        row = WebhookSubscriber(url=url, secret_encrypted=_fernet().encrypt(secret.encode()).decode(), events=events, active=active,
                                created_by=actor)
        session.add(row)
        session.flush()
        record_audit(session, actor, "webhook_subscribed", "webhook_subscriber", str(row.id),
                     after={"url": url, "events": events, "active": active})
        return _view(row)


def update_subscriber(store: Store, subscriber_id: int, *, actor: str, url: str | None = None, secret: str | None = None,
                      events=None, active: bool | None = None) -> SubscriberView:
    """Change a subscriber's URL, events, active flag, or secret (an empty secret keeps the old one)."""
    with store.session() as session:
        row = session.get(WebhookSubscriber, subscriber_id)
        if row is None:
            raise WebhookError(f"no webhook subscriber {subscriber_id}")
        before = {"url": row.url, "events": list(row.events), "active": row.active}
        if url is not None:
            row.url = _check_url(url)
        if events is not None:
            row.events = _check_events(events)
        if active is not None:
            row.active = bool(active)
        if secret:
            row.secret_encrypted = _fernet().encrypt(_check_secret(secret).encode()).decode()
        row.updated_at = utc_now()
        record_audit(session, actor, "webhook_subscriber_changed", "webhook_subscriber", str(row.id), before=before,
                     after={"url": row.url, "events": list(row.events), "active": row.active, "secret_changed": bool(secret)})
        session.flush()
        return _view(row)


def remove_subscriber(store: Store, subscriber_id: int, *, actor: str) -> None:
    """Remove a subscriber and the events it was still owed (its logged attempts stay)."""
    with store.session() as session:
        row = session.get(WebhookSubscriber, subscriber_id)
        if row is None:
            raise WebhookError(f"no webhook subscriber {subscriber_id}")
        session.execute(WebhookEvent.__table__.delete().where(WebhookEvent.subscriber_id == subscriber_id))
        record_audit(session, actor, "webhook_subscriber_removed", "webhook_subscriber", str(row.id),
                     before={"url": row.url, "events": list(row.events)})
        session.delete(row)


def list_subscribers(store: Store) -> list[SubscriberView]:
    with store.session() as session:
        return [_view(row) for row in session.scalars(select(WebhookSubscriber).order_by(WebhookSubscriber.id))]


def emit(session: Session, event: str, data: dict) -> int:
    """Owe ``event`` to every active subscriber of it, in the caller's transaction (the outbox).

    Returns:
        How many subscribers it is owed to.
    """
    if event not in EVENTS:
        raise WebhookError(f"unknown event {event!r}")
    subscribers = [s for s in session.scalars(select(WebhookSubscriber).where(WebhookSubscriber.active.is_(True)))
                   if event in s.events]
    if not subscribers:
        return 0
    body, now = event_body(event, data), utc_now()
    for subscriber in subscribers:
        session.add(WebhookEvent(subscriber_id=subscriber.id, event=event, body=body, status="pending", attempts=0,
                                 next_attempt_at=now))
    return len(subscribers)


def _claim(store: Store, event_id: int, now: dt.datetime) -> bool:
    with store.session() as session:
        return session.execute(update(WebhookEvent).where(WebhookEvent.id == event_id, WebhookEvent.status == "pending")
                               .values(status="sending", sending_since=now)).rowcount == 1


def _release_stale(store: Store, now: dt.datetime) -> None:
    """Events left *sending* by a process that stopped go back to pending (sent again: the
    receiver knows the event id). Only read, unless there are some: the worker calls this each poll."""
    stale = (WebhookEvent.status == "sending", WebhookEvent.sending_since < now - dt.timedelta(seconds=STALE_SENDING_SECONDS))
    with store.session() as session:
        if session.scalar(select(WebhookEvent.id).where(*stale).limit(1)) is None:
            return
    with store.session() as session:
        session.execute(update(WebhookEvent).where(*stale).values(status="pending", sending_since=None))


def _deliver(store: Store, event_id: int) -> str:
    """One attempt at a claimed event; records it and sets what comes next. Returns the event's status."""
    with store.session() as session:
        event = session.get(WebhookEvent, event_id)
        subscriber = session.get(WebhookSubscriber, event.subscriber_id)
        url, body, name, tries = subscriber.url, event.body, event.event, event.attempts
        secret = _fernet().decrypt(subscriber.secret_encrypted.encode()).decode()
        logged = session.scalar(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.event_id == event_id)) or 0
    status_code, error = _try_once(url, body, secret)
    now, tries = utc_now(), tries + 1
    final = status_code is not None and 400 <= status_code < 500 and status_code not in (408, 429)
    with store.session() as session:
        session.add(WebhookDelivery(run_id=None, url=url, event=name, body=body, attempt=logged + 1, status_code=status_code, error=error,
                                    delivered=error is None, sent_at=now, event_id=event_id))
        event = session.get(WebhookEvent, event_id)
        event.attempts, event.last_error, event.sending_since = tries, error, None
        if error is None:
            event.status, event.delivered_at, event.next_attempt_at = "delivered", now, None
        elif final or tries >= config.webhook_attempts():
            event.status, event.next_attempt_at = "failed", None
        else:
            event.status = "pending"
            event.next_attempt_at = now + dt.timedelta(seconds=config.webhook_backoff_seconds() * 2 ** (tries - 1))
        return event.status


def deliver_pending(store: Store, *, now: dt.datetime | None = None, limit: int = 100) -> list[tuple[int, str]]:
    """Send every pending event whose time has come, oldest first, once each (what the worker runs
    each poll). Returns ``(event id, status after the attempt)`` per event sent."""
    now = now or utc_now()
    with store.session() as session:  # the worker's idle poll: one read, nothing written
        if session.scalar(select(WebhookEvent.id).where(WebhookEvent.status.in_(("pending", "sending"))).limit(1)) is None:
            return []
    _release_stale(store, now)
    with store.session() as session:
        due = list(session.scalars(select(WebhookEvent.id).where(WebhookEvent.status == "pending", WebhookEvent.next_attempt_at <= now)
                                   .order_by(WebhookEvent.next_attempt_at, WebhookEvent.id).limit(limit)))
    sent = []
    for event_id in due:
        if _claim(store, event_id, now):
            sent.append((event_id, _deliver(store, event_id)))
    return sent


def _next_due(store: Store) -> dt.datetime | None:
    with store.session() as session:
        return _utc(session.scalar(select(func.min(WebhookEvent.next_attempt_at)).where(WebhookEvent.status == "pending")))


def redeliver_event(store: Store, event_id: int, *, actor: str) -> None:
    """Send a failed (or delivered) event again: pending now, with a fresh round of tries."""
    with store.session() as session:
        event = session.get(WebhookEvent, event_id)
        if event is None:
            raise WebhookError(f"no webhook event {event_id}")
        if event.status in ("pending", "sending"):
            raise WebhookError(f"webhook event {event_id} is {event.status} already")
        event.status, event.attempts, event.next_attempt_at, event.delivered_at = "pending", 0, utc_now(), None
        record_audit(session, actor, "webhook_redelivered", "webhook_event", str(event_id), after={"event": event.event})


_sender_lock = threading.Lock()
_senders: dict[int, threading.Thread] = {}  # per store (by id): the thread sending its events


def hand_over(store: Store, *, longest_wait: float = 120.0) -> threading.Thread | None:
    """Leave pending events to the worker when one holds the store's lease; with none running,
    send them on a thread of this process (the app's or the API's), waiting between tries while
    the next is due within ``longest_wait`` seconds. One such thread per store at a time."""
    if _next_due(store) is None or worker_alive(store):
        return None
    with _sender_lock:
        running = _senders.get(id(store))
        if running is not None and running.is_alive():
            return running

        def send() -> None:
            try:
                while True:
                    deliver_pending(store)
                    due = _next_due(store)
                    if due is None:
                        return
                    wait = (due - utc_now()).total_seconds()
                    if wait > longest_wait or worker_alive(store):
                        return
                    time.sleep(max(0.05, wait))
            except Exception:  # the worker, or the next hand-over, sends what is left
                log.exception("sending webhook events failed")

        sender = _senders[id(store)] = threading.Thread(target=send, name="webhooks", daemon=True)
        sender.start()
        return sender


def list_events(store: Store, *, limit: int = 200) -> list[dict]:
    """The events owed to subscribers, newest first, as rows to show."""
    with store.session() as session:
        rows = session.execute(select(WebhookEvent, WebhookSubscriber.url).join(WebhookSubscriber,
                                                                                 WebhookSubscriber.id == WebhookEvent.subscriber_id)
                               .order_by(WebhookEvent.id.desc()).limit(limit)).all()
        return [{"id": e.id, "event": e.event, "subscriber": url, "status": e.status, "attempts": e.attempts,
                 "next attempt": _utc(e.next_attempt_at), "last error": e.last_error or "", "created": _utc(e.created_at),
                 "delivered": _utc(e.delivered_at)} for e, url in rows]


def list_attempts(store: Store, event_id: int) -> list[dict]:
    """Every attempt at one event, in order: when, the answer's status code, the error."""
    with store.session() as session:
        rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id).order_by(WebhookDelivery.id)).all()
        return [{"attempt": r.attempt, "sent": _utc(r.sent_at), "status code": r.status_code, "delivered": r.delivered,
                 "error": r.error or ""} for r in rows]
