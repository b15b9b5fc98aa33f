"""``python -m core`` as scripts call it: exit codes, messages, canonical output."""

import csv
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, data_dir: Path, cwd: Path | None = None):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RECON_DEBUG")}
    env["RECON_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, env=env, cwd=cwd or ROOT, timeout=120)


def test_import_bom_semicolon_decimal_comma_writes_exact_canonical_columns(tmp_path):
    source = tmp_path / "kontoauszug.csv"
    source.write_bytes("\ufeffBuchungstag;Konto;Betrag;Währung;Referenz;Verwendungszweck\n"
                       "02.01.2025;DE01;1.234,56;EUR;RF18 5390 0754 7034;Miete\n"
                       "03.01.2025;DE01;-1.000.000,01;EUR;;Kauf\n"
                       "04.01.2025;DE01;0,10;EUR;;Zins\n".encode())
    out = tmp_path / "out" / "normalized.csv"
    result = run_cli("import", str(source), "--out", str(out), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout and "3 rows" in result.stdout
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0])[:7] == ["id", "account", "date", "amount", "currency", "reference", "description"]
    assert [(r["date"], r["amount"], r["currency"]) for r in rows] == [
        ("2025-01-02", "1234.56", "EUR"), ("2025-01-03", "-1000000.01", "EUR"), ("2025-01-04", "0.10", "EUR")]
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal("-998765.35")
    assert rows[0]["reference"] == "RF18 5390 0754 7034"

    again = run_cli("import", str(source), data_dir=tmp_path / "data")
    assert again.returncode == 0
    assert "already imported" in again.stderr
    assert list(csv.DictReader(io.StringIO(again.stdout)))[1]["amount"] == "-1000000.01"


def test_import_with_a_profile_by_name(tmp_path):
    source = tmp_path / "fnb.csv"
    source.write_text("First National Bank\nAccount Number:,4471\n\nPosting Date,Description,Check or Slip #,Debit,Credit\n"
                      '10/02/2026,Fee,,"1,035.00",\n10/13/2026,Deposit,DEP1,,200.00\n')
    result = run_cli("import", str(source), "--profile", "first_national_usd", data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["account"], r["date"], r["amount"], r["currency"]) for r in rows] == [
        ("4471", "2026-10-02", "-1035.00", "USD"), ("4471", "2026-10-13", "200.00", "USD")]


