"""Datasets: an imported file, stored once as Parquet, known by the SHA-256 of its bytes.

The pipeline is load -> detect -> read -> normalise -> validate -> persist. Importing the
same bytes again returns the dataset already stored instead of adding rows twice. A failed
import writes nothing: the Parquet file is written to a temporary name and the metadata row
is committed last, so an error at any step leaves the store as it was.

A bank statement that does not add up is refused unless accepted on purpose
(``accept_unbalanced``): the dataset then carries a note of the differences (``unbalanced``),
every statement its ``difference`` and ``gap``, and the audit log an ``import_unbalanced``
entry, all in the dataset's own transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import select

from core import config
from core.atomic import publish, temporary_path
from core.domain.findings import RowError
from core.store import Store, record_audit
from core.store.models import DatasetRecord, StatementRecord

if TYPE_CHECKING:
    import pyarrow as pa

    from core.ingest.profiles import Profile

# Start-up speed: reading and mapping arbitrary files (and pyarrow's Parquet and compute
# modules) is imported where a file needs it, below: a canonical CSV, read by DuckDB, never does.

__all__ = ["ImportOutcome", "StagedDataset", "content_sha256", "existing_dataset", "stage_file", "import_bytes", "import_file", "list_datasets",
           "load_dataset_table", "parse_source", "unbalanced_differences", "unbalanced_notes"]


class ImportOutcome(NamedTuple):
    """A stored dataset; ``load_dataset_table`` gives its rows."""

    dataset: DatasetRecord
    warnings: list[str]
    created: bool


def content_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_source(data: bytes, name: str, profile: Profile | None = None):
    """Read and normalise a file's bytes without storing anything (for previews).

    Returns:
        ``(CanonicalImport | None, errors)``.
    """
    result, _, errors = _parse(data, name, profile)
    return result, errors


def _parse(data: bytes, name: str, profile: Profile | None, accept_unbalanced: bool = False, pdf_corrections=None):
    """``(CanonicalImport | None, statement facts, errors)``; files over the size limit are refused.

    ``pdf_corrections``: a scanned statement PDF's doubtful rows as a person confirmed them.
    """
    # Start-up speed: the readers load on the first file that is not a canonical CSV.
    from connectors.files.raw import ReadOptions
    from connectors.files.table import read_table
    from core.ingest.normalise import header_found, normalise_table
    from core.ingest.profiles import Profile

    given = profile is not None
    profile = profile or Profile()
    limit = config.max_import_bytes()
    if len(data) > limit:
        return None, [], [_too_large(name, len(data), limit)]
    from connectors.files.detect import STATEMENT_FORMATS, SourceFormatError, detect_format  # start-up speed, as above

    try:
        fmt = profile.read.format or detect_format(data, name, config.max_expanded_bytes())
    except SourceFormatError as exc:
        return None, [], [RowError(name, None, None, None, str(exc))]
    if fmt in STATEMENT_FORMATS:
        # Start-up speed: the statement readers (and their libraries) load on the first statement.
        from connectors.statements import read_statements
        from core.ingest.statements import statements_to_import

        statements, errors = read_statements(data, name, fmt, pdf_corrections, config.profiles_dir() / "pdf")
        if statements is None:
            return None, [], errors
        return statements_to_import(statements, name, fmt, default_currency=profile.defaults.currency,
                                    accept_unbalanced=accept_unbalanced)
    options = ReadOptions(profile.read.encoding, profile.read.delimiter, profile.read.quotechar, profile.read.sheet,
                          config.max_expanded_bytes())
    raw, errors = read_table(data, name, options, fmt)
    if raw is None:
        return None, [], errors
    near_misses: list[str] = []
    if not given:
        raw, profile, near_misses, errors = _known_layout(data, name, fmt, raw, options)
        if raw is None:
            return None, [], errors
    if not options.sheet and len(raw.sheets) > 1 and not header_found(raw, profile):
        raw, errors = _sheet_with_header(data, name, options, fmt, raw, profile)
        if raw is None:
            return None, [], errors
    result, errors = normalise_table(raw, profile, name)
    if result is None and near_misses:
        errors = _with_near_misses(errors, near_misses)
    return result, [], errors


_HEADER_REFUSALS = ("no header row found", "this looks like the header", "no date column in the header",
                    "no amount (or debit/credit) column in the header")


def _known_layout(data: bytes, name: str, fmt: str, raw, options):
    """A file read without a profile is held to the known layouts first (core.ingest.known_layouts).

    Returns:
        ``(raw, profile, near misses, errors)``: the table (read again when the layout says how
        to read it), the layout's profile or the automatic one, and the layouts that nearly fit.
    """
    from connectors.files.table import read_table  # start-up speed: see _parse
    from core.ingest.known_layouts import choose_layout
    from core.ingest.profiles import Profile

    choice = choose_layout(raw)
    layout = choice.profile
    if layout is None:
        return raw, Profile(), choice.near_misses, []
    wanted = options._replace(encoding=layout.read.encoding or options.encoding, delimiter=layout.read.delimiter or options.delimiter,
                              quotechar=layout.read.quotechar, sheet=layout.read.sheet or options.sheet)
    if wanted != options:
        raw, errors = read_table(data, name, wanted, fmt)
        if raw is None:
            return None, layout, [], errors
    note = f"read as the known layout {layout.name!r}" + (f": {layout.description}" if layout.description else "")
    return raw._replace(warnings=[note, *raw.warnings]), layout, [], []


def _with_near_misses(errors: list[RowError], near_misses: list[str]) -> list[RowError]:
    """A header that fits nothing names the known layouts it comes closest to, in the same line."""
    for i, error in enumerate(errors):
        if error.message.startswith(_HEADER_REFUSALS):
            note = f"; closest known layouts: {'; '.join(near_misses)}"
            return errors[:i] + [error._replace(message=error.message + note)] + errors[i + 1:]
    return errors


def _sheet_with_header(data: bytes, name: str, options, fmt: str, first, profile: Profile):
    """A workbook whose first sheet holds no transaction table (a cover or summary sheet).

    Returns:
        ``(raw, errors)``: the first other sheet with a recognised header, with a warning; else
        the errors of another sheet that could not be read (such as a formula without a saved
        value), which say more than "no header"; else the first sheet, for its own errors.
    """
    from connectors.files.table import read_table  # start-up speed: see _parse
    from core.ingest.normalise import header_found

    unreadable: list[RowError] = []
    for sheet in first.sheets:
        if sheet == first.sheet:
            continue
        raw, errors = read_table(data, name, options._replace(sheet=sheet), fmt)
        if raw is None:
            unreadable = unreadable or errors
        elif header_found(raw, profile):
            note = f"read sheet {sheet!r}: sheet {first.sheet!r} holds no table with recognised titles"
            return raw._replace(warnings=[note, *raw.warnings]), []
    return (None, unreadable) if unreadable else (first, [])


def _too_large(name: str, size: int, limit: int) -> RowError:
    return RowError(name, None, None, None, f"the file is {size / 2**20:.1f} MB; the limit is {limit // 2**20} MB (RECON_MAX_IMPORT_MB)")


def import_file(store: Store, path: str | Path, profile: str | Profile | None = None, *, user: str = "system",
                accept_unbalanced: bool = False, pdf_corrections=None):
    """Import a file from disk. See :func:`import_bytes`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [RowError(path.name, None, None, None, f"cannot read the file ({exc.strerror or exc})")]
    if profile is None and len(data) <= config.max_import_bytes():
        digest = content_sha256(data)
        existing = _stored_dataset(store, digest)
        if existing is not None:
            return _already_imported(existing), []
        fast = _import_canonical_csv(store, path, digest, user)
        if fast is not None:
            return fast, []
    return import_bytes(store, data, path.name, profile, user=user, accept_unbalanced=accept_unbalanced,
                        pdf_corrections=pdf_corrections)


