"""Applications for funding: a merchant, the amount asked for, the documents sent, and the decision.

An application moves received -> processing -> ready -> decided. It is *received* when made;
*processing* once it holds a document; *ready* when every document was read as a statement that
adds up (a scan's doubtful rows confirmed); *decided* once a decision stands. Documents come as
uploads or as mail: ``.eml`` files dropped in the inbox folder (``config.mail_inbox()``,
:func:`take_in_mail`) and, when one is configured, the unseen messages of a mailbox read over
IMAP (``config.imap_settings()``, :func:`take_in_imap`); each mail's attachments are taken in,
and a mail taken in once (its Message-ID, else its bytes) is not taken again. Each document is
known by its SHA-256 (the same document twice is one), with its pages and what was read; its
bytes are never kept in the database but where exports are kept, through ``connectors.storage``, as ``RECON_DOCUMENTS_DEST``
says (``config.documents_destination()``): ``local``, the data folder's ``documents/``, each file
encrypted with the key from configuration (Fernet); or ``s3://bucket/prefix``, reached with the
``RECON_S3_*`` settings, each upload asking for server-side encryption (``RECON_S3_SSE``, AES256
by default). ``stored_as`` is a file name under ``documents/`` (the form of every document kept
before S3 was possible, still read) or an ``s3://`` location.

A decision (approve or decline, with a comment) on an amount above the approval threshold
waits for a second person with the approver role, who is not the maker (maker-checker, as
for breaks in ``core.review``). Everything is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import hashlib
import re
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import select

from connectors.documents import RowCorrection, apply_confirmations, read_statement_pdf
from connectors.sources.imap import ImapError, open_mailbox
from connectors.storage import LocalFolder

from core import config
from core.auth import Account
from core.domain.findings import RowError
from core.domain.money import AmountError, check_amount
from core.domain.records import is_currency_code
from core.exports.storage import staged_file
from core.ingest.scans import corrections_from_records, rows_to_confirm
from core.store import Store, record_audit
from core.store.models import Application, ApplicationDocument, AuditEntry, utc_now
from core.underwriting.statements import underwrite_documents
from core.webhooks import emit

__all__ = ["ApplicationError", "DocumentAdded", "add_document", "application_metrics", "confirm_document_rows", "create_application",
           "decide_application", "rows_to_confirm_of",
           "document_bytes", "document_rows", "list_applications", "list_documents", "mask_account", "take_in_imap", "take_in_mail",
           "take_in_message",
           "application_view", "submit_application"]

STATUSES = ("received", "processing", "ready", "decided")
OUTCOMES = ("approved", "declined")
_SUBJECT_ID = re.compile(r"\bapplication\s*#?\s*(\d+)\b", re.IGNORECASE)


class ApplicationError(ValueError):
    """An application cannot do what was asked; the message says why."""


class DocumentAdded(NamedTuple):
    document: ApplicationDocument
    created: bool  # False: the same document was there already


def mask_account(number: str | None) -> str:
    """An account number shown to someone who does not need it: its last four digits only."""
    kept = re.sub(r"\W", "", number or "")
    return kept if len(kept) <= 4 else "••••" + kept[-4:]


def _documents_dir() -> Path:
    return config.data_dir() / "documents"


def _fernet():
    from cryptography.fernet import Fernet

    return Fernet(config.document_key())


def create_application(store: Store, merchant: str, requested_amount: Decimal | None, *, user: str, currency: str = "USD") -> int:
    """A new application, *received*; returns its id."""
    if not merchant.strip():
        raise ApplicationError("an application needs the merchant's name")
    if requested_amount is not None:
        try:
            check_amount(requested_amount)
        except AmountError as exc:
            raise ApplicationError(f"the requested amount {exc}; give the amount asked for, such as 250000.00") from None
        if requested_amount <= 0:
            raise ApplicationError(f"the requested amount must be above zero, not {requested_amount}")
    if not is_currency_code(currency):
        raise ApplicationError(f"{currency!r} is not an ISO 4217 currency code (USD, EUR, GBP...)")
    with store.session() as session:
        application = Application(merchant=merchant.strip(), requested_amount=requested_amount, currency=currency, status="received",
                                  created_by=user)
        session.add(application)
        session.flush()
        record_audit(session, user, "application_created", "application", str(application.id),
                     after={"merchant": application.merchant, "requested_amount": str(requested_amount) if requested_amount else None})
        return application.id


def _reading(data: bytes, name: str) -> tuple[dict, int | None]:
    """What was read of a document, and its pages (account numbers kept to their last four digits)."""
    if not data.startswith(b"%PDF"):
        return {"kind": "other", "problems": ["not a PDF statement; kept, not read"]}, None

    pdf, errors = read_statement_pdf(data, name, layouts_dir=config.profiles_dir() / "pdf")
    if pdf is None:
        return {"kind": "pdf", "problems": [str(e) for e in errors]}, None
    return ({"kind": "scanned pdf" if pdf.scanned else "text pdf", "layout": pdf.layout, "account": mask_account(pdf.account),
             "currency": pdf.currency, "period": [str(pdf.start), str(pdf.end)], "rows": len(pdf.rows),
             "doubtful_rows": [r.number for r in pdf.doubtful_rows()], "problems": []}, pdf.pages)


def add_document(store: Store, application_id: int, data: bytes, name: str, *, user: str, source: str = "upload") -> DocumentAdded:
    """Keep a document of an application (encrypted), read it, and move the application on."""
    digest = hashlib.sha256(data).hexdigest()
    with store.session() as session:
        application = session.get(Application, application_id)
        if application is None:
            raise ApplicationError(f"no application {application_id}")
        if application.status == "decided":
            raise ApplicationError(f"application {application_id} is decided; it takes no more documents")
        existing = session.scalar(select(ApplicationDocument).where(ApplicationDocument.application_id == application_id,
                                                                    ApplicationDocument.sha256 == digest))
        if existing is not None:
            session.expunge(existing)
            return DocumentAdded(existing, False)
    reading, pages = _reading(data, name)
    stored_as = _keep(data, digest)
    with store.session() as session:
        document = ApplicationDocument(application_id=application_id, sha256=digest, name=Path(name).name[:256], source=source,
                                       size=len(data), pages=pages, stored_as=stored_as, reading=reading, added_by=user)
        session.add(document)
        session.flush()
        record_audit(session, user, "application_document_added", "application", str(application_id),
                     after={"document": document.id, "sha256": digest, "name": document.name, "source": source})
        _update_status(session, application_id)
        session.flush()
        session.expunge(document)
        return DocumentAdded(document, True)


def confirm_document_rows(store: Store, document_id: int, records: list[dict], *, user: str) -> list[RowError]:
    """A person's confirmation of a scanned document's doubtful rows (the values as read on the page).

    The corrections are kept with what was read, and used whenever the document is read again;
    the statement must add up with them. Returns the problems, none when the rows were taken.
    """
    name, data = document_bytes(store, document_id)
    corrections, errors = corrections_from_records(records, name)
    if errors:
        return errors
    pdf, errors = read_statement_pdf(data, name, layouts_dir=config.profiles_dir() / "pdf")
    if pdf is not None:
        pdf, errors = apply_confirmations(pdf, corrections)
    if errors:
        return errors
    with store.session() as session:
        document = session.get(ApplicationDocument, document_id)
        document.reading = {**document.reading, "doubtful_rows": [], "confirmed_rows": _corrections_as_json(corrections)}
        record_audit(session, user, "application_rows_confirmed", "application", str(document.application_id),
                     after={"document": document_id, "rows": sorted(corrections)})
        session.flush()
        _update_status(session, document.application_id)
    return []


def _corrections_as_json(corrections: dict) -> dict:
    return {str(n): {"date": str(c.date), "description": c.description, "amount": str(c.amount),
                     "balance": None if c.balance is None else str(c.balance)} for n, c in corrections.items()}


def _corrections_of(document: ApplicationDocument) -> dict | None:

    kept = document.reading.get("confirmed_rows")
    if not kept:
        return None
    return {int(n): RowCorrection(dt.date.fromisoformat(c["date"]), c["description"], Decimal(c["amount"]),
                                  None if c["balance"] is None else Decimal(c["balance"])) for n, c in kept.items()}


def rows_to_confirm_of(store: Store, document_id: int) -> list[dict]:
    """A document's doubtful rows as read, for a person to confirm (see ``core.ingest.scans``)."""
    name, data = document_bytes(store, document_id)
    return rows_to_confirm(data, name)


