"""Export requests: one file per request, reused, joined while it runs, refreshed on demand, on SQLite and PostgreSQL."""

import csv
import datetime as dt
import io
import threading

import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

import core.exports.files as files
from core.exports.requests import (ExportError, ExportRequest, export_now, export_statistics, get_export, list_exports, request_export,
                                   run_export)
from core.store.models import ExportAsk, ExportRecord
from tests.core.exports.export_helpers import add_dataset, rows_table


def exported_files(store):
    folder = store.data_dir / "exports"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def csv_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_the_same_request_twice_makes_one_file_and_is_reused(store):
    add_dataset(store, rows_table(50))
    request = ExportRequest("transactions", accounts=("ACC-1",), date_from=dt.date(2026, 10, 3), date_to=dt.date(2026, 10, 20))
    first, done = export_now(store, request, actor="ana")
    second, again = export_now(store, request, actor="bob")
    assert (first.reused, second.reused) == (False, True)
    assert second.reference_id == first.reference_id and again.sha256 == done.sha256
    assert len(exported_files(store)) == 1
    rows = csv_rows(done.location)
    expected = [r for r in rows_table(50).to_pylist()
                if r["account"] == "ACC-1" and dt.date(2026, 10, 3) <= r["date"] <= dt.date(2026, 10, 20)]
    assert [r[0] for r in rows[1:]] == [r["id"] for r in expected] and done.row_count == len(expected) > 0
    assert [r[3] for r in rows[1:]] == [str(r["amount"]) for r in expected]
    view = get_export(store, first.reference_id)
    assert (view.status, view.requested_by, view.reused, view.asks) == ("COMPLETED", "ana", True, 2)
    assert view.file_size == len(open(done.location, "rb").read())


def test_the_same_request_written_another_way_is_the_same_request(store):
    add_dataset(store, rows_table(5))
    first = request_export(store, ExportRequest("transactions", accounts=("ACC-2", "ACC-1"), format="CSV"), actor="ana")
    second = request_export(store, ExportRequest("Transactions", accounts=("ACC-1", "ACC-2", "ACC-1")), actor="ana")
    assert second.reference_id == first.reference_id and second.reused


def test_a_forced_refresh_makes_a_new_file_and_new_data_a_new_export(store):
    add_dataset(store, rows_table(10))
    request = ExportRequest("transactions", format="parquet")
    first, _ = export_now(store, request, actor="ana")
    forced, done = export_now(store, request, actor="ana", force=True)
    assert forced.reference_id != first.reference_id and not forced.reused and done.status == "COMPLETED"
    add_dataset(store, rows_table(3, start=100), name="more.parquet")
    newer, fresh = export_now(store, request, actor="ana")
    assert newer.reference_id not in (first.reference_id, forced.reference_id) and not newer.reused
    assert pq.read_table(fresh.location).num_rows == 13 and len(exported_files(store)) == 3
    assert export_now(store, request, actor="bob")[0].reference_id == newer.reference_id


def test_concurrent_identical_requests_make_one_file(store):
    add_dataset(store, rows_table(20_000))
    request = ExportRequest("transactions")
    results, errors = [], []
    barrier = threading.Barrier(4)

    def ask(name):
        try:
            barrier.wait()
            results.append(export_now(store, request, actor=name))
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(f"user{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({ticket.reference_id for ticket, _ in results}) == 1
    assert sorted(ticket.reused for ticket, _ in results) == [False, True, True, True]
    assert {view.status for _, view in results} == {"COMPLETED"}
    assert len(exported_files(store)) == 1
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(ExportRecord)) == 1
        assert session.scalar(select(func.count()).select_from(ExportAsk)) == 4


