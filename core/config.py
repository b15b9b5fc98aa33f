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
``RECON_DOCUMENT_KEY`` is the Fernet key that encrypts application documents in the data folder
(default: a key made on first use in ``DATA_DIR/document.key``, readable by its owner only);
``RECON_MAIL_INBOX`` the folder of ``.eml`` files taken in (default ``DATA_DIR/inbox``).
DuckDB spills what does not fit in memory under the system's temporary folder (``TMPDIR``),
never into the folder the command was started from.
"""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

__all__ = ["SignInPolicy", "approval_threshold", "cli_user", "data_dir", "database_url", "document_key", "demo_mode", "duckdb_settings",
           "ledger_dimensions", "mail_inbox", "manual_match_tolerance", "max_expanded_bytes", "max_import_bytes", "profiles_dir",
           "reconciliation_threshold", "registrars_dir", "show_tracebacks", "sign_in_policy", "transfer_transit_days",
           "variance_alert_threshold"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("RECON_DATA_DIR") or PROJECT_ROOT / "data")


def database_url(folder: Path | None = None) -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{(folder or data_dir()) / 'recon.db'}"


def profiles_dir() -> Path:
    """The mapping profiles folder: ``RECON_PROFILES_DIR``, else ``profiles/`` in the project."""
    return Path(os.environ.get("RECON_PROFILES_DIR") or PROJECT_ROOT / "profiles")


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


def mail_inbox() -> Path:
    return Path(os.environ.get("RECON_MAIL_INBOX") or data_dir() / "inbox")


def demo_mode() -> bool:
    """The app runs with the demo's published passwords (``RECON_DEMO=1``)."""
    return os.environ.get("RECON_DEMO") == "1"


def cli_user() -> str:
    """Who the command line acts as, in the audit log (``RECON_USER``, default ``cli``)."""
    return os.environ.get("RECON_USER", "cli")


def show_tracebacks() -> bool:
    """The command line prints the traceback of an unexpected failure (``RECON_DEBUG`` set)."""
    return bool(os.environ.get("RECON_DEBUG"))


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