def test_import_names_the_known_layout_it_recognised_and_a_layout_can_be_forced(tmp_path):
    source = tmp_path / "chase.csv"
    source.write_text("Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #\n"
                      "DEBIT,01/03/2024,CORNER COFFEE,-4.50,DEBIT_CARD,995.50,,\nCREDIT,01/05/2024,PAYROLL,1500.00,ACH_CREDIT,2495.50,,\n")
    result = run_cli("import", str(source), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "read with profile chase_checking" in result.stderr
    assert "warning: read as the known layout 'chase_checking'" in result.stderr
    assert [(r["date"], r["amount"], r["currency"]) for r in csv.DictReader(io.StringIO(result.stdout))] == [
        ("2024-01-03", "-4.50", "USD"), ("2024-01-05", "1500.00", "USD")]

    revolut = tmp_path / "revolut.csv"
    revolut.write_text("Type,Started Date,Completed Date,Description,Amount,Fee,Currency,State\n"
                       "TRANSFER,2024-05-01 08:00:00,2024-05-01 08:00:05,To savings,-20.00,0.10,EUR,COMPLETED\n")
    forced = run_cli("import", str(revolut), "--profile", "revolut", data_dir=tmp_path / "data")
    assert forced.returncode == 0, forced.stderr
    assert [r["amount"] for r in csv.DictReader(io.StringIO(forced.stdout))] == ["-20.10"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"Date,Amount,Currency\n2024-01-01,1.00,USD\n2024-01-02,abc,USD\n", "bad.csv, row 3, column 'Amount': 'abc' is not a number"),
        (b"", "bad.csv: the file is empty"),
        (b"Date,Amount,Currency\n2024-01-01,1.00,USD\n2024-01-02,2", "bad.csv, row 3, column 'field 2'"),
    ],
)
def test_bad_input_exits_2_with_file_row_column_and_no_traceback(tmp_path, content, expected):
    source = tmp_path / "bad.csv"
    source.write_bytes(content)
    result = run_cli("import", str(source), data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not list((tmp_path / "data").glob("datasets/*.parquet"))


def test_missing_file_and_unknown_profile_exit_2(tmp_path):
    result = run_cli("import", str(tmp_path / "nope.csv"), data_dir=tmp_path / "data")
    assert result.returncode == 2 and "nope.csv: cannot read the file" in result.stderr
    (tmp_path / "ok.csv").write_text("Date,Amount,Currency\n2024-01-01,1.00,USD\n")
    result = run_cli("import", str(tmp_path / "ok.csv"), "--profile", "nosuch", data_dir=tmp_path / "data")
    assert result.returncode == 2 and "no profile named 'nosuch'" in result.stderr
    assert "Traceback" not in result.stderr


def test_format_is_detected_from_content_not_the_name(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["Date", "Amount", "Currency"])
    workbook.active.append(["2024-01-01", 5, "USD"])
    disguised = tmp_path / "registrar_report.xls"
    workbook.save(disguised)
    result = run_cli("import", str(disguised), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert list(csv.DictReader(io.StringIO(result.stdout)))[0]["amount"] == "5.00"


def test_demo_command_seeds_and_is_idempotent(tmp_path):
    first = run_cli("demo", data_dir=tmp_path / "data")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("imported") == 5
    assert first.stdout.count("run ") == 4
    second = run_cli("demo", data_dir=tmp_path / "data")
    assert second.stdout.count("already there") == 11  # users, 5 files, 4 runs, the pipeline
    third = run_cli("demo", "--if-empty", data_dir=tmp_path / "data")
    assert "not seeded" in third.stdout


BOOKS = "id,account,date,amount,currency,reference\nb1,A,2026-10-01,100.00,USD,INV-1\nb2,A,2026-10-02,-5.00,USD,\nb3,A,2026-10-02,9.99,USD,\n"
BANK = "id,account,date,amount,currency,reference\ns1,A,2026-10-02,100.00,USD,inv 1\ns2,A,2026-10-03,-5.00,USD,\ns3,A,2026-10-03,-35.00,USD,FEE\n"


def test_match_writes_the_contract_files(tmp_path):
    import json

    (tmp_path / "books.csv").write_text(BOOKS)
    (tmp_path / "bank.csv").write_text(BANK)
    result = run_cli("match", "--internal", str(tmp_path / "books.csv"), "--external", str(tmp_path / "bank.csv"),
                     "--out", str(tmp_path / "out"), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    matches = (tmp_path / "out" / "matches.csv").read_text().splitlines()
    assert matches == [
        "match_id,side,record_id,rule,status,amount_diff,days_diff",
        "1,internal,b1,reference_and_amount,confirmed,0.00,1",
        "1,external,s1,reference_and_amount,confirmed,0.00,1",
        "2,internal,b2,amount_and_date,confirmed,0.00,1",
        "2,external,s2,amount_and_date,confirmed,0.00,1",
    ]
    assert (tmp_path / "out" / "breaks.csv").read_text().splitlines() == [
        "side,record_id,account,date,amount,reason",
        "internal,b3,A,2026-10-02,9.99,unmatched",
        "external,s3,A,2026-10-03,-35.00,unmatched",
    ]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["groups"] == {"total": 2, "confirmed": 2, "proposed": 0}
    assert summary["passes"]["reference_and_amount"]["internal_amount"] == "100.00"
    assert summary["sides"]["external"] == {"records": 3, "matched": 2, "open": 1, "amount": "60.00", "open_amount": "-35.00"}
    first = {name: (tmp_path / "out" / name).read_bytes() for name in ("matches.csv", "breaks.csv", "summary.json")}
    again = run_cli("match", "--internal", str(tmp_path / "books.csv"), "--external", str(tmp_path / "bank.csv"),
                    "--out", str(tmp_path / "out2"), data_dir=tmp_path / "data")
    assert again.returncode == 0
    assert {name: (tmp_path / "out2" / name).read_bytes() for name in first} == first


def test_match_reads_any_supported_file_and_custom_rules(tmp_path):
    (tmp_path / "books.csv").write_text(BOOKS)
    (tmp_path / "bank.csv").write_bytes("Datum;Konto;Betrag;Währung\n02.10.2026;A;100,00;USD\n".encode("cp1252"))
    (tmp_path / "rules.toml").write_text("name = 'tight'\n[[passes]]\nname = 'same_day_only'\n")
    result = run_cli("match", "--internal", str(tmp_path / "books.csv"), "--external", str(tmp_path / "bank.csv"),
                     "--rules", str(tmp_path / "rules.toml"), "--out", str(tmp_path / "out"), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "matches.csv").read_text().count("same_day_only") == 0
    assert "internal,b1" in (tmp_path / "out" / "breaks.csv").read_text()


def test_match_bad_input_exits_2_and_saves_no_run(tmp_path):
    (tmp_path / "books.csv").write_text(BOOKS.replace("9.99", "9.9x"))
    (tmp_path / "bank.csv").write_text(BANK)
    result = run_cli("match", "--internal", str(tmp_path / "books.csv"), "--external", str(tmp_path / "bank.csv"),
                     "--out", str(tmp_path / "out"), data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert "books.csv, row 4, column 'amount': '9.9x' is not a number" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "matches.csv").exists()
    import sqlite3

    with sqlite3.connect(tmp_path / "data" / "recon.db") as db:
        assert db.execute("select count(*) from runs").fetchone()[0] == 0


def test_match_with_a_bad_rule_set_exits_2_naming_the_pass(tmp_path):
    (tmp_path / "books.csv").write_text(BOOKS)
    (tmp_path / "bank.csv").write_text(BANK)
    (tmp_path / "rules.toml").write_text("[[passes]]\nname = 'x'\ndate_windw = 3\n")
    result = run_cli("match", "--internal", str(tmp_path / "books.csv"), "--external", str(tmp_path / "bank.csv"),
                     "--rules", str(tmp_path / "rules.toml"), "--out", str(tmp_path / "out"), data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert "rules.toml: pass 1 (x).date_windw" in result.stderr


@pytest.mark.parametrize("command", ["match", "holdings", "import"])
def test_an_out_path_that_cannot_be_written_exits_2_before_any_work(tmp_path, command):
    (tmp_path / "books.csv").write_text(BOOKS)
    (tmp_path / "bank.csv").write_text(BANK)
    (tmp_path / "in_the_way").write_text("a file, not a folder")
    (tmp_path / "a_folder").mkdir()
    if command == "import":
        cases = [(tmp_path / "a_folder", "is a folder; give a file name"),
                 (tmp_path / "in_the_way" / "normalized.csv", "in_the_way is a file, not a folder")]
    else:
        cases = [(tmp_path / "in_the_way", "a file of that name is in the way; give a folder"),
                 (tmp_path / "in_the_way" / "deeper" / "out", "in_the_way is a file, not a folder")]
    for out, message in cases:
        if command == "match":
            args = ["match", "--internal", str(tmp_path / "books.csv"), "--external", str(tmp_path / "bank.csv"), "--out", str(out)]
        elif command == "holdings":
            args = ["holdings", "--internal", str(tmp_path / "books.csv"), "--registrar", str(tmp_path / "bank.csv"),
                    "--as-of", "2026-10-31", "--out", str(out)]
        else:
            args = ["import", str(tmp_path / "books.csv"), "--out", str(out)]
        result = run_cli(*args, data_dir=tmp_path / "data")
        assert result.returncode == 2, result.stderr
        assert f"--out {out}: " in result.stderr and message in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        # Refused before the store was opened: no dataset, no run.
        assert not (tmp_path / "data").exists()
    assert (tmp_path / "in_the_way").read_text() == "a file, not a folder"


def test_match_of_a_file_against_itself_or_a_copy_exits_2_and_saves_nothing(tmp_path):
    (tmp_path / "books.csv").write_text(BOOKS)
    (tmp_path / "copy.csv").write_text(BOOKS)
    for external, message in (("copy.csv", "copy.csv: has the same content as the books (books.csv)"),
                              ("books.csv", "books.csv: is the same file as the books (books.csv)")):
        result = run_cli("match", "--internal", str(tmp_path / "books.csv"), "--external", str(tmp_path / external),
                         "--out", str(tmp_path / "out"), data_dir=tmp_path / "data")
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    assert not list((tmp_path / "data").glob("datasets/*.parquet"))
    missing = run_cli("match", "--internal", str(tmp_path / "nope.csv"), "--external", str(tmp_path / "nope.csv"),
                      "--out", str(tmp_path / "out"), data_dir=tmp_path / "data")
    assert missing.returncode == 2 and "nope.csv: cannot read the file" in missing.stderr


def test_import_out_and_match_out_neutralise_formulas_and_keep_a_lone_cr_inside_its_record(tmp_path):
    import pandas as pd

    source = tmp_path / "books.csv"
    source.write_bytes('id,account,date,amount,currency,reference,description\n'
                       'b1,A,2026-10-01,-12.50,USD,\uff1dHYPERLINK("x"),"pay\r=1+1"\n'
                       '@b2,A,2026-10-02,5.00,USD,-7,plain\n'.encode())
    out = tmp_path / "normalized.csv"
    result = run_cli("import", str(source), "--out", str(out), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    written = out.read_bytes().decode("utf-8")
    records = list(csv.DictReader(io.StringIO(written, newline="")))
    assert [(r["id"], r["amount"], r["reference"], r["description"]) for r in records] == [
        ("b1", "-12.50", "'\uff1dHYPERLINK(\"x\")", "pay\r=1+1"), ("'@b2", "5.00", "'-7", "plain")]
    assert len(pd.read_csv(io.StringIO(written), dtype=str)) == 2
    to_stdout = run_cli("import", str(source), data_dir=tmp_path / "data")
    assert to_stdout.stdout == written.replace("\r", "\n")  # the same rows (run_cli reads text with universal newlines)

    (tmp_path / "bank.csv").write_text(BANK)
    matched = run_cli("match", "--internal", str(source), "--external", str(tmp_path / "bank.csv"), "--out", str(tmp_path / "out"),
                      data_dir=tmp_path / "data")
    assert matched.returncode == 0, matched.stderr
    breaks = list(csv.DictReader((tmp_path / "out" / "breaks.csv").open(encoding="utf-8", newline="")))
    assert ("internal", "'@b2", "5.00") in [(b["side"], b["record_id"], b["amount"]) for b in breaks]
    assert not any(b["record_id"].startswith(("=", "+", "-", "@")) for b in breaks)


def test_migrate_brings_a_new_store_to_the_newest_revision_and_says_so(tmp_path):
    from core.store.db import head_revision

    first = run_cli("migrate", data_dir=tmp_path / "data")
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"store (sqlite) at revision {head_revision()}, the newest\n"
    assert (tmp_path / "data" / "recon.db").exists()
    again = run_cli("migrate", data_dir=tmp_path / "data")
    assert (again.returncode, again.stdout) == (0, first.stdout)
