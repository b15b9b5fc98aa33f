"""Where things live. Embedded defaults: a SQLite file and Parquet files under ``data/``.

Every environment variable the product reads is read here, and nowhere else.

``RECON_DATA_DIR`` moves the data folder; ``DATABASE_URL`` points the store at any
SQLAlchemy URL (``postgresql+psycopg://...``); ``RECON_MAX_IMPORT_MB`` caps an upload.
``RECON_PROFILES_DIR`` and ``RECON_REGISTRARS_DIR`` move the mapping profiles and the registrar
layouts (default: ``profiles/`` and ``registrars/`` in the project). ``RECON_DEMO=1`` runs the
app in demo mode; ``RECON_USER`` names who the command line acts as (default ``cli``) and
``RECON_DEBUG`` makes it print the traceback of an unexpected failure.
``RECON_APPROVAL_THRESHOLD`` is the amount above which a decision needs a second person.
``RECON_RECONCILIATION_THRESHOLD`` (default 1000.00) and ``RECON_VARIANCE_ALERT_THRESHOLD``
(default 5000.00) are the amounts past which an unexplained difference and a movement's
variance raise an alert; ``RECON_TRANSFER_TRANSIT_DAYS`` (default 3) the business days past
which a transfer between own accounts still in transit raises one.
``RECON_LEDGER_DIMENSIONS`` lists the ledger's dimensions, comma-separated (default
``cost_centre,project,department,branch``).
``RECON_SIGNIN_MAX_FAILURES`` (per username, default 5), ``RECON_SIGNIN_MAX_CLIENT_FAILURES``
(per client, default 20), ``RECON_SIGNIN_LOCK_MINUTES`` (first lock, default 5, doubled by each
further failure) and ``RECON_SIGNIN_MAX_LOCK_MINUTES`` (default 1440) set the sign-in backoff.
``RECON_WEBHOOK_ATTEMPTS`` (default 4), ``RECON_WEBHOOK_BACKOFF_SECONDS`` (the first wait,
doubled after each failure; default 2) and ``RECON_WEBHOOK_TIMEOUT_SECONDS`` (default 10) set how
a webhook is delivered. A pipeline names the environment variables that hold its secrets (an
SFTP password, a webhook's signing secret): they are read here too (:func:`named_secret`).
``RECON_S3_ENDPOINT_URL`` (an S3-compatible server; default AWS), ``RECON_S3_REGION``,
``RECON_S3_BUCKET`` (the bucket of ``--dest s3://``-less defaults), ``RECON_S3_ACCESS_KEY_ID`` and
``RECON_S3_SECRET_ACCESS_KEY`` (default: boto3's own chain: ``AWS_*`` variables, profile, role),
``RECON_S3_SESSION_TOKEN``, ``RECON_S3_MULTIPART_MB`` (files above this are uploaded in parts,
default 64), ``RECON_S3_SSE`` (server-side encryption asked for: ``AES256``, the default, or
``aws:kms``) and ``RECON_S3_KMS_KEY_ID`` set where export files go in S3.
The worker (``python -m core worker``): ``RECON_WORKER_LEASE_SECONDS`` (default 15) is how long
its lease lasts unrenewed, ``RECON_WORKER_RENEW_SECONDS`` (default 3) how often it is renewed,
``RECON_WORKER_POLL_SECONDS`` (default 2) how often the pipelines and due retries are re-read,
``RECON_WORKER_MISFIRE_GRACE_SECONDS`` (default 3600) how late a scheduled run may still start,
``RECON_WORKER_THREADS`` (default 4) how many runs go at once.
``RECON_DOCUMENT_KEY`` is the Fernet key that encrypts application documents in the data folder
(default: a key made on first use in ``DATA_DIR/document.key``, readable by its owner only);
``RECON_DOCUMENTS_DEST`` where they are kept: ``local`` (default, ``DATA_DIR/documents``, encrypted with that
key) or ``s3://bucket/prefix`` (the ``RECON_S3_*`` settings; server-side encryption);
``RECON_MAIL_INBOX`` the folder of ``.eml`` files taken in (default ``DATA_DIR/mail``; a pipeline's statement inbox is a folder of its own).
A mailbox read over IMAP as well (:func:`imap_settings`; only when ``RECON_IMAP_HOST`` is set):
``RECON_IMAP_HOST``, ``RECON_IMAP_PORT`` (default 993), ``RECON_IMAP_USER``, ``RECON_IMAP_PASSWORD``
(never logged nor shown), ``RECON_IMAP_FOLDER`` (default ``INBOX``) and ``RECON_IMAP_TLS``
(``ssl``, the default; ``starttls``; or ``none``, for a server on 127.0.0.1 or localhost only).
DuckDB spills what does not fit in memory under the system's temporary folder (``TMPDIR``),
never into the folder the command was started from.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

__all__ = ["S3Settings", "SignInPolicy", "WorkerSettings", "approval_threshold", "cli_user", "data_dir", "database_url",
           "demo_mode", "document_key", "duckdb_settings", "ledger_dimensions", "mail_inbox", "manual_match_tolerance",
           "max_expanded_bytes", "max_import_bytes", "named_secret", "profiles_dir", "reconciliation_threshold",
           "registrars_dir", "s3_settings", "show_tracebacks", "sign_in_policy", "transfer_transit_days",
           "variance_alert_threshold", "webhook_attempts", "webhook_backoff_seconds", "webhook_timeout_seconds",
           "worker_settings", "documents_destination", "ImapSettings", "imap_configured", "imap_settings"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("RECON_DATA_DIR") or PROJECT_ROOT / "data")


def database_url(folder: Path | None = None) -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{(folder or data_dir()) / 'recon.db'}"


def profiles_dir() -> Path:
    """The mapping profiles folder: ``RECON_PROFILES_DIR``, else ``profiles/`` in the project."""
    return Path(os.environ.get("RECON_PROFILES_DIR") or PROJECT_ROOT / "profiles")


def posting_rules_path() -> Path:
    """The posting rules the HTTP API posts a bank transaction by, unless the request names others."""
    return Path(os.environ.get("RECON_POSTING_RULES") or PROJECT_ROOT / "posting" / "bank.toml")


def api_builds_exports() -> bool:
    """Whether the HTTP API builds the exports it queues in a background thread of its own
    when no worker holds the lease (``RECON_API_BUILDS_EXPORTS``, on unless ``0``)."""
    return os.environ.get("RECON_API_BUILDS_EXPORTS", "1") != "0"


def registrars_dir() -> Path:
    """The registrar layouts folder: ``RECON_REGISTRARS_DIR``, else ``registrars/`` in the project."""
    return Path(os.environ.get("RECON_REGISTRARS_DIR") or PROJECT_ROOT / "registrars")


def document_key() -> bytes:
    """The key application documents are encrypted with at rest (a Fernet key, URL-safe base64)."""
    given = os.environ.get("RECON_DOCUMENT_KEY")
    if given:
        return given.encode()
    path = data_dir() / "document.key"
    if not path.exists():
        from cryptography.fernet import Fernet

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_bytes().strip()
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
    return path.read_bytes().strip()


def documents_destination() -> str:
    """Where application documents are kept (``RECON_DOCUMENTS_DEST``): ``local`` (the default: the
    data folder's ``documents/``, Fernet-encrypted with :func:`document_key`) or
    ``s3://bucket/prefix`` (with the ``RECON_S3_*`` settings; server-side encryption)."""
    text = (os.environ.get("RECON_DOCUMENTS_DEST") or "local").strip()
    if text == "local":
        return text
    if not text.lower().startswith("s3://") or not text[5:].partition("/")[0]:
        raise ValueError(f"RECON_DOCUMENTS_DEST={text!r} is neither local nor s3://bucket/prefix")
    bucket, _, prefix = text[5:].partition("/")
    prefix = "/".join(part for part in prefix.split("/") if part)
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def mail_inbox() -> Path:
    return Path(os.environ.get("RECON_MAIL_INBOX") or data_dir() / "mail")


def demo_mode() -> bool:
    """The app runs with the demo's published passwords (``RECON_DEMO=1``)."""
    return os.environ.get("RECON_DEMO") == "1"


def cli_user() -> str:
    """Who the command line acts as, in the audit log (``RECON_USER``, default ``cli``)."""
    return os.environ.get("RECON_USER", "cli")


def show_tracebacks() -> bool:
    """The command line prints the traceback of an unexpected failure (``RECON_DEBUG`` set)."""
    return bool(os.environ.get("RECON_DEBUG"))


def named_secret(variable: str) -> str | None:
    """The value of an environment variable a pipeline names for a secret; ``None`` when unset or empty."""
    return os.environ.get(variable) or None


def webhook_attempts() -> int:
    """How many times a webhook is tried before it counts as not delivered (``RECON_WEBHOOK_ATTEMPTS``, default 4)."""
    return max(1, int(os.environ.get("RECON_WEBHOOK_ATTEMPTS") or "4"))


def webhook_backoff_seconds() -> float:
    """The wait before a webhook's second try, doubled before each further one (``RECON_WEBHOOK_BACKOFF_SECONDS``, default 2)."""
    return max(0.0, float(os.environ.get("RECON_WEBHOOK_BACKOFF_SECONDS") or "2"))


def webhook_timeout_seconds() -> float:
    """How long one webhook try waits for the receiver's answer (``RECON_WEBHOOK_TIMEOUT_SECONDS``, default 10)."""
    return float(os.environ.get("RECON_WEBHOOK_TIMEOUT_SECONDS") or "10")


def max_import_bytes() -> int:
    return int(os.environ.get("RECON_MAX_IMPORT_MB", "200")) * 1024 * 1024


def max_expanded_bytes() -> int:
    """The most a workbook may expand to when read: ten times the import limit."""
    return 10 * max_import_bytes()


def duckdb_settings() -> dict[str, str]:
    """Settings for the DuckDB connections runs work in."""
    return {"temp_directory": str(Path(tempfile.gettempdir()) / "recon-duckdb")}


def approval_threshold() -> Decimal:
    """Decisions on amounts above this wait for a second person (default 10000.00)."""
    return Decimal(os.environ.get("RECON_APPROVAL_THRESHOLD", "10000.00"))


def ledger_dimensions() -> tuple[str, ...]:
    """The dimensions a journal line may carry (``RECON_LEDGER_DIMENSIONS``, comma-separated)."""
    text = os.environ.get("RECON_LEDGER_DIMENSIONS") or "cost_centre,project,department,branch"
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


def manual_match_tolerance() -> Decimal:
    """A manual match nets to within this without a reason code (``RECON_MANUAL_MATCH_TOLERANCE``, default 0.00)."""
    return Decimal(os.environ.get("RECON_MANUAL_MATCH_TOLERANCE", "0.00"))


def _exact_setting(name: str, default: str) -> Decimal:
    """A money setting as an exact decimal; a value that is not a non-negative number is a misconfiguration."""
    text = os.environ.get(name) or default
    try:
        value = Decimal(text.replace(",", ""))
    except ArithmeticError:
        raise ValueError(f"{name}={text!r} is not an amount") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{name}={text!r} is not an amount of zero or more")
    return value


def reconciliation_threshold() -> Decimal:
    """An unexplained difference larger than this raises an alert (``RECON_RECONCILIATION_THRESHOLD``, default 1000.00)."""
    return _exact_setting("RECON_RECONCILIATION_THRESHOLD", "1000.00")


def variance_alert_threshold() -> Decimal:
    """A movement differing from the previous month's or the budget by more than this raises an alert
    (``RECON_VARIANCE_ALERT_THRESHOLD``, default 5000.00)."""
    return _exact_setting("RECON_VARIANCE_ALERT_THRESHOLD", "5000.00")


def transfer_transit_days() -> int:
    """A transfer in transit for more business days than this raises an alert (``RECON_TRANSFER_TRANSIT_DAYS``, default 3)."""
    text = os.environ.get("RECON_TRANSFER_TRANSIT_DAYS") or "3"
    if not text.strip().isdigit():
        raise ValueError(f"RECON_TRANSFER_TRANSIT_DAYS={text!r} is not a whole number of days")
    return int(text)


class SignInPolicy(NamedTuple):
    max_failures: int  # per username, since its last success and within a day
    max_client_failures: int  # per client (browser or caller), likewise
    lock_minutes: int  # the first lock; each further failure doubles it
    max_lock_minutes: int


def sign_in_policy() -> SignInPolicy:
    setting = {"RECON_SIGNIN_MAX_FAILURES": "5", "RECON_SIGNIN_MAX_CLIENT_FAILURES": "20", "RECON_SIGNIN_LOCK_MINUTES": "5",
               "RECON_SIGNIN_MAX_LOCK_MINUTES": "1440"}
    return SignInPolicy(*(int(os.environ.get(name, default)) for name, default in setting.items()))


class S3Settings(NamedTuple):
    endpoint_url: str | None
    region: str | None
    bucket: str | None
    access_key_id: str | None
    secret_access_key: str | None
    session_token: str | None
    multipart_threshold: int  # bytes: a larger file is uploaded in parts
    server_side_encryption: str  # AES256 | aws:kms
    kms_key_id: str | None


def s3_settings() -> S3Settings:
    """Where export files go in S3 and how (the ``RECON_S3_*`` variables)."""
    megabytes = os.environ.get("RECON_S3_MULTIPART_MB") or "64"
    if not megabytes.strip().isdigit() or int(megabytes) < 5:
        raise ValueError(f"RECON_S3_MULTIPART_MB={megabytes!r} is not a whole number of 5 (S3's smallest part) or more")
    encryption = os.environ.get("RECON_S3_SSE") or "AES256"
    if encryption not in ("AES256", "aws:kms"):
        raise ValueError(f"RECON_S3_SSE={encryption!r} is neither AES256 nor aws:kms")
    setting = lambda name: os.environ.get(name) or None  # noqa: E731
    return S3Settings(setting("RECON_S3_ENDPOINT_URL"), setting("RECON_S3_REGION"), setting("RECON_S3_BUCKET"),
                      setting("RECON_S3_ACCESS_KEY_ID"), setting("RECON_S3_SECRET_ACCESS_KEY"), setting("RECON_S3_SESSION_TOKEN"),
                      int(megabytes) * 1024 * 1024, encryption, setting("RECON_S3_KMS_KEY_ID"))


class WorkerSettings(NamedTuple):
    lease_seconds: float  # a lease not renewed for this long may be taken by another worker
    renew_seconds: float  # how often the holder renews it
    poll_seconds: float  # how often pipelines and due retries are re-read
    misfire_grace_seconds: int  # a scheduled run starting later than this is recorded missed
    threads: int  # runs going at once


def worker_settings() -> WorkerSettings:
    """The worker's timings (``RECON_WORKER_*``); a renewal must come well inside the lease."""
    setting = {"RECON_WORKER_LEASE_SECONDS": "15", "RECON_WORKER_RENEW_SECONDS": "3", "RECON_WORKER_POLL_SECONDS": "2",
               "RECON_WORKER_MISFIRE_GRACE_SECONDS": "3600", "RECON_WORKER_THREADS": "4"}
    values = []
    for (name, default), kind in zip(setting.items(), (float, float, float, int, int)):
        text = os.environ.get(name) or default
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"{name}={text!r} is not a {'whole ' if kind is int else ''}number") from None
        if value <= 0:
            raise ValueError(f"{name}={text!r} must be more than zero")
        values.append(value)
    settings = WorkerSettings(*values)
    if settings.renew_seconds * 2 > settings.lease_seconds:
        raise ValueError(f"RECON_WORKER_RENEW_SECONDS={settings.renew_seconds:g} must be at most half of "
                         f"RECON_WORKER_LEASE_SECONDS={settings.lease_seconds:g}, or the lease lapses between renewals")
    return settings