class StagedDataset(NamedTuple):
    """A dataset loaded into a DuckDB table, whose storing may still be under way."""

    dataset: DatasetRecord
    table: str
    pending: object  # a concurrent.futures.Future, or None once stored


def stage_file(store: Store, path: Path, digest, con, table: str, pool, *, user: str = "system", ahead=None):
    """Load a file into the DuckDB table ``table`` of ``con`` and store it as a dataset.

    A canonical CSV is read once by DuckDB and its Parquet file and metadata row are
    written on ``pool`` while the caller goes on; any other file goes through the general
    import first. A dataset already stored is read from its Parquet file.

    Args:
        digest: the file's SHA-256, or a future of it (``str | RowError``): a canonical CSV
            is then read while the hash is computed.
        ahead: a ``ReadAhead`` of ``con`` that may be reading the file already.

    Returns:
        ``(StagedDataset | None, errors)``.
    """
    from core.ingest.canonical_csv import copy_to_parquet, load_canonical_csv, within_import_limit  # start-up speed: see _parse

    stats, tried = None, False
    if ahead is not None and ahead.has(path):
        stats, tried = ahead.take(path, table), True
    elif not isinstance(digest, str):
        stats, tried = (load_canonical_csv(con, path, table), True) if within_import_limit(path) else (None, False)
    if not isinstance(digest, str):
        digest = digest.result()
        if isinstance(digest, RowError):
            con.execute(f"DROP TABLE IF EXISTS {table}")
            return None, [digest]
    existing = _stored_dataset(store, digest)
    if existing is None and not tried and within_import_limit(path):
        stats = load_canonical_csv(con, path, table)
    if existing is None and stats is not None:
        record = _dataset_record(store, digest, path.name, "csv", None, user, stats.rows, stats.accounts, stats.date_from,
                         stats.date_to, stats.scale, stats.columns, [])

        def store_dataset(cursor=con.cursor()) -> None:
            folder = store.data_dir / "datasets"
            folder.mkdir(parents=True, exist_ok=True)
            temporary = temporary_path(folder / f"{digest}.parquet")
            try:
                copy_to_parquet(cursor, table, temporary)
            finally:
                cursor.close()
            if _stored_dataset(store, digest) is None:
                _publish_dataset(store, record, temporary)
            else:
                temporary.unlink(missing_ok=True)

        return StagedDataset(record, table, pool.submit(store_dataset)), []
    if existing is None:
        outcome, errors = import_file(store, path, user=user)
        if outcome is None:
            return None, errors
        existing = outcome.dataset
    location = str(store.data_dir / existing.parquet_path).replace("'", "''")
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet('{location}')")
    return StagedDataset(existing, table, None), []


