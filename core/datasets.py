"""Datasets: an imported file, stored once as Parquet, known by the SHA-256 of its bytes.

The pipeline is load -> detect -> read -> normalise -> validate -> persist. Importing the
same bytes again returns the dataset already stored instead of adding rows twice. A failed
import writes nothing: the Parquet file is written to a temporary name and the metadata row
is committed last, so an error at any step leaves the store as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import select

from connectors.files.table import ReadOptions, read_table
from core import config
from core.imports import normalise_table
from core.profiles import Profile, ProfileError, load_profile
from core.records import RowError
from core.store import Store
from core.store.models import DatasetRecord

__all__ = ["ImportOutcome", "content_sha256", "import_bytes", "import_file", "list_datasets", "load_dataset_table", "parse_source"]


class ImportOutcome(NamedTuple):
    dataset: DatasetRecord
    table: pa.Table
    warnings: list[str]
    created: bool


def content_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_source(data: bytes, name: str, profile: Profile | None = None):
    """Read and normalise a file's bytes without storing anything (for previews).

    Returns:
        ``(CanonicalImport | None, errors)``.
    """
    profile = profile or Profile()
    limit = config.max_import_bytes()
    if len(data) > limit:
        return None, [RowError(name, None, None, None, f"the file is {len(data) / 2**20:.1f} MB; the limit is {limit // 2**20} MB (RECON_MAX_IMPORT_MB)")]
    options = ReadOptions(profile.read.encoding, profile.read.delimiter, profile.read.quotechar, profile.read.sheet)
    raw, errors = read_table(data, name, options, profile.read.format)
    if raw is None:
        return None, errors
    return normalise_table(raw, profile, name)


def import_file(store: Store, path: str | Path, profile: str | Profile | None = None, *, user: str = "system"):
    """Import a file from disk. See :func:`import_bytes`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [RowError(path.name, None, None, None, f"cannot read the file ({exc.strerror or exc})")]
    return import_bytes(store, data, path.name, profile, user=user)


def import_bytes(store: Store, data: bytes, name: str, profile: str | Profile | None = None, *, user: str = "system"):
    """Import a source file into the store as a dataset.

    Args:
        store: where the dataset lands.
        data: the file's bytes.
        name: the file name, used in findings and shown in lists.
        profile: a ``Profile``, a profile name or path, or ``None`` for automatic mapping.
        user: who imports, recorded on the dataset and in the audit log.

    Returns:
        ``(ImportOutcome | None, errors)``. With errors, nothing was written.
    """
    if isinstance(profile, str):
        try:
            profile = load_profile(profile)
        except ProfileError as exc:
            return None, [RowError(name, None, None, None, str(exc))]
    digest = content_sha256(data)
    existing = _find(store, digest)
    if existing is not None:
        return ImportOutcome(existing, load_dataset_table(store, existing), [f"this file was already imported as dataset {existing.name!r} on {existing.created_at:%Y-%m-%d %H:%M}"], False), []
    result, errors = parse_source(data, name, profile)
    if result is None:
        return None, errors
    record = _persist(store, digest, name, result, profile, user)
    return ImportOutcome(record, result.table, result.warnings, True), []


def _find(store: Store, digest: str) -> DatasetRecord | None:
    with store.session() as session:
        return session.get(DatasetRecord, digest)


def _persist(store: Store, digest: str, name: str, result, profile: Profile | None, user: str) -> DatasetRecord:
    from core.store.db import record_audit

    folder = store.data_dir / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}.parquet"
    temporary = folder / f".{digest}.{os.getpid()}.tmp"
    table = result.table
    pq.write_table(table, temporary)
    dates = table.column("date")
    record = DatasetRecord(
        id=digest,
        name=name,
        format=result.format,
        profile=profile.name if profile and profile.name != "auto" else None,
        row_count=table.num_rows,
        account_count=len(pc.unique(table.column("account"))),
        date_from=pc.min(dates).as_py(),
        date_to=pc.max(dates).as_py(),
        amount_scale=table.schema.field("amount").type.scale,
        columns=table.column_names,
        warnings=result.warnings,
        parquet_path=str(target.relative_to(store.data_dir)),
        created_at=dt.datetime.now(dt.UTC),
        created_by=user,
    )
    try:
        os.replace(temporary, target)
        with store.session() as session:
            session.add(record)
            record_audit(session, user, "import", "dataset", digest, None,
                         {"name": name, "rows": table.num_rows, "profile": record.profile})
    except BaseException:
        temporary.unlink(missing_ok=True)
        if _find(store, digest) is None:
            target.unlink(missing_ok=True)
        raise
    return record


def load_dataset_table(store: Store, dataset: DatasetRecord | str) -> pa.Table:
    """The canonical rows of a stored dataset, exactly as imported."""
    if isinstance(dataset, str):
        found = _find(store, dataset)
        if found is None:
            raise KeyError(f"no dataset {dataset!r}")
        dataset = found
    return pq.read_table(store.data_dir / dataset.parquet_path)


def list_datasets(store: Store) -> list[DatasetRecord]:
    """Every dataset, newest first."""
    with store.session() as session:
        return list(session.scalars(select(DatasetRecord).order_by(DatasetRecord.created_at.desc(), DatasetRecord.name)))