IMAP_TLS = ("ssl", "starttls", "none")
_LOOPBACK = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class ImapSettings:
    """The mailbox read over IMAP; its password is left out of how the settings are shown."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    folder: str
    tls: str  # ssl, starttls or none


def imap_configured() -> bool:
    """A mailbox is read over IMAP (``RECON_IMAP_HOST`` is set)."""
    return bool((os.environ.get("RECON_IMAP_HOST") or "").strip())


def imap_settings() -> ImapSettings | None:
    """The ``RECON_IMAP_*`` settings, or None when ``RECON_IMAP_HOST`` is not set.

    Raises:
        ValueError: a setting is not usable (a port that is not a number, an unknown TLS mode,
            ``none`` towards another host than this one); the message never holds the password.
    """
    host = (os.environ.get("RECON_IMAP_HOST") or "").strip()
    if not host:
        return None
    port_text = (os.environ.get("RECON_IMAP_PORT") or "993").strip()
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"RECON_IMAP_PORT={port_text!r} is not a port number (1-65535)")
    tls = (os.environ.get("RECON_IMAP_TLS") or "ssl").strip().lower()
    if tls not in IMAP_TLS:
        raise ValueError(f"RECON_IMAP_TLS={tls!r} is none of {', '.join(IMAP_TLS)}")
    if tls == "none" and host.lower() not in _LOOPBACK:
        raise ValueError(f"RECON_IMAP_TLS=none would send the IMAP password in clear to {host}: allowed for 127.0.0.1 or localhost only")
    return ImapSettings(host, int(port_text), os.environ.get("RECON_IMAP_USER") or "", os.environ.get("RECON_IMAP_PASSWORD") or "",
                        (os.environ.get("RECON_IMAP_FOLDER") or "INBOX").strip(), tls)
