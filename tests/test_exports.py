"""Downloads never let a spreadsheet run a cell, and keep amounts exact."""

import datetime as dt
import io
from decimal import Decimal

import pandas as pd
from openpyxl import load_workbook

from core.exports import frame_to_csv_bytes, frame_to_xlsx_bytes, neutralise_formula

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


def _cell_by_cell(table, neutralise: bool) -> str:
    """The plain way to write a canonical table: each value turned into text in Python."""
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        cells = []
        for value in row.values():
            if value is None:
                cells.append("")
            elif isinstance(value, (Decimal, dt.date)):
                cells.append(str(value) if isinstance(value, Decimal) else value.isoformat())
            else:
                cells.append(neutralise_formula(str(value)) if neutralise else str(value))
        writer.writerow(cells)
    return buffer.getvalue()


def test_canonical_csv_writes_each_value_as_python_would_text_it():
    import pyarrow as pa
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from core.exports import write_canonical_csv

    texts = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(DANGEROUS + ["a,b", 'say "hi"', "two\nlines", ""]))
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
    @given(tables(), st.booleans(), st.integers(1, 7))
    def check(table, neutralise, batch_rows):
        written = io.StringIO()
        write_canonical_csv(table, written, neutralise=neutralise, batch_rows=batch_rows)
        assert written.getvalue() == _cell_by_cell(table, neutralise)

    check()
