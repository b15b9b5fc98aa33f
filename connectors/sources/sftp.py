"""Fetching files (registrar feeds, statements) from an SFTP server, with asyncssh.

The server's host key is checked against a known_hosts file; an unknown or changed key is
refused unless the caller explicitly accepts unknown hosts. Connection failures are retried
with exponential backoff; a refused host key is final. Each downloaded file's SHA-256 is
returned so the caller can skip a file it has already processed.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import time
from pathlib import Path
from typing import NamedTuple

import asyncssh

from connectors.sources.base import Fetched, FileSource

__all__ = ["Fetched", "SftpError", "SftpSource", "fetch_files"]


class SftpError(RuntimeError):
    """The fetch failed; the message says why (host key refused, no connection, ...)."""


@FileSource.register
class SftpSource(NamedTuple):
    """An SFTP folder's files matching ``pattern``; a :class:`FileSource` (a record, so ``_replace`` derives another)."""

    host: str
    port: int
    username: str
    remote_dir: str = "."
    pattern: str = "*"
    password: str | None = None
    client_keys: tuple[str, ...] = ()
    known_hosts: str | None = None
    accept_unknown_host: bool = False

    def describe(self, remote_path: str) -> str:
        return f"{self.host}:{remote_path}"

    def fetch(self, target: Path, *, already_seen: set[str] = frozenset(), retries: int = 3,
              backoff_seconds: float = 1.0) -> list[Fetched]:
        return fetch_files(self, target, already_seen=already_seen, retries=retries, backoff_seconds=backoff_seconds)


async def _fetch(source: SftpSource, target: Path, skip: set[str]) -> list[Fetched]:
    if source.known_hosts is None and not source.accept_unknown_host:
        raise SftpError(f"{source.host}: no known_hosts file given; an unknown host key is refused unless accepted explicitly")
    options = {"known_hosts": None if source.accept_unknown_host else source.known_hosts, "username": source.username,
               "password": source.password, "client_keys": list(source.client_keys) or None}
    fetched = []
    async with asyncssh.connect(source.host, source.port, **options) as connection, connection.start_sftp_client() as sftp:
        for name in sorted(await sftp.listdir(source.remote_dir)):
            if name in (".", "..") or not fnmatch.fnmatch(name, source.pattern):
                continue
            remote = f"{source.remote_dir.rstrip('/')}/{name}"
            local = target / name
            temporary = target / f".{name}.part"
            await sftp.get(remote, str(temporary))
            data = temporary.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in skip:
                temporary.unlink()
                continue
            temporary.replace(local)
            fetched.append(Fetched(remote, local, digest, len(data)))
    return fetched


def fetch_files(source: SftpSource, target: Path, *, already_seen: set[str] = frozenset(), retries: int = 3,
                backoff_seconds: float = 1.0) -> list[Fetched]:
    """Download the files matching ``source.pattern`` into ``target``.

    Args:
        already_seen: SHA-256 of files processed before; such files are not kept again.
        retries: attempts after the first when the connection fails.
        backoff_seconds: the first wait; it doubles after each failure.

    Raises:
        SftpError: the host key is unknown or changed (never retried), or every attempt failed.
    """
    if source.known_hosts is not None and not Path(source.known_hosts).is_file():
        raise SftpError(f"{source.host}: the known_hosts file {source.known_hosts} does not exist")
    target.mkdir(parents=True, exist_ok=True)
    wait = backoff_seconds
    for attempt in range(retries + 1):
        try:
            return asyncio.run(_fetch(source, target, set(already_seen)))
        except asyncssh.HostKeyNotVerifiable as exc:
            raise SftpError(f"{source.host}:{source.port}: the server's host key is not in known_hosts, or has changed; "
                            f"refused ({exc.reason})") from None
        except asyncssh.PermissionDenied as exc:
            raise SftpError(f"{source.host}:{source.port}: the login was refused ({exc.reason})") from None
        except (OSError, asyncssh.Error) as exc:
            if attempt == retries:
                raise SftpError(f"{source.host}:{source.port}: no connection after {retries + 1} attempts ({exc})") from None
            time.sleep(wait)
            wait *= 2
    raise AssertionError("unreachable")
