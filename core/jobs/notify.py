"""Webhooks: a JSON event, signed, delivered with retries, every attempt kept and re-deliverable.

The body is one JSON object with an event id (``id``, the same on every attempt and on a
redelivery, so a receiver can drop what it has seen), the event's name (``event``), when it
happened (``created``) and its ``data``. The request carries the header::

    Recon-Signature: t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

``t`` is the Unix time of the attempt and ``v1`` the hex HMAC-SHA256, keyed with the secret,
of ``f"{t}.{body}"`` (the body's bytes exactly as sent). A receiver recomputes ``v1`` over the
raw body, compares in constant time, and refuses a ``t`` older than five minutes
(:func:`verify_signature` does all three).

A delivery is tried up to ``RECON_WEBHOOK_ATTEMPTS`` times, waiting
``RECON_WEBHOOK_BACKOFF_SECONDS`` before the second try and twice as long before each further
one. A 2xx answer delivers it; a connection failure, a timeout, a 408, a 429 or a 5xx is tried
again; another 4xx answer is final (the receiver refused the request itself). Each attempt is a
``WebhookDelivery`` row: the body as sent, the status code or the error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid

from sqlalchemy import func, select

from core import config
from core.store import Store
from core.store.models import PipelineRun, WebhookDelivery, utc_now

__all__ = ["SIGNATURE_HEADER", "TOLERANCE_SECONDS", "WebhookError", "deliver_webhook", "event_body", "redeliver", "sign",
           "verify_signature"]

SIGNATURE_HEADER = "Recon-Signature"
TOLERANCE_SECONDS = 300


class WebhookError(RuntimeError):
    """A webhook that could not be delivered, or redelivered; the message says why."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Recon-Signature`` header's value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """What a receiver checks: the header's ``v1`` is the HMAC of ``t`` and the raw body, and ``t``
    is no older than ``tolerance`` seconds (nor further ahead)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, given = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not given:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, int(timestamp), body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def event_body(event: str, data: dict) -> str:
    """A new event's JSON body: a fresh event id, the event's name, when, and its data."""
    return json.dumps({"id": f"evt_{uuid.uuid4().hex}", "event": event, "created": utc_now().isoformat(timespec="seconds"),
                       "data": data}, sort_keys=True, default=str)


def _try_once(url: str, body: str, secret: str) -> tuple[int | None, str | None]:
    """One POST: ``(status code, error)``; the error is ``None`` for a 2xx answer."""
    data = body.encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "recon-workbench-webhooks",
               SIGNATURE_HEADER: sign(secret, int(time.time()), data)}
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        # The URL is http(s) only: the pipeline's validation says so.
        with urllib.request.urlopen(request, timeout=config.webhook_timeout_seconds()) as answer:  # noqa: S310
            return answer.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, f"the receiver answered {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"no answer from the receiver ({reason})"


def _final(status_code: int | None) -> bool:
    """An answer not worth trying again: the receiver refused the request itself."""
    return status_code is not None and 400 <= status_code < 500 and status_code not in (408, 429)


def _record(store: Store, run_id: int | None, url: str, event: str, body: str, attempt: int, status_code: int | None,
            error: str | None) -> WebhookDelivery:
    with store.session() as session:
        row = WebhookDelivery(run_id=run_id, url=url, event=event, body=body, attempt=attempt, status_code=status_code, error=error,
                              delivered=error is None, sent_at=utc_now())
        session.add(row)
    return row


def deliver_webhook(store: Store, url: str, event: str, body: str, secret: str, *, run_id: int | None = None) -> list[WebhookDelivery]:
    """Deliver ``body`` to ``url``, signed, retried with backoff; every attempt recorded.

    Returns:
        The attempts' rows, in order; the last one says whether it was delivered.
    """
    attempts, wait = config.webhook_attempts(), config.webhook_backoff_seconds()
    rows = []
    for attempt in range(1, attempts + 1):
        status_code, error = _try_once(url, body, secret)
        rows.append(_record(store, run_id, url, event, body, attempt, status_code, error))
        if error is None or _final(status_code) or attempt == attempts:
            break
        time.sleep(wait)
        wait *= 2
    return rows


def redeliver(store: Store, delivery_id: int, *, secret: str | None = None) -> WebhookDelivery:
    """Send a delivery's body again (same event id, a new signature), once; recorded as the next attempt.

    Args:
        secret: the signing secret; by default the one the delivery's pipeline names (its
            notify step for the same URL).

    Raises:
        WebhookError: no such delivery, or its secret cannot be found.
    """
    with store.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise WebhookError(f"webhook delivery {delivery_id}: no such delivery")
        last = session.scalar(select(func.max(WebhookDelivery.attempt)).where(WebhookDelivery.body == delivery.body))
        pipeline = session.scalar(select(PipelineRun.pipeline).where(PipelineRun.id == delivery.run_id)) if delivery.run_id else None
    if secret is None:
        secret = _pipeline_secret(store, pipeline, delivery.url)
    status_code, error = _try_once(delivery.url, delivery.body, secret)
    return _record(store, delivery.run_id, delivery.url, delivery.event, delivery.body, (last or 0) + 1, status_code, error)


def _pipeline_secret(store: Store, pipeline: str | None, url: str) -> str:
    from core.jobs.pipelines import PipelineError, get_pipeline

    if pipeline is None:
        raise WebhookError(f"{url}: the delivery belongs to no pipeline; give the secret")
    try:
        steps = get_pipeline(store, pipeline).spec.steps
    except PipelineError as exc:
        raise WebhookError(str(exc)) from None
    names = [s.secret_env for s in steps if s.kind == "notify" and s.webhook == url]
    if not names:
        raise WebhookError(f"pipeline {pipeline}: no notify step sends to {url} any more; give the secret")
    secret = config.named_secret(names[0])
    if secret is None:
        raise WebhookError(f"pipeline {pipeline}: the environment variable {names[0]} (the webhook's secret) is not set")
    return secret

