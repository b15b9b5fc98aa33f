"""XLSX quirks: header below title rows, merged cells, serial and text dates, numbers as text."""

import datetime as dt
import io
from decimal import Decimal

from openpyxl import Workbook

from core.ingest.datasets import parse_source
from core.ingest.profiles import parse_profile


def workbook_bytes(build) -> bytes:
    workbook = Workbook()
    build(workbook.active)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_header_is_found_below_title_rows_and_merged_title_cells():
    def build(sheet):
        sheet["A1"] = "Broker Cash Activity"
        sheet.merge_cells("A1:E1")
        sheet["A2"] = "Account: BRK-001"
        sheet.append([])
        sheet.append(["Settle Date", "Description", "Amount", "Currency", "Reference"])
        sheet.append([dt.datetime(2024, 5, 2), "Dividend", 120.5, "USD", "D1"])
        sheet.append([dt.datetime(2024, 5, 3), "Fee", -3.25, "USD", "F1"])

    result, errors = parse_source(workbook_bytes(build), "broker.xlsx")
    assert errors == []
    assert result.header_row == 4
    rows = result.table.to_pylist()
    assert [(r["account"], r["date"], r["amount"]) for r in rows] == [
        ("BRK-001", dt.date(2024, 5, 2), Decimal("120.50")),
        ("BRK-001", dt.date(2024, 5, 3), Decimal("-3.25")),
    ]


def test_merged_cells_in_the_data_fill_every_row_they_cover():
    def build(sheet):
        sheet.append(["Date", "Account", "Amount", "Currency"])
        sheet.append([dt.date(2024, 5, 2), "ACC-1", 10, "EUR"])
        sheet.append([dt.date(2024, 5, 2), None, 20, "EUR"])
        sheet.append([dt.date(2024, 5, 2), None, 30, "EUR"])
        sheet.merge_cells("B2:B4")
        sheet.merge_cells("A2:A4")

    result, errors = parse_source(workbook_bytes(build), "merged.xlsx")
    assert errors == []
    assert [(r["account"], r["date"]) for r in result.table.to_pylist()] == [("ACC-1", dt.date(2024, 5, 2))] * 3


def test_dates_stored_as_serial_numbers_or_text():
    def build(sheet):
        sheet.append(["Value Date", "Trade Date", "Amount", "Currency"])
        sheet.append([45413, "30/04/2024", 1, "USD"])
        sheet.append([45414, "01/05/2024", 2, "USD"])

    result, errors = parse_source(workbook_bytes(build), "serial.xlsx")
    assert errors == []
    rows = result.table.to_pylist()
    assert [r["date"] for r in rows] == [dt.date(2024, 5, 1), dt.date(2024, 5, 2)]
    assert [r["trade_date"] for r in rows] == [dt.date(2024, 4, 30), dt.date(2024, 5, 1)]


def test_numbers_stored_as_text_and_float_cells_are_exact():
    def build(sheet):
        sheet.append(["Date", "Amount", "Currency"])
        sheet.append(["2024-05-01", "1,234.56", "USD"])
        sheet.append(["2024-05-02", 0.1 + 0.2, "USD"])
        sheet.append(["2024-05-03", "(99.90)", "USD"])
        sheet.append(["2024-05-04", 1e-2, "USD"])

    result, errors = parse_source(workbook_bytes(build), "text-numbers.xlsx")
    assert errors == []
    assert [r["amount"] for r in result.table.to_pylist()] == [Decimal("1234.56"), Decimal("0.30"), Decimal("-99.90"), Decimal("0.01")]


def test_sheet_is_chosen_by_profile_and_a_missing_sheet_is_named():
    def build(sheet):
        sheet.title = "Summary"
        other = sheet.parent.create_sheet("Lines")
        other.append(["Date", "Amount", "Currency"])
        other.append(["2024-05-01", 5, "USD"])

    data = workbook_bytes(build)
    profile = parse_profile('[read]\nsheet = "Lines"\n', "lines")
    result, errors = parse_source(data, "book.xlsx", profile)
    assert errors == [] and result.table.num_rows == 1
    result, errors = parse_source(data, "book.xlsx", parse_profile('[read]\nsheet = "Nope"\n', "nope"))
    assert result is None and "Nope" in errors[0].message and "Lines" in errors[0].message


def test_bad_cells_in_a_workbook_name_the_sheet_row_and_column():
    def build(sheet):
        sheet.append(["Date", "Amount", "Currency"])
        sheet.append(["2024-05-01", "twelve", "USD"])
        sheet.append(["not a date", 3, "USD"])

    result, errors = parse_source(workbook_bytes(build), "bad.xlsx")
    assert result is None
    assert [(e.row, e.column, e.value) for e in errors] == [(2, "Amount", "twelve"), (3, "Date", "not a date")]