def test_formula_like_text_is_neutralised_in_every_format(store):
    texts = ["=HYPERLINK(\"http://x\")", "  =1+1", "\u3000=2", "\uff1dSUM(A1)", "+1", "-7", "@cmd", "\tTAB", "plain", ""]
    add_dataset(store, rows_table(len(texts), description=lambda n: texts[n]))
    expected = ["'" + t for t in texts[:-2]] + ["plain", ""]
    _, written = export_now(store, ExportRequest("transactions"), actor="ana")
    rows = csv_rows(written.location)
    assert [r[6] for r in rows[1:]] == expected
    assert [r[3] for r in rows[1:]][:2] == ["0.00", "-0.01"]  # amounts stay numbers
    _, book = export_now(store, ExportRequest("transactions", format="xlsx"), actor="ana")
    sheet = load_workbook(book.location).active
    cells = [row[6] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert cells == expected[:-1] + [None]
    assert [row[3] for row in sheet.iter_rows(min_row=2, max_row=3, values_only=True)] == [0, -0.01]
    _, table = export_now(store, ExportRequest("transactions", format="parquet"), actor="ana")
    assert pq.read_table(table.location).column("description").to_pylist() == expected


def test_xlsx_starts_a_new_sheet_past_the_row_limit(store, tmp_path):
    add_dataset(store, rows_table(7))
    request = ExportRequest("transactions", format="xlsx").canonical()
    written = files.write_export(store, request, tmp_path / "out.xlsx", sheet_rows=3)
    book = load_workbook(tmp_path / "out.xlsx")
    assert book.sheetnames == ["data", "data 2", "data 3"] and written.row_count == 7
    ids = [[row[0] for row in book[name].iter_rows(values_only=True)] for name in book.sheetnames]
    assert ids == [["id", "r0", "r1", "r2"], ["id", "r3", "r4", "r5"], ["id", "r6"]]
    assert files.SHEET_ROWS == 1_048_575


def test_a_failed_export_leaves_no_file_and_says_why(store, monkeypatch):
    add_dataset(store, rows_table(10))
    real = files.write_export

    def broken(store_, request, path, **kwargs):
        real(store_, request, path, **kwargs)  # the file is written whole, then the disk "fills"
        raise OSError("No space left on device")

    monkeypatch.setattr(files, "write_export", broken)
    ticket, view = export_now(store, ExportRequest("transactions"), actor="ana")
    assert view.status == "FAILED" and "No space left on device" in view.error
    assert exported_files(store) == []
    monkeypatch.setattr(files, "write_export", real)
    again, done = export_now(store, ExportRequest("transactions"), actor="ana")
    assert again.reference_id == ticket.reference_id and done.status == "COMPLETED" and done.attempts == 2
    assert len(exported_files(store)) == 1


def test_bad_requests_are_refused_in_one_line(store):
    add_dataset(store, rows_table(3))
    for request, words in [(ExportRequest("ledger"), "kind 'ledger'"), (ExportRequest("transactions", format="pdf"), "format 'pdf'"),
                           (ExportRequest("transactions", date_from=dt.date(2026, 2, 1), date_to=dt.date(2026, 1, 1)), "is after"),
                           (ExportRequest("transactions", dataset_id="nope"), "no dataset 'nope'"),
                           (ExportRequest("breaks"), "no completed reconciliation run"),
                           (ExportRequest("transactions", destination="ftp://x"), "neither a folder")]:
        with pytest.raises(ExportError, match=words):
            request_export(store, request, actor="ana")
    with pytest.raises(ExportError, match="no export"):
        run_export(store, "exp_missing", worker="w")


def test_a_relative_folder_is_refused_and_a_folder_only_where_folders_are_allowed(store, tmp_path):
    """A relative path would land in whatever folder the server runs in; a folder on the server is
    for those allowed to name one (an admin, the command line), not for everyone who exports."""
    add_dataset(store, rows_table(3))
    for relative in ("nowhere", "../../etc", "exports/daily"):
        with pytest.raises(ExportError, match="is not local, a folder's absolute path or s3://"):
            request_export(store, ExportRequest("transactions", destination=relative), actor="ana")
    with pytest.raises(ExportError, match="a folder on the server is for an admin"):
        request_export(store, ExportRequest("transactions", destination=str(tmp_path / "out")), actor="ana", folders=False)
    assert list_exports(store) == []
    assert request_export(store, ExportRequest("transactions"), actor="ana", folders=False).status == "PENDING"
    assert request_export(store, ExportRequest("transactions", destination=str(tmp_path / "out")), actor="ana").status == "PENDING"


def test_statistics_and_history(store):
    add_dataset(store, rows_table(100))
    export_now(store, ExportRequest("transactions"), actor="ana")
    export_now(store, ExportRequest("transactions"), actor="bob")
    export_now(store, ExportRequest("transactions", format="parquet"), actor="ana")
    export_now(store, ExportRequest("transactions", accounts=("ACC-1",)), actor="ana")
    stats = export_statistics(store)
    assert (stats["requests"], stats["reused"], stats["exports"]) == (4, 1, 3)
    assert stats["reuse_rate"] == pytest.approx(0.25) and stats["success_rate"] == 1.0
    assert stats["rows"] == 250 and stats["bytes"] == sum(v.file_size for v in list_exports(store))
    assert stats["median_duration_seconds"] > 0 and stats["by_format"] == {"csv": 2, "parquet": 1}
    history = list_exports(store, limit=2)
    assert len(history) == 2 and history[0].created_at >= history[1].created_at
    assert len(list_exports(store, limit=2, offset=2)) == 1


def test_breaks_matches_and_journals_export(store):
    from core.ingest.datasets import import_bytes
    from core.matching.rules import default_rules_path, load_rules
    from core.runs.reconcile import reconcile_datasets

    books = b"id,account,date,amount,currency,reference\nb1,A,2026-10-01,100.00,USD,INV-1\nb2,A,2026-10-06,-0.05,USD,\n"
    bank = b"id,account,date,amount,currency,reference\ns1,A,2026-10-02,100.00,USD,inv1\ns4,A,2026-10-07,-12.345,USD,FEE\n"
    internal, _ = import_bytes(store, books, "books.csv")
    external, _ = import_bytes(store, bank, "bank.csv")
    reconcile_datasets(store, internal.dataset, external.dataset, load_rules(), default_rules_path().read_text(), user="ana")
    _, breaks = export_now(store, ExportRequest("breaks"), actor="ana")
    rows = csv_rows(breaks.location)
    assert sorted((r[rows[0].index("record_id")], r[rows[0].index("amount")]) for r in rows[1:]) == [("b2", "-0.050"), ("s4", "-12.345")]
    _, matches = export_now(store, ExportRequest("matches", format="csv"), actor="ana")
    rows = csv_rows(matches.location)
    assert rows[0][:8] == ["run_id", "match_id", "side", "record_id", "rule", "status", "amount_diff", "days_diff"]
    assert [(r[2], r[3], r[5]) for r in rows[1:]] == [("external", "s1", "confirmed"), ("internal", "b1", "confirmed")]
    _, journals = export_now(store, ExportRequest("journals"), actor="ana")
    assert journals.status == "COMPLETED" and journals.row_count == 0
    assert io.StringIO(open(journals.location).read()).readline().startswith("journal_id,date,status")


def test_the_fast_path_skips_only_text_the_rule_leaves_alone():
    from core.exports.writers import neutralise_formula

    low, high = files.SAFE_FIRST
    skipped = [chr(code) for code in range(low, high + 1) if code not in (61, 64)]
    assert [c for c in skipped if neutralise_formula(c + "1+1") != c + "1+1"] == []
    assert neutralise_formula("=1") == "'=1" and neutralise_formula("@1") == "'@1"


def test_a_pipeline_exports_the_breaks_of_its_own_run_and_a_failure_fails_the_step(store, monkeypatch):
    from core.exports.requests import export_or_fail
    from core.ingest.datasets import import_bytes
    from core.matching.rules import default_rules_path, load_rules
    from core.runs.reconcile import reconcile_datasets

    books = b"id,account,date,amount,currency,reference\nb1,A,2026-10-01,100.00,USD,INV-1\nb2,A,2026-10-06,-0.05,USD,\n"
    bank = b"id,account,date,amount,currency,reference\ns1,A,2026-10-02,100.00,USD,inv1\n"
    internal, _ = import_bytes(store, books, "books.csv")
    external, _ = import_bytes(store, bank, "bank.csv")
    first = reconcile_datasets(store, internal.dataset, external.dataset, load_rules(), default_rules_path().read_text(), user="ana")
    view = export_or_fail(store, ExportRequest("breaks", run_id=first.run.id), actor="pipeline", worker="worker-1")
    rows = csv_rows(view.location)
    assert [r[rows[0].index("run_id")] for r in rows[1:]] == [str(first.run.id)] and view.row_count == 1
    with pytest.raises(ExportError, match="no completed reconciliation run 999"):
        export_or_fail(store, ExportRequest("breaks", run_id=999), actor="pipeline", worker="worker-1")
    with pytest.raises(ExportError, match="run_id is for breaks and matches only"):
        ExportRequest("journals", run_id=first.run.id).canonical()
    monkeypatch.setattr(files, "write_export", lambda *a, **k: (_ for _ in ()).throw(OSError("disk unplugged")))
    with pytest.raises(ExportError, match="failed: OSError: disk unplugged"):
        export_or_fail(store, ExportRequest("matches", run_id=first.run.id), actor="pipeline", worker="worker-1")


def test_asking_again_for_an_export_whose_worker_died_retries_it(store):
    import datetime as dt_

    from sqlalchemy import update

    add_dataset(store, rows_table(5))
    ticket = request_export(store, ExportRequest("transactions"), actor="ana")
    long_ago = dt_.datetime.now(dt_.UTC) - dt_.timedelta(hours=1)
    with store.session() as session:  # a worker took it an hour ago and has said nothing since
        session.execute(update(ExportRecord).values(status="RUNNING", worker="gone", started_at=long_ago, heartbeat_at=long_ago,
                                                    attempts=1))
    again, done = export_now(store, ExportRequest("transactions"), actor="bob")
    assert (again.reference_id, again.reused, again.message) == (ticket.reference_id, False,
                                                                  "the same export failed before: it is started again")
    assert (done.status, done.attempts, done.row_count) == ("COMPLETED", 2, 5)
