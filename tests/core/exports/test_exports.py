"""Downloads never let a spreadsheet run a cell, and keep amounts exact."""

import datetime as dt
import io
from decimal import Decimal

import pandas as pd
from openpyxl import load_workbook

from core.exports.writers import frame_to_csv_bytes, frame_to_xlsx_bytes, neutralise_formula

DANGEROUS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def test_text_cells_that_start_like_formulas_are_neutralised():
    for text in DANGEROUS:
        assert neutralise_formula(text) == "'" + text
    assert neutralise_formula("Invoice 42") == "Invoice 42"


def test_csv_download_neutralises_text_but_not_numbers():
    frame = pd.DataFrame({"description": DANGEROUS, "amount": [Decimal("-12.50")] * len(DANGEROUS)})
    text = frame_to_csv_bytes(frame).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[1].startswith("\"'=HYPERLINK") and lines[1].endswith(",-12.50")
    assert "'+1+1,-12.50" in text and "'@SUM(A1),-12.50" in text


def test_xlsx_download_keeps_amounts_as_numbers_and_text_defused():
    frame = pd.DataFrame({"description": ["=1+1", "plain"], "amount": [Decimal("-12.50"), Decimal("1234567.89")],
                          "date": [dt.date(2026, 10, 1), dt.date(2026, 10, 2)]})
    workbook = load_workbook(io.BytesIO(frame_to_xlsx_bytes(frame)))
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[1][0] == "'=1+1" and rows[2][0] == "plain"
    assert rows[1][1] == -12.5 and str(rows[2][1]) == "1234567.89"
    assert rows[1][2].date() == dt.date(2026, 10, 1)


def _cell_by_cell(table) -> str:
    """The plain way to write a canonical table: each value turned into text in Python."""
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.column_names)  # no cell here holds a CR, so LF alone quotes what needs it
    for row in table.to_pylist():
        cells = []
        for value in row.values():
            if value is None:
                cells.append("")
            elif isinstance(value, (Decimal, dt.date)):
                cells.append(str(value) if isinstance(value, Decimal) else value.isoformat())
            elif isinstance(value, str):
                cells.append(neutralise_formula(value))
            else:  # a number stays a number: -1 is not a formula
                cells.append(str(value))
        writer.writerow(cells)
    return buffer.getvalue()


def test_canonical_csv_writes_each_value_as_python_would_text_it():
    import pyarrow as pa
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from core.exports.writers import write_canonical_csv

    texts = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_characters="\r", blacklist_categories=("Cs",)), max_size=12),
                      st.sampled_from([t for t in DANGEROUS if "\r" not in t] + ["a,b", 'say "hi"', "two\nlines", ""]))
    dates = st.one_of(st.none(), st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)))

    @st.composite
    def tables(draw):
        scale = draw(st.integers(0, 6))
        rows = draw(st.integers(0, 20))
        limit = 10**18 - 1
        amounts = draw(st.lists(st.one_of(st.none(), st.integers(-limit, limit).map(lambda n: Decimal(n).scaleb(-scale))),
                                min_size=rows, max_size=rows))
        return pa.table({"id": pa.array(draw(st.lists(texts, min_size=rows, max_size=rows)), pa.string()),
                         "date": pa.array(draw(st.lists(dates, min_size=rows, max_size=rows)), pa.date32()),
                         "amount": pa.array(amounts, pa.decimal128(18, scale)),
                         "units": pa.array(draw(st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=rows, max_size=rows)),
                                           pa.int64())})

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(tables(), st.integers(1, 7))
    def check(table, batch_rows):
        written = io.StringIO()
        write_canonical_csv(table, written, batch_rows=batch_rows)
        assert written.getvalue() == _cell_by_cell(table)

    check()


VARIANTS = ["\uff1d1+1", "\uff0b1", "\uff0d1", "\uff20SUM(A1)", "\u200b=1+1", "\u200c+1", "\u200d-1", "\ufeff@x", "\u00a0=1+1",
            "\u202f=1", "\u2007=1", "\u3000=1", " \t =1", "\u2060=1", "\u200e=1", "\nLF"]


def test_full_width_signs_and_invisible_spaces_before_a_formula_are_neutralised():
    for text in VARIANTS:
        assert neutralise_formula(text) == "'" + text, repr(text)
    for text in ["Invoice -1", "a=b", "\u00a0plain", "\u200bplain", "'=already"]:
        assert neutralise_formula(text) == text


def test_the_blanks_passed_over_are_every_space_and_invisible_format_character():
    import unicodedata

    from core.exports.writers import BLANK_RANGES

    listed = {code for first, last in BLANK_RANGES for code in range(first, last + 1)}
    assert listed == {code for code in range(0x110000) if chr(code).isspace() or unicodedata.category(chr(code)) == "Cf"}


def _records(data: str) -> list[list[str]]:
    import csv

    return list(csv.reader(io.StringIO(data, newline="")))