def _update_status(session, application_id: int) -> None:
    application = session.get(Application, application_id)
    if application.status == "decided":
        return
    documents = session.scalars(select(ApplicationDocument).where(ApplicationDocument.application_id == application_id)).all()
    statements = [d for d in documents if d.reading.get("kind") in ("text pdf", "scanned pdf")]
    clean = statements and all(not d.reading.get("problems") and not d.reading.get("doubtful_rows") for d in statements)
    was = application.status
    application.status = "ready" if clean else "processing" if documents else "received"
    if application.status == "ready" and was != "ready":
        emit(session, "application.ready", _event_data(application, documents=len(documents)))


def _event_data(application: Application, **more) -> dict:
    """What a webhook tells of an application: no document, no account number."""
    return {"application_id": application.id, "merchant": application.merchant, "status": application.status,
            "requested_amount": None if application.requested_amount is None else format(application.requested_amount, "f"),
            "currency": application.currency, **more}


def _storage(destination: str):
    """The storage documents go to: the local ``documents/`` folder, or an S3 bucket and prefix."""
    if destination.startswith("s3://"):
        from connectors.storage.s3 import S3Bucket  # boto3 is loaded only when documents go to S3

        bucket, _, prefix = destination[5:].partition("/")
        return S3Bucket(bucket, prefix, config.s3_settings(), staging=_documents_dir())
    return LocalFolder(_documents_dir())