def test_a_cover_sheet_before_the_transactions_is_passed_over_with_a_warning():
    def build(sheet):
        sheet.title = "Summary"
        sheet.append(["Statement summary"])
        sheet.append(["Opening balance", 100])
        lines = sheet.parent.create_sheet("Lines")
        lines.append(["Date", "Amount", "Currency", "Account"])
        lines.append([dt.datetime(2024, 5, 1), 5, "USD", "A1"])
        lines.append([dt.datetime(2024, 5, 2), "-2.50", "USD", "A1"])

    result, errors = parse_source(workbook_bytes(build), "broker.xlsx")
    assert errors == []
    assert [(r["date"], r["amount"]) for r in result.table.to_pylist()] == [(dt.date(2024, 5, 1), Decimal("5.00")),
                                                                            (dt.date(2024, 5, 2), Decimal("-2.50"))]
    assert "read sheet 'Lines': sheet 'Summary' holds no table with recognised titles" in result.warnings


def test_no_sheet_with_a_table_reports_the_first_sheet_and_an_unreadable_sheet_is_named():
    def summary_only(sheet):
        sheet.title = "Summary"
        sheet.append(["Statement summary"])
        sheet.parent.create_sheet("Notes").append(["Prepared by operations"])

    result, errors = parse_source(workbook_bytes(summary_only), "summary.xlsx")
    assert result is None and "no header row found" in errors[0].message

    def formula_sheet(sheet):
        sheet.title = "Summary"
        sheet.append(["Statement summary"])
        lines = sheet.parent.create_sheet("Lines")
        lines.append(["Date", "Amount", "Currency"])
        lines.append([dt.datetime(2024, 5, 1), "=1+1", "USD"])

    result, errors = parse_source(workbook_bytes(formula_sheet), "computed.xlsx")
    assert result is None
    assert [(e.row, e.column) for e in errors] == [(2, "B")]
    assert "on sheet 'Lines' holds a formula without a saved value" in errors[0].message


def hostile_workbook(path, sheet_data: bytes) -> None:
    """A minimal workbook whose one sheet holds ``sheet_data`` (rows written straight as XML)."""
    import zipfile

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'))
        archive.writestr("_rels/.rels", f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
                         f'Type="{relationships}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        archive.writestr("xl/workbook.xml", f'<workbook xmlns="{main}" xmlns:r="{relationships}"><sheets>'
                         '<sheet name="Lines" sheetId="1" r:id="rId1"/></sheets></workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{package}"><Relationship Id="rId1" '
                         f'Type="{relationships}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        header = b'<row r="1"><c r="A1" t="inlineStr"><is><t>Date</t></is></c><c r="B1" t="inlineStr"><is><t>Amount</t></is></c></row>'
        archive.writestr("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{main}"><sheetData>'.encode() + header + sheet_data
                         + b"</sheetData></worksheet>")


def import_in_a_process(path) -> tuple[str, int]:
    """The first error's message and the peak memory (MB) of a process that imports the file, and only that."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    # VmHWM, not ru_maxrss: the latter keeps the parent's size from before the new program started.
    script = ("import re, sys\nfrom core.ingest.datasets import parse_source\n"
              "result, errors = parse_source(open(sys.argv[1], 'rb').read(), 'hostile.xlsx')\n"
              "print(errors[0].message if errors else 'read')\n"
              "print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024)\n")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=Path(__file__).resolve().parents[3], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    message, peak = done.stdout.strip().rsplit("\n", 1)
    return message, int(peak)


def test_a_sheet_of_formulas_without_saved_values_is_refused_from_its_first_rows(tmp_path):
    rows = b"".join(b'<row r="%d"><c r="A%d"><v>45000</v></c><c r="B%d"><f>1+1</f></c></row>' % (n, n, n) for n in range(2, 500_002))
    hostile_workbook(tmp_path / "formulas.xlsx", rows)
    message, peak = import_in_a_process(tmp_path / "formulas.xlsx")
    assert "formula without a saved value" in message
    assert peak < 400, f"{peak} MB to refuse a sheet of formulas"


def test_a_highly_compressible_sheet_under_the_total_limit_is_refused_from_its_declared_sizes(tmp_path):
    hostile_workbook(tmp_path / "bomb.xlsx", b"<row>" + b"<c/>" * 6_000_000 + b"</row>")
    assert (tmp_path / "bomb.xlsx").stat().st_size < 200_000
    message, peak = import_in_a_process(tmp_path / "bomb.xlsx")
    assert "possible ZIP bomb" in message and "xl/worksheets/sheet1.xml" in message
    assert peak < 400, f"{peak} MB to refuse a ZIP bomb"


def test_rows_past_a_spreadsheets_last_row_are_refused(tmp_path):
    hostile_workbook(tmp_path / "far.xlsx", b'<row r="2"><c r="A2"><v>45000</v></c><c r="B2"><v>1</v></c></row>'
                                            b'<row r="1048577"><c r="A1048577"><v>45001</v></c></row>')
    result, errors = parse_source((tmp_path / "far.xlsx").read_bytes(), "far.xlsx")
    assert result is None and errors[0].row == 1_048_577 and "last row" in errors[0].message
