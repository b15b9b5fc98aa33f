"""Reading a mailbox over IMAP (``imaplib``, from the standard library): the folder's unseen messages.

Each message comes as its raw bytes with its UID, fetched with ``BODY.PEEK[]`` so that reading it
does not mark it seen. The caller marks a message seen (:meth:`ImapMailbox.mark_seen`) only once
it has taken the message in: a failure in between leaves it unseen, for the next pass.

The connection is TLS from the start (``ssl``, port 993 as a rule), upgraded with STARTTLS
(``starttls``, port 143), or in clear (``none``, which configuration allows towards this machine
only), the server's certificate checked against the system's trusted authorities. The password
goes to the server and nowhere else: no error message of this module holds it.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

__all__ = ["ImapError", "ImapMailbox", "ImapMessage", "open_mailbox"]

_UID = re.compile(rb"\bUID (\d+)\b")


class ImapError(RuntimeError):
    """The mailbox could not be read; the message says why (no connection, login refused, no such folder)."""


class ImapMessage(NamedTuple):
    uid: str
    data: bytes  # the message as the server keeps it (RFC 5322)


class ImapMailbox:
    """One folder of a mailbox, open for reading: :meth:`unseen` and :meth:`mark_seen`."""

    def __init__(self, client: imaplib.IMAP4, host: str, folder: str):
        self._client = client
        self.host = host
        self.folder = folder

    def unseen(self) -> Iterator[ImapMessage]:
        """The folder's unseen messages, oldest first, each fetched when it is reached (and left unseen)."""
        uids = self._call(f"searching {self.folder} for unseen mail", "SEARCH", None, "UNSEEN")
        for uid in b" ".join(u for u in uids if u).split():
            answer = self._call(f"fetching message {uid.decode()}", "FETCH", uid, "(BODY.PEEK[])")
            for part in answer:
                if isinstance(part, tuple) and _UID.search(part[0]) and _UID.search(part[0]).group(1) == uid:
                    yield ImapMessage(uid.decode(), part[1])
                    break

    def mark_seen(self, uid: str) -> None:
        """Mark one message seen, so a later pass does not fetch it again."""
        self._call(f"marking message {uid} seen", "STORE", uid, "+FLAGS", r"(\Seen)")

    def _call(self, doing: str, command: str, *args) -> list:
        try:
            status, data = self._client.uid(command, *args)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"{self.host}: {doing} failed ({_one_line(exc)})") from None
        if status != "OK":
            raise ImapError(f"{self.host}: {doing} failed ({_text(data)})")
        return data


def _text(data) -> str:
    parts = data if isinstance(data, list) else [data]
    return " ".join(p.decode(errors="replace") if isinstance(p, bytes) else str(p) for p in parts if p is not None)


@contextmanager
def open_mailbox(host: str, port: int, user: str, password: str, folder: str = "INBOX", tls: str = "ssl",
                 timeout: float = 30.0) -> Iterator[ImapMailbox]:
    """Connect, log in and open ``folder`` for reading and flagging; log out on leaving.

    Raises:
        ImapError: the server cannot be reached, refuses the login or has no such folder.
    """
    try:
        if tls == "ssl":
            client = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(), timeout=timeout)
        else:
            client = imaplib.IMAP4(host, port, timeout=timeout)
            if tls == "starttls":
                client.starttls(ssl.create_default_context())
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapError(f"{host}:{port}: no IMAP connection ({_one_line(exc)})") from None
    try:
        try:
            client.login(user, password)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"{host}: the login of {user!r} was refused ({_one_line(exc)})") from None
        try:
            status, data = client.select(_quoted(folder))
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"{host}: opening {folder!r} failed ({_one_line(exc)})") from None
        if status != "OK":
            raise ImapError(f"{host}: no folder {folder!r} to read ({_text(data)})")
        yield ImapMailbox(client, host, folder)
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            pass  # the connection is gone already; nothing is left to close


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
