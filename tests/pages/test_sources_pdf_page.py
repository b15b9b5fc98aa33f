"""The Sources page takes statement PDFs: a text one imports like any statement, a scan's doubtful rows are confirmed first."""

import datetime as dt
from decimal import Decimal

from tests.pages.app import frame_with, on_page
from tests.statement_pdfs import make_rows, smudged_scan, statement_pdf

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)


def test_a_text_statement_pdf_previews_and_saves(demo):
    rows = make_rows(8, START, Decimal("900.00"), seed=8)
    at = on_page("analyst", "pages/sources.py")
    at.file_uploader(key="sources_upload").upload("march.pdf", statement_pdf("northwind", rows, Decimal("900.00"), START, END)).run()
    assert not at.exception and not at.error
    assert [Decimal(str(a)) for a in frame_with(at, "amount")["amount"]] == [r.amount for r in rows]
    at.button(key="sources_save").click().run()
    assert any("Saved as dataset" in s.value and "8 rows" in s.value for s in at.success)


def test_a_scan_with_a_doubtful_row_is_imported_once_a_person_confirms_it(demo):
    rows = make_rows(10, START, Decimal("1500.00"), seed=4)
    at = on_page("analyst", "pages/sources.py")
    at.file_uploader(key="sources_upload").upload("scan.pdf", smudged_scan(rows, 5, start=START, end=END)).run()
    assert not at.exception
    doubtful = frame_with(at, "confidence")
    assert 6 in doubtful["row"].tolist()
    edits = {i: {"amount": str(rows[int(r) - 1].amount), "balance": str(rows[int(r) - 1].balance),
                 "description": rows[int(r) - 1].description, "date": str(rows[int(r) - 1].date)}
             for i, r in enumerate(doubtful["row"].tolist())}
    at.session_state["sources_confirm_rows"] = {"edited_rows": edits, "added_rows": [], "deleted_rows": []}
    at.run()
    at.button(key="sources_confirm_import").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Saved as dataset" in s.value and "10 rows" in s.value for s in at.success)