def test_a_lone_carriage_return_in_a_text_cell_stays_inside_its_record():
    import pyarrow as pa

    from core.exports.writers import write_canonical_csv, write_csv_rows

    cells = ["pay\r=1+1", "two\nlines", "both\r\n", "\r"]
    downloaded = frame_to_csv_bytes(pd.DataFrame({"description": cells, "amount": [Decimal("1.00")] * 4})).decode("utf-8-sig")
    canonical = io.StringIO()
    write_canonical_csv(pa.table({"description": cells, "amount": pa.array([Decimal("1.00")] * 4, pa.decimal128(18, 2))}), canonical)
    rows = io.StringIO()
    write_csv_rows(rows, [["description", "amount"]] + [[c, Decimal("1.00")] for c in cells])
    for written in (downloaded, canonical.getvalue(), rows.getvalue()):
        assert '"pay\r=1+1"' in written
        expected = [["description", "amount"], ["pay\r=1+1", "1.00"], ["two\nlines", "1.00"], ["both\r\n", "1.00"], ["'\r", "1.00"]]
        assert _records(written) == expected
        read = pd.read_csv(io.StringIO(written), dtype=str, keep_default_na=False)
        assert read.values.tolist() == expected[1:]


def test_downloads_write_empty_cells_empty_integers_as_integers_and_dates_without_time():
    frame = pd.DataFrame([{"run": 6, "version": 1, "amount": Decimal("-12.50"), "when": dt.datetime(2026, 10, 1), "note": "a"},
                          {"run": None, "version": None, "amount": None, "when": None, "note": None}])
    frame["version"] = frame["version"].astype("Int64")
    frame["when"] = pd.to_datetime(frame["when"])
    assert frame["run"].dtype == "float64"
    text = frame_to_csv_bytes(frame).decode("utf-8-sig")
    assert text.splitlines() == ["run,version,amount,when,note", "6,1,-12.50,2026-10-01,a", ",,,,"]
    moments = pd.DataFrame({"at": pd.to_datetime(["2026-10-01 09:30:00", "2026-10-02 00:00:00"]), "share": [0.5, 1.0]})
    assert frame_to_csv_bytes(moments).decode("utf-8-sig").splitlines() == [
        "at,share", "2026-10-01T09:30:00,0.5", "2026-10-02T00:00:00,1.0"]
    workbook = load_workbook(io.BytesIO(frame_to_xlsx_bytes(frame)))
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[1][:3] == (6, 1, -12.5) and rows[1][3].date() == dt.date(2026, 10, 1)
    assert rows[2:] in ([], [(None,) * 5])  # a row of empty cells is no row in the workbook


def _starts_like_formula(text: str) -> bool:
    """The rule, stated on its own: a tab, CR or LF first, or a sign after nothing visible."""
    import unicodedata

    if text[:1] in ("\t", "\r", "\n"):
        return True
    rest = text
    while rest and (rest[0].isspace() or unicodedata.category(rest[0]) == "Cf"):
        rest = rest[1:]
    return rest[:1] in tuple("=+-@\uff1d\uff0b\uff0d\uff20")


def _xlsx_text(value: str) -> str:
    """XLSX keeps control characters as ``_xHHHH_``; a spreadsheet shows them as the characters."""
    import re

    return re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m[1], 16)), value)


def test_every_writer_writes_each_text_as_is_or_neutralised_and_one_record_per_row(tmp_path):
    import duckdb
    import pyarrow as pa
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from core.exports.writers import neutralised_sql, write_canonical_csv, write_csv_rows

    tricky = st.sampled_from(list("=+-@\uff1d\uff0b\uff0d\uff20\t\r\n \u00a0\u200b\ufeff\u3000\u2007\",;'x1"))
    texts = st.text(alphabet=st.one_of(tricky, st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")), max_size=8)

    def read_csv_both_ways(data: str) -> list[list[str]]:
        records = _records(data)
        framed = pd.read_csv(io.StringIO(data), dtype=str, keep_default_na=False)
        assert framed.values.tolist() == records[1:]
        return records[1:]

    def written_by_duckdb(cells: list[str]) -> str:
        target = tmp_path / "duckdb.csv"
        con = duckdb.connect()
        con.register("cells", pa.table({"text": cells, "n": list(range(len(cells)))}))
        con.execute(f"COPY (SELECT {neutralised_sql('text')} AS text, n FROM cells ORDER BY n) TO '{target}' (FORMAT csv, HEADER true)")
        con.close()
        return target.read_bytes().decode("utf-8")

    @settings(max_examples=120, deadline=None, derandomize=True)
    @given(st.lists(texts, min_size=1, max_size=6))
    def check(cells):
        amounts = [Decimal(-n).scaleb(-2) for n in range(len(cells))]
        canonical = io.StringIO()
        write_canonical_csv(pa.table({"text": cells, "amount": pa.array(amounts, pa.decimal128(18, 2))}), canonical)
        rows = io.StringIO()
        write_csv_rows(rows, [["text", "amount"]] + [[c, a] for c, a in zip(cells, amounts)])
        frame = pd.DataFrame({"text": cells, "amount": amounts})
        written = {
            "download": read_csv_both_ways(frame_to_csv_bytes(frame).decode("utf-8-sig")),
            "canonical": read_csv_both_ways(canonical.getvalue()),
            "rows": read_csv_both_ways(rows.getvalue()),
            "duckdb": [[text, str(-Decimal(n).scaleb(-2))] for text, n in read_csv_both_ways(written_by_duckdb(cells))],
            "xlsx": [[_xlsx_text(t or ""), str(Decimal(str(a)).quantize(Decimal("0.01")))]
                     for t, a in list(load_workbook(io.BytesIO(frame_to_xlsx_bytes(frame))).active.iter_rows(values_only=True))[1:]],
        }
        for writer, records in written.items():
            assert len(records) == len(cells), writer
            for text, amount, (read_text, read_amount) in zip(cells, amounts, records):
                assert read_text == ("'" + text if _starts_like_formula(text) else text), (writer, text)
                assert Decimal(read_amount) == amount, writer

    check()