def _keep(data: bytes, digest: str) -> str:
    """Store a document's bytes (once per SHA-256) where configuration says; returns ``stored_as``."""
    destination = config.documents_destination()
    storage = _storage(destination)
    if destination.startswith("s3://"):
        name, content = f"{digest}.pdf" if data.startswith(b"%PDF") else digest, data  # S3 encrypts it (SSE)
        stored_as = f"s3://{storage.bucket}/{storage.key(name)}"
        if storage.exists(stored_as):
            return stored_as
    else:
        name = stored_as = f"{digest}.fernet"
        if (_documents_dir() / name).exists():
            return stored_as
        content = _fernet().encrypt(data)
    with staged_file(storage, name) as staging:
        staging.write_bytes(content)
        storage.put(staging, name)
    return stored_as


def document_bytes(store: Store, document_id: int) -> tuple[str, bytes]:
    """A document's name and its bytes (decrypted, or fetched from S3)."""
    with store.session() as session:
        document = session.get(ApplicationDocument, document_id)
        if document is None:
            raise ApplicationError(f"no document {document_id}")
        name, stored_as = document.name, document.stored_as
    if stored_as.startswith("s3://"):
        from connectors.storage.s3 import S3Bucket  # boto3 is loaded only when documents go to S3

        bucket = stored_as[5:].partition("/")[0]
        with S3Bucket(bucket, "", config.s3_settings(), staging=_documents_dir()).open(stored_as) as body:
            return name, body.read()
    return name, _fernet().decrypt((_documents_dir() / stored_as).read_bytes())


def list_applications(store: Store, status: str | None = None) -> list[Application]:
    with store.session() as session:
        query = select(Application).order_by(Application.created_at.desc(), Application.id.desc())
        if status:
            query = query.where(Application.status == status)
        rows = session.scalars(query).all()
        session.expunge_all()
        return list(rows)


def list_documents(store: Store, application_id: int) -> list[ApplicationDocument]:
    with store.session() as session:
        rows = session.scalars(select(ApplicationDocument).where(ApplicationDocument.application_id == application_id)
                               .order_by(ApplicationDocument.id)).all()
        session.expunge_all()
        return list(rows)


def document_rows(store: Store, application_id: int) -> list[dict]:
    """The documents of an application as rows to show: what was read, account numbers masked."""
    return [{"id": d.id, "name": d.name, "source": d.source, "pages": d.pages, "read as": d.reading.get("kind"),
             "account": d.reading.get("account", ""), "rows": d.reading.get("rows"),
             "doubtful rows": ", ".join(str(n) for n in d.reading.get("doubtful_rows", [])),
             "problems": "; ".join(d.reading.get("problems", [])), "sha256": d.sha256[:12], "added": d.added_at}
            for d in list_documents(store, application_id)]


def application_metrics(store: Store, application_id: int):
    """The underwriting metrics over the application's statements: ``(Underwriting | None, errors)``."""
    documents = [d for d in list_documents(store, application_id) if d.reading.get("kind") in ("text pdf", "scanned pdf")]
    if not documents:
        return None, [RowError(f"application {application_id}", None, None, None, "no statement read yet")]
    return underwrite_documents([(*document_bytes(store, d.id), _corrections_of(d)) for d in documents])