def _already_imported(existing: DatasetRecord) -> ImportOutcome:
    return ImportOutcome(existing, [f"this file was already imported as dataset {existing.name!r} on {existing.created_at:%Y-%m-%d %H:%M}"], False)


def _import_canonical_csv(store: Store, path: Path, digest: str, user: str) -> ImportOutcome | None:
    from core.ingest.canonical_csv import write_canonical_parquet  # start-up speed: see _parse

    folder = store.data_dir / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(folder / f"{digest}.parquet")
    try:
        stats = write_canonical_parquet(path, temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if stats is None:
        temporary.unlink(missing_ok=True)
        return None
    record = _dataset_record(store, digest, path.name, "csv", None, user, stats.rows, stats.accounts, stats.date_from,
                     stats.date_to, stats.scale, stats.columns, [])
    _publish_dataset(store, record, temporary)
    return ImportOutcome(record, [], True)


def import_bytes(store: Store, data: bytes, name: str, profile: str | Profile | None = None, *, user: str = "system",
                 accept_unbalanced: bool = False, approval: Callable | None = None, pdf_corrections=None):
    """Import a source file into the store as a dataset.

    Args:
        store: where the dataset lands.
        data: the file's bytes.
        name: the file name, used in findings and shown in lists.
        profile: a ``Profile``, a profile name or path, or ``None`` for automatic mapping.
        user: who imports, recorded on the dataset and in the audit log.
        accept_unbalanced: import a bank statement that does not add up, with its differences
            recorded and flagged, instead of refusing it.
        approval: ``approval(session, dataset)``, called in the dataset's own transaction just
            before it commits (an approver's verdict); whatever it raises undoes the import.
        pdf_corrections: a scanned statement PDF's doubtful rows as a person confirmed them
            (``connectors.documents.RowCorrection`` by row number); without them such a
            statement is refused with the doubtful rows named.

    Returns:
        ``(ImportOutcome | None, errors)``. With errors, nothing was written.
    """
    profile, errors = _resolved_profile(profile, name)
    if errors:
        return None, errors
    digest = content_sha256(data)
    existing = _stored_dataset(store, digest)
    if existing is not None:
        return _already_imported(existing), []
    result, facts, errors = _checked_parse(store, data, name, profile, accept_unbalanced, pdf_corrections)
    if result is None:
        return None, errors
    record = _store_dataset(store, digest, name, result, profile, user, facts, approval)
    return ImportOutcome(record, result.warnings, True), []


def _resolved_profile(profile: str | Profile | None, name: str):
    """``(Profile | None, errors)`` for a profile given by name or path."""
    if not isinstance(profile, str):
        return profile, []
    from core.ingest.profiles import ProfileError, load_profile  # start-up speed: see _parse

    try:
        return load_profile(profile), []
    except ProfileError as exc:
        return None, [RowError(name, None, None, None, str(exc))]


def _checked_parse(store: Store, data: bytes, name: str, profile: Profile | None, accept_unbalanced: bool, pdf_corrections=None):
    """``(CanonicalImport | None, statement facts, errors)``: the file read, and its statements checked against the store."""
    result, facts, errors = _parse(data, name, profile, accept_unbalanced, pdf_corrections)
    if result is None or not facts:
        return result, facts, errors
    from core.ingest.statements import check_against_store  # start-up speed: see _parse

    with store.session() as session:
        facts, errors = check_against_store(session, facts, name, accept_unbalanced)
    return (None, [], errors) if errors else (result, facts, [])


def unbalanced_differences(store: Store, data: bytes, name: str, profile: str | Profile | None = None) -> list[str]:
    """What would be recorded if the file were imported although it does not add up.

    Returns:
        One readable line per statement that does not add up; empty when the file adds up,
        or when it is refused for another reason as well (that reason must be fixed first).
    """
    profile, errors = _resolved_profile(profile, name)
    if errors:
        return []
    from core.ingest.statements import difference_notes  # start-up speed: see _parse

    result, facts, _ = _checked_parse(store, data, name, profile, True)
    return difference_notes(facts) if result is not None else []


def unbalanced_notes(store: Store, dataset_ids) -> dict[str, str]:
    """Dataset id -> its note of differences, for those of ``dataset_ids`` imported unbalanced."""
    wanted = sorted(set(dataset_ids))
    if not wanted:
        return {}
    with store.session() as session:
        return dict(session.execute(select(DatasetRecord.id, DatasetRecord.unbalanced)
                                    .where(DatasetRecord.id.in_(wanted), DatasetRecord.unbalanced.is_not(None))).all())


def existing_dataset(store: Store, data: bytes) -> DatasetRecord | None:
    """The dataset these exact bytes were already imported as, if any."""
    return _stored_dataset(store, content_sha256(data))


def _stored_dataset(store: Store, digest: str) -> DatasetRecord | None:
    with store.session() as session:
        return session.get(DatasetRecord, digest)


def _store_dataset(store: Store, digest: str, name: str, result, profile: Profile | None, user: str, facts=(),
                   approval: Callable | None = None) -> DatasetRecord:
    # Start-up speed: pyarrow's compute and Parquet modules load on the first file stored this way.
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = store.data_dir / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(folder / f"{digest}.parquet")
    table = result.table
    try:
        pq.write_table(table, temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    dates = table.column("date")
    chosen = result.profile or (profile.name if profile and profile.name != "auto" else None)
    record = _dataset_record(store, digest, name, result.format, chosen, user,
                     table.num_rows, len(pc.unique(table.column("account"))), pc.min(dates).as_py(), pc.max(dates).as_py(),
                     table.schema.field("amount").type.scale, table.column_names, result.warnings)
    if any(fact.unbalanced() for fact in facts):
        from core.ingest.statements import difference_notes  # start-up speed: see _parse

        record.unbalanced = "; ".join(difference_notes(facts))
    _publish_dataset(store, record, temporary, facts, approval)
    return record


def _dataset_record(store: Store, digest: str, name: str, fmt: str, profile: str | None, user: str, rows: int, accounts: int,
            date_from, date_to, scale: int, columns: list[str], warnings: list[str]) -> DatasetRecord:
    target = store.data_dir / "datasets" / f"{digest}.parquet"
    return DatasetRecord(id=digest, name=name, format=fmt, profile=profile, row_count=rows, account_count=accounts,
                         date_from=date_from, date_to=date_to, amount_scale=scale, columns=columns, warnings=warnings,
                         parquet_path=str(target.relative_to(store.data_dir)), created_at=dt.datetime.now(dt.UTC), created_by=user)


def _publish_dataset(store: Store, record: DatasetRecord, temporary: Path, facts=(), approval: Callable | None = None) -> None:
    """Move the Parquet file into place and commit its metadata row; undo the move on failure.

    ``approval``: see :func:`import_bytes`; its transaction is then serialised with other writers.
    """
    target = store.data_dir / record.parquet_path
    try:
        publish(temporary, target)
        with store.session(serialised=approval is not None) as session:
            session.add(record)
            session.flush()
            for fact in facts:
                session.add(StatementRecord(dataset_id=record.id, account=fact.account, currency=fact.currency, number=fact.number,
                                            period_from=fact.period_from, period_to=fact.period_to, opening=fact.opening,
                                            closing=fact.closing, entry_count=fact.entry_count, content_sha256=fact.content_sha256,
                                            difference=fact.difference, gap=fact.gap))
            record_audit(session, record.created_by, "import", "dataset", record.id, None,
                         {"name": record.name, "rows": record.row_count, "profile": record.profile})
            if record.unbalanced:
                record_audit(session, record.created_by, "import_unbalanced", "dataset", record.id, None,
                             {"name": record.name, "differences": record.unbalanced})
            if approval is not None:
                approval(session, record)
    except BaseException:
        temporary.unlink(missing_ok=True)
        if _stored_dataset(store, record.id) is None:
            target.unlink(missing_ok=True)
        raise


def load_dataset_table(store: Store, dataset: DatasetRecord | str) -> pa.Table:
    """The canonical rows of a stored dataset, exactly as imported."""
    import pyarrow.parquet as pq  # start-up speed: see _parse

    if isinstance(dataset, str):
        found = _stored_dataset(store, dataset)
        if found is None:
            raise KeyError(f"no dataset {dataset!r}")
        dataset = found
    return pq.read_table(store.data_dir / dataset.parquet_path)


def list_datasets(store: Store) -> list[DatasetRecord]:
    """Every dataset, newest first."""
    with store.session() as session:
        return list(session.scalars(select(DatasetRecord).order_by(DatasetRecord.created_at.desc(), DatasetRecord.name)))
