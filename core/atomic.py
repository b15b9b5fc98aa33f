"""Files that appear whole or not at all, and the sweeping of what killed processes left.

Every file the product writes is first written under a temporary name in its target's folder
(so the rename is atomic: one filesystem), flushed to disk, then renamed over the target with
``os.replace``. A failure removes the temporary; a killed process leaves it behind. The
temporary's name carries the writing host and process id::

    .matches.csv.myhost-4242-9f3a0c1e.tmp

so ``sweep_leftovers`` at the next start removes the leftovers of processes no longer alive,
and never the files of one that is still writing (the app and a command running at once).
A leftover of another host (a second container on a shared volume) is removed only once
it is a day old, since whether its process lives cannot be seen from here.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["publish", "replace_atomically", "sweep_leftovers", "temporary_path", "write_atomically"]

_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"
_LEFTOVER = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[0-9a-f]{8}\.tmp$")
# Temporaries of earlier versions: a dataset's Parquet file (".<sha256>.<pid>[.<table>].tmp"), and, with no
# process id, the files of match and holdings --out.
_OLD_DATASET_LEFTOVER = re.compile(r"^\.[0-9a-f]{64}\.(?P<pid>\d+)(\.[A-Za-z0-9_]+)?\.tmp$")
_OLD_LEFTOVER = re.compile(r"^(\.matches\.csv|\.breaks\.csv|\.summary\.json|\.holdings\.csv)\.tmp$")
_FOREIGN_AGE_SECONDS = 24 * 3600


def temporary_path(target: Path) -> Path:
    """A name beside ``target`` for writing it, unique to this process and call."""
    return target.with_name(f".{target.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def publish(temporary: Path, target: Path) -> None:
    """Flush ``temporary`` to disk and rename it over ``target``; the rename is flushed too.

    Only the rename makes ``target`` change: a reader sees the old file or the new one whole.
    A folder is flushed with the files directly in it; it can replace only an empty folder.
    """
    if temporary.is_dir():
        for inner in temporary.iterdir():
            if inner.is_file():
                _sync(inner)
        _sync_folder(temporary)
    else:
        _sync(temporary)
    os.replace(temporary, target)
    _sync_folder(target.parent)


@contextmanager
def replace_atomically(target: Path) -> Iterator[Path]:
    """A temporary path to write ``target`` through, for writers that take a path.

    On a clean exit the file (or folder) written there replaces ``target``; on any error it
    is removed and ``target`` is left as it was.
    """
    temporary = temporary_path(target)
    try:
        yield temporary
        publish(temporary, target)
    except BaseException:
        _remove(temporary)
        raise


@contextmanager
def write_atomically(target: Path, mode: str = "w", **open_args) -> Iterator[IO]:
    """An open file that becomes ``target`` once the block ends without error.

    Args:
        mode: ``"w"`` or ``"wb"``; ``open_args`` go to ``open`` (``encoding``, ``newline``).
    """
    with replace_atomically(target) as temporary, open(temporary, mode, **open_args) as handle:
        yield handle


def sweep_leftovers(*folders: Path) -> list[Path]:
    """Remove the temporaries that dead processes left directly in ``folders``.

    Folders that do not exist are passed over; a file that vanishes meanwhile (another
    process sweeping) is no error.

    Returns:
        What was removed.
    """
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.endswith(".tmp") and _abandoned(entry):
                _remove(Path(entry.path))
                removed.append(Path(entry.path))
    return removed


def _abandoned(entry: os.DirEntry) -> bool:
    found = _LEFTOVER.match(entry.name)
    if found is None:
        found = _OLD_DATASET_LEFTOVER.match(entry.name)
        if found is None:
            return _OLD_LEFTOVER.match(entry.name) is not None
        return not _alive(int(found["pid"]))
    if found["host"] == _HOST:
        return not _alive(int(found["pid"]))
    try:
        return time.time() - entry.stat(follow_symlinks=False).st_mtime > _FOREIGN_AGE_SECONDS
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _sync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # a filesystem that cannot open folders: the rename stands, only its flush is lost
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