def decide_application(store: Store, application_id: int, outcome: str, comment: str, actor: Account) -> str:
    """Decide an application, or confirm (or overturn) a decision waiting for a second person.

    Over the approval threshold, the first decision is *proposed* and waits; an approver who is
    not its maker then decides, with their own comment. At or under it, the decision stands.

    Returns:
        ``"decided"`` or ``"waiting"``.
    """
    if outcome not in OUTCOMES:
        raise ApplicationError(f"a decision is one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if not comment.strip():
        raise ApplicationError("a decision needs a comment")
    with store.session() as session:
        application = session.get(Application, application_id)
        if application is None:
            raise ApplicationError(f"no application {application_id}")
        if application.status == "decided":
            raise ApplicationError(f"application {application_id} is decided already ({application.outcome})")
        if application.status != "ready":
            raise ApplicationError(f"application {application_id} is {application.status}: its statements must be read and add up first")
        over = application.requested_amount is not None and application.requested_amount > config.approval_threshold()
        if over and application.proposed_outcome is None:
            application.proposed_outcome, application.proposed_comment, application.proposed_by = outcome, comment, actor.username
            record_audit(session, actor.username, "application_decision_proposed", "application", str(application_id),
                         after={"outcome": outcome, "comment": comment})
            return "waiting"
        if over:
            if actor.role not in ("approver", "admin"):
                raise ApplicationError(f"the amount is over the approval threshold of {config.approval_threshold()}: an approver decides")
            if actor.username == application.proposed_by:
                raise ApplicationError("the maker of a decision cannot also approve it; another approver decides")
        application.status, application.outcome, application.decision_comment = "decided", outcome, comment
        application.decided_by, application.decided_at = actor.username, utc_now()
        record_audit(session, actor.username, "application_decided", "application", str(application_id),
                     before={"proposed": application.proposed_outcome, "proposed_by": application.proposed_by},
                     after={"outcome": outcome, "comment": comment})
        emit(session, "application.decided", _event_data(application, outcome=outcome, decided_by=actor.username))
        return "decided"


def take_in_mail(store: Store, inbox: Path | None = None, *, user: str = "mail") -> list[tuple[str, int, int]]:
    """Take in every ``.eml`` file in the inbox (:func:`take_in_message`); each file taken in is
    moved to ``inbox/done/``.

    Returns:
        ``(mail file, application id, documents added)`` per mail not taken in before.
    """
    inbox = inbox or config.mail_inbox()
    done = inbox / "done"
    taken = []
    for path in sorted(inbox.glob("*.eml")):
        application_id, added = take_in_message(store, path.read_bytes(), path.stem, user=user)
        done.mkdir(exist_ok=True)
        path.rename(done / path.name)
        if application_id is not None:
            taken.append((path.name, application_id, added))
    return taken


def take_in_imap(store: Store, *, user: str = "mail") -> list[tuple[str, int, int]]:
    """Take in the unseen messages of the mailbox read over IMAP (``config.imap_settings()``), each
    through :func:`take_in_message` as an ``.eml`` file is, and mark each one seen once taken in (a
    failure leaves it unseen, for the next pass). Nothing is read when no mailbox is configured.

    Returns:
        ``(folder and UID, application id, documents added)`` per message not taken in before.

    Raises:
        ApplicationError: the settings are not usable or the mailbox cannot be read (one line,
            never the password).
    """
    try:
        settings = config.imap_settings()
    except ValueError as exc:
        raise ApplicationError(str(exc)) from None
    if settings is None:
        return []
    taken = []
    try:
        with open_mailbox(settings.host, settings.port, settings.user, settings.password, settings.folder, settings.tls) as mailbox:
            for message in mailbox.unseen():
                application_id, added = take_in_message(store, message.data, f"{settings.user}@{settings.host}", user=user)
                mailbox.mark_seen(message.uid)
                if application_id is not None:
                    taken.append((f"{settings.folder} UID {message.uid}", application_id, added))
    except ImapError as exc:
        raise ApplicationError(f"the mailbox over IMAP: {exc}") from None
    return taken


def _mail_key(message, data: bytes) -> str:
    """What a message is known by once taken in: its Message-ID, or its bytes' SHA-256 when it has none."""
    message_id = str(message.get("message-id", "")).strip()
    if message_id:
        return "message-id:" + hashlib.sha256(message_id.encode()).hexdigest()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def take_in_message(store: Store, data: bytes, sender_fallback: str, *, user: str = "mail") -> tuple[int | None, int]:
    """Take in one mail (its RFC 5322 bytes): each attachment a document of an application.

    A mail whose subject names an application ("Application 12") adds to it; any other mail
    makes a new application for its sender (``sender_fallback`` when the mail names none). A mail
    taken in before (the same Message-ID, or the same bytes when it has none) is not taken again.

    Returns:
        ``(application id, documents added)``; ``(None, 0)`` for a mail taken in before.
    """
    message = email.message_from_bytes(data, policy=email.policy.default)
    key = _mail_key(message, data)
    with store.session() as session:
        if session.scalar(select(AuditEntry.id).where(AuditEntry.entity_type == "mail", AuditEntry.entity_id == key).limit(1)):
            return None, 0
    subject = str(message.get("subject", ""))
    found = _SUBJECT_ID.search(subject)
    application_id = int(found.group(1)) if found else None
    if application_id is None:
        sender = email.utils.parseaddr(str(message.get("from", "")))
        application_id = create_application(store, sender[0] or sender[1] or sender_fallback, None, user=user)
    added = 0
    for part in message.iter_attachments():
        content = part.get_payload(decode=True)
        if content:
            added += add_document(store, application_id, content, part.get_filename() or "attachment", user=user, source="mail").created
    with store.session() as session:
        record_audit(session, user, "mail_taken_in", "mail", key, after={"application": application_id, "documents_added": added})
    return application_id, added


def submit_application(store: Store, merchant: str, requested_amount: str | Decimal | None, currency: str,
                       documents: list[tuple[str, bytes]], *, user: str, source: str = "upload") -> int:
    """A new application with its documents, as another system hands it in (the HTTP API): the
    amount as exact decimal text, each document through :func:`add_document` as an upload is.

    Raises:
        ApplicationError: the merchant, amount or currency is not usable (nothing is made then).
    """
    amount = None
    if requested_amount not in (None, ""):
        try:
            amount = Decimal(str(requested_amount).strip())
        except ArithmeticError:
            raise ApplicationError(f"requested_amount {requested_amount!r} is not a decimal number such as 25000.00") from None
        if not amount.is_finite():
            raise ApplicationError(f"requested_amount {requested_amount!r} is not a decimal number such as 25000.00")
    currency = (currency or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ApplicationError(f"currency {currency!r} is not a three-letter code such as USD")
    if not merchant.strip():
        raise ApplicationError("an application needs the merchant's name")
    if amount is not None and amount <= 0:
        raise ApplicationError(f"the requested amount must be above zero, not {amount}")
    application_id = create_application(store, merchant, amount, user=user, currency=currency)
    for name, data in documents:
        add_document(store, application_id, data, name, user=user, source=source)
    return application_id


def application_view(store: Store, application_id: int) -> dict:
    """An application for another system: status, decision, documents (SHA-256, pages, what was
    read) and the metrics, overall and month by month, money as exact decimal text. Account
    numbers appear only masked (last four digits).

    Raises:
        ApplicationError: no such application.
    """
    with store.session() as session:
        application = session.get(Application, application_id)
        if application is None:
            raise ApplicationError(f"no application {application_id}")
        session.expunge(application)
    documents = list_documents(store, application_id)
    figures, problems = application_metrics(store, application_id) if documents else (None, [])
    metrics = None
    if figures is not None:
        summary = {k: v for k, v in figures.metrics.items() if k not in ("rows", "monthly", "accounts")}
        metrics = {"accounts": [mask_account(a) for a in figures.metrics.get("accounts", [])], "overall": summary,
                   "monthly": [{k: v for k, v in month.items() if k != "rows"} for month in figures.metrics.get("monthly", [])]}
    amount = application.requested_amount
    return {"id": application.id, "merchant": application.merchant, "status": application.status,
            "requested_amount": None if amount is None else format(amount, "f"), "currency": application.currency,
            "created_at": application.created_at, "created_by": application.created_by, "outcome": application.outcome,
            "decision_comment": application.decision_comment, "decided_by": application.decided_by, "decided_at": application.decided_at,
            "documents": [{"id": d.id, "name": d.name, "sha256": d.sha256, "size": d.size, "pages": d.pages, "source": d.source,
                           "added_at": d.added_at, "reading": {k: v for k, v in d.reading.items() if k != "confirmed_rows"}}
                          for d in documents],
            "metrics": metrics, "metrics_problems": [str(p) for p in problems]}
