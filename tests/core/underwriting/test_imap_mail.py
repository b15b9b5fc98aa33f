"""Mail taken in from a mailbox read over IMAP: a real Dovecot server started by the test on 127.0.0.1."""

import datetime as dt
import imaplib
import logging
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest

from core import config
from core.jobs.worker import Worker
from core.underwriting.applications import ApplicationError, list_applications, list_documents, take_in_imap, take_in_mail
from tests.statement_pdfs import make_rows, statement_pdf

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
USER, PASSWORD = "intake", "Imap-pass-7731"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _let_others_through(path: Path) -> list[tuple[Path, int]]:
    """Let the server's unprivileged mail user reach ``path``: pytest's folders are its owner's
    only (0700). Adds search (x) permission on the folders above, returns their modes to restore."""
    changed = []
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if mode & stat.S_IXOTH:
            continue
        folder.chmod(mode | stat.S_IXOTH)
        changed.append((folder, mode))
    return changed


@pytest.fixture
def dovecot(tmp_path, monkeypatch):
    """A Dovecot IMAP server on 127.0.0.1 (no TLS, plaintext login) with one user and a maildir
    under ``tmp_path``; the ``RECON_IMAP_*`` settings point at it. Yields the maildir."""
    executable = shutil.which("dovecot", path=os.environ.get("PATH", "") + ":/usr/sbin")
    if executable is None:
        pytest.fail("Dovecot is missing: `make test` installs it (scripts/install-system-packages.sh: dovecot-imapd)")
    root = tmp_path / "imap"
    maildir = root / "maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (root / "run").mkdir()
    (root / "state").mkdir()
    if os.geteuid() == 0:
        # Dovecot never reads mail as root: the mail user is nobody, its processes dovecot and dovenull.
        mail_user, internal, login = "nobody", "dovecot", "dovenull"
        nobody = pwd.getpwnam(mail_user)
        for path in [maildir, *maildir.rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        restore = _let_others_through(root)
    else:
        mail_user = internal = login = pwd.getpwuid(os.geteuid()).pw_name
        restore = []
    port = _free_port()
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::{root}::\n")
    conf = root / "dovecot.conf"
    conf.write_text(f"""protocols = imap
listen = 127.0.0.1
base_dir = {root / 'run'}
state_dir = {root / 'state'}
instance_name = recon-test-{port}
default_internal_user = {internal}
default_login_user = {login}
mail_uid = {mail_user}
mail_gid = {pwd.getpwnam(mail_user).pw_gid}
first_valid_uid = 1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root / 'dovecot.log'}
mail_location = maildir:{maildir}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root / 'users'}
}}
userdb {{
  driver = passwd-file
  args = {root / 'users'}
}}
""")
    server = subprocess.Popen([executable, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                    pytest.fail(f"Dovecot did not start: {server.communicate()[0].decode(errors='replace')} {log}"[-3000:])
                time.sleep(0.1)
        for name, value in (("RECON_IMAP_HOST", "127.0.0.1"), ("RECON_IMAP_PORT", str(port)), ("RECON_IMAP_USER", USER),
                            ("RECON_IMAP_PASSWORD", PASSWORD), ("RECON_IMAP_TLS", "none"), ("RECON_DATA_DIR", str(tmp_path / "files"))):
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("RECON_IMAP_FOLDER", raising=False)
        monkeypatch.delenv("RECON_DOCUMENT_KEY", raising=False)
        monkeypatch.delenv("RECON_DOCUMENTS_DEST", raising=False)
        yield maildir
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        for folder, mode in restore:
            folder.chmod(mode)


def _deliver(maildir: Path, message: EmailMessage, name: str) -> None:
    """Deliver as a mail server does: the whole file in ``tmp/``, then moved into ``new/``."""
    staged = maildir / "tmp" / name
    staged.write_bytes(message.as_bytes())
    owner = maildir.stat()
    os.chown(staged, owner.st_uid, owner.st_gid)
    staged.rename(maildir / "new" / name)


def _statement_mail(message_id: str = "<march-statements@lakeside.example>") -> tuple[EmailMessage, int]:
    rows = make_rows(12, START, Decimal("2500.00"), seed=21)
    message = EmailMessage()
    message["From"], message["Subject"] = "Lakeside Catering <owner@lakeside.example>", "Funding request"
    message["Message-ID"] = message_id
    message.set_content("Our March statement is attached.")
    message.add_attachment(statement_pdf("northwind", rows, Decimal("2500.00"), START, END), maintype="application",
                           subtype="pdf", filename="march.pdf")
    return message, len(rows)


def _flags() -> tuple[list[bytes], list[bytes]]:
    """The UIDs of the folder's unseen and seen messages, as another mail client sees them."""
    client = imaplib.IMAP4("127.0.0.1", int(os.environ["RECON_IMAP_PORT"]))
    try:
        client.login(USER, PASSWORD)
        client.select("INBOX")
        return client.uid("SEARCH", None, "UNSEEN")[1][0].split(), client.uid("SEARCH", None, "SEEN")[1][0].split()
    finally:
        client.logout()


def _mark_unseen(uid: bytes) -> None:
    client = imaplib.IMAP4("127.0.0.1", int(os.environ["RECON_IMAP_PORT"]))
    try:
        client.login(USER, PASSWORD)
        client.select("INBOX")
        client.uid("STORE", uid, "-FLAGS", r"(\Seen)")
    finally:
        client.logout()


def test_an_unseen_message_becomes_an_application_with_its_statement_read_and_is_then_seen(store, dovecot):
    message, printed_rows = _statement_mail()
    _deliver(dovecot, message, "1764990000.M1P1.recon")
    assert len(_flags()[0]) == 1

    taken = take_in_imap(store)

    assert [(where, added) for where, _, added in taken] == [("INBOX UID 1", 1)]
    [application] = list_applications(store)
    assert (application.id, application.merchant, application.status) == (taken[0][1], "Lakeside Catering", "ready")
    [document] = list_documents(store, application.id)
    assert (document.name, document.source, document.reading["kind"], document.reading["rows"]) == ("march.pdf", "mail", "text pdf",
                                                                                                  printed_rows)
    assert _flags() == ([], [b"1"])
    assert take_in_imap(store) == [] and len(list_applications(store)) == 1


def test_a_message_taken_in_before_is_not_taken_twice_even_when_unseen_again_or_dropped_as_a_file(store, dovecot, tmp_path):
    message, _ = _statement_mail()
    _deliver(dovecot, message, "1764990001.M1P1.recon")
    assert len(take_in_imap(store)) == 1
    _mark_unseen(b"1")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "same.eml").write_bytes(message.as_bytes())

    assert take_in_imap(store) == [] and take_in_mail(store, inbox) == []
    assert len(list_applications(store)) == 1
    assert _flags() == ([], [b"1"])  # seen again, so the next pass does not fetch it


def test_a_message_whose_intake_fails_stays_unseen_for_the_next_pass(store, dovecot, monkeypatch):
    message, _ = _statement_mail("<april@lakeside.example>")
    _deliver(dovecot, message, "1764990002.M1P1.recon")
    monkeypatch.setenv("RECON_DOCUMENTS_DEST", "ftp://nowhere")  # keeping the attachment fails

    with pytest.raises(ValueError, match="RECON_DOCUMENTS_DEST"):
        take_in_imap(store)
    assert _flags() == ([b"1"], [])

    monkeypatch.delenv("RECON_DOCUMENTS_DEST")
    assert [added for _, _, added in take_in_imap(store)] == [1]
    assert _flags() == ([], [b"1"])


def test_a_refused_login_is_one_line_without_the_password_on_the_page_and_in_the_worker_log(store, dovecot, monkeypatch, caplog):
    monkeypatch.setenv("RECON_IMAP_PASSWORD", "Wrong-pass-5520")
    with pytest.raises(ApplicationError, match="login of 'intake' was refused") as refused:
        take_in_imap(store)
    assert "\n" not in str(refused.value) and "Wrong-pass-5520" not in str(refused.value)

    with caplog.at_level(logging.ERROR, logger="core.jobs.worker"):
        Worker(store, "worker-1", config.worker_settings())._take_in_imap()
    [line] = [r.getMessage() for r in caplog.records if r.name == "core.jobs.worker"]
    assert line.startswith("taking in mail over IMAP failed: the mailbox over IMAP: 127.0.0.1: the login of 'intake' was refused")
    assert "Wrong-pass-5520" not in line and "\n" not in line


def test_imap_settings_refuse_clear_text_away_from_this_machine_and_never_show_the_password(monkeypatch):
    monkeypatch.delenv("RECON_IMAP_HOST", raising=False)
    assert config.imap_settings() is None and not config.imap_configured()
    for name, value in (("RECON_IMAP_HOST", "mail.example.com"), ("RECON_IMAP_USER", "intake"), ("RECON_IMAP_PASSWORD", PASSWORD)):
        monkeypatch.setenv(name, value)
    for name in ("RECON_IMAP_PORT", "RECON_IMAP_FOLDER", "RECON_IMAP_TLS"):
        monkeypatch.delenv(name, raising=False)
    settings = config.imap_settings()
    assert (settings.port, settings.folder, settings.tls) == (993, "INBOX", "ssl")
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
    monkeypatch.setenv("RECON_IMAP_TLS", "none")
    with pytest.raises(ValueError, match="allowed for 127.0.0.1 or localhost only") as refused:
        config.imap_settings()
    assert PASSWORD not in str(refused.value) and "\n" not in str(refused.value)
    monkeypatch.setenv("RECON_IMAP_HOST", "localhost")
    assert config.imap_settings().tls == "none"
    monkeypatch.setenv("RECON_IMAP_TLS", "starttls")
    monkeypatch.setenv("RECON_IMAP_PORT", "143")
    assert (config.imap_settings().tls, config.imap_settings().port) == ("starttls", 143)
