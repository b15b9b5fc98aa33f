"""Statement PDFs made for the tests and the benchmark (reportlab), with the rows they print.

Three layouts: a signed Amount column with full dates; Paid out / Paid in columns with dates
without a year inside a ruled grid; Withdrawals / Deposits with US dates. Descriptions can wrap
over two lines, tables run over pages with the header repeated. :func:`rasterise` turns a
statement into a scanned one (each page an image at 300 dpi, no text layer).
"""

from __future__ import annotations

import datetime as dt
import io
import random
from decimal import Decimal
from typing import NamedTuple

__all__ = ["LAYOUTS", "PrintedRow", "make_rows", "rasterise", "smudged_scan", "statement_pdf"]

LAYOUTS = ("signed", "northwind", "us")

_PAYEES = ["Card payment TESCO STORES 2211", "Transfer from Harbour Foods Ltd", "Direct debit British Gas",
           "Faster payment RENT MARCH", "Card payment SHELL 0042", "Deposit counter cash", "Invoice 1042 paid Orchard Cafe",
           "Standing order Savings", "ACH credit Square Inc settlement", "Cheque 100234", "Bank fee monthly",
           "Mobile deposit Greenway Grocers",
           "Payment received from Lakeside Catering Company for invoices 2291 and 2292 March"]


class PrintedRow(NamedTuple):
    date: dt.date
    description: str
    amount: Decimal
    balance: Decimal


def make_rows(count: int, start: dt.date, opening: Decimal, seed: int = 7, days: int = 28) -> list[PrintedRow]:
    """``count`` rows over ``days`` days from ``start``, in date order, with their running balance."""
    rng = random.Random(seed)
    dates = sorted(start + dt.timedelta(days=rng.randrange(days)) for _ in range(count))
    balance = opening
    rows = []
    for date in dates:
        cents = rng.randrange(500, 480000)
        amount = Decimal(cents).scaleb(-2) * (1 if rng.random() < 0.45 else -1)
        balance += amount
        rows.append(PrintedRow(date, rng.choice(_PAYEES), amount, balance))
    return rows


def _money(value: Decimal, symbol: str = "") -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol}{abs(value):,.2f}"


def statement_pdf(layout: str, rows: list[PrintedRow], opening: Decimal, start: dt.date, end: dt.date,
                  rows_per_page: int = 22, closing: Decimal | None = None) -> bytes:
    """A text PDF statement in ``layout`` printing ``rows``; ``closing`` defaults to the last balance."""
    from reportlab.lib.pagesizes import A4, letter
    from reportlab.pdfgen import canvas

    closing = rows[-1].balance if closing is None and rows else closing if closing is not None else opening
    size = letter if layout == "us" else A4
    width, height = size
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=size)
    if layout == "signed":
        titles = [("Date", 50, "l"), ("Description", 130, "l"), ("Amount", 455, "r"), ("Balance", 545, "r")]
        bank, period = "Meridian Savings Bank", f"Statement period: {start:%d %b %Y} to {end:%d %b %Y}"
        header_lines = [bank, "Account number: 4021 7788 1934", "Currency: EUR", period,
                        f"Opening balance {_money(opening)}", f"Closing balance {_money(closing)}"]
    elif layout == "northwind":
        titles = [("Date", 50, "l"), ("Details", 110, "l"), ("Paid out", 390, "r"), ("Paid in", 465, "r"), ("Balance", 545, "r")]
        header_lines = ["Northwind Business Banking", "Account number: 20-45-11 55667788",
                        f"Statement period: {start:%d %B %Y} to {end:%d %B %Y}",
                        f"Opening balance £{opening:,.2f}", f"Closing balance £{closing:,.2f}"]
    else:
        titles = [("Date", 40, "l"), ("Description", 100, "l"), ("Withdrawals", 400, "r"), ("Deposits", 485, "r"),
                  ("Balance", 570, "r")]
        header_lines = ["First Prairie Bank", "Account number: 000123456789",
                        f"Statement period: {start:%B} {start.day}, {start.year} through {end:%B} {end.day}, {end.year}",
                        f"Beginning balance ${opening:,.2f}", f"Ending balance ${closing:,.2f}"]
    pages = [rows[i:i + rows_per_page] for i in range(0, len(rows), rows_per_page)] or [[]]
    line_height = 17
    for page_number, page_rows in enumerate(pages, start=1):
        y = height - 50
        if page_number == 1:
            for i, text in enumerate(header_lines):
                pdf.setFont("Helvetica-Bold" if i == 0 else "Helvetica", 12 if i == 0 else 10)
                pdf.drawString(titles[0][1], y, text)
                y -= 16
            y -= 14
        pdf.setFont("Helvetica-Bold", 10)
        for title, x, align in titles:
            (pdf.drawString if align == "l" else pdf.drawRightString)(x, y, title)
        table_top = y + line_height - 4
        y -= line_height
        pdf.setFont("Helvetica", 10)
        for row in page_rows:
            cells = _cells(layout, row)
            wrapped = len(row.description) > 44
            first, second = (row.description[:44].rsplit(" ", 1) if wrapped else (row.description, ""))
            if wrapped:
                second = row.description[len(first) + 1:]
            cells[1] = first
            for (title, x, align), text in zip(titles, cells, strict=True):
                if text:
                    (pdf.drawString if align == "l" else pdf.drawRightString)(x, y, text)
            y -= line_height
            if second:
                pdf.drawString(titles[1][1], y, second)
                y -= line_height
        if layout == "northwind":
            left, right = titles[0][1] - 6, titles[-1][1] + 6
            pdf.setLineWidth(0.8)
            pdf.rect(left, y + line_height - 4, right - left, table_top - (y + line_height - 4))
            pdf.line(left, table_top - line_height, right, table_top - line_height)
            for _, x, _ in titles[1:]:
                boundary = x - 4 if x < 200 else x - 66
                pdf.line(boundary, table_top, boundary, y + line_height - 4)
        pdf.setFont("Helvetica", 8)
        pdf.drawString(titles[0][1], 30, f"Page {page_number} of {len(pages)}")
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def _cells(layout: str, row: PrintedRow) -> list[str]:
    if layout == "signed":
        return [f"{row.date:%d %b %Y}", row.description, _money(row.amount), _money(row.balance)]
    out, paid_in = ("", _money(row.amount)) if row.amount > 0 else (_money(-row.amount), "")
    if layout == "northwind":
        return [f"{row.date:%d %b}", row.description, out, paid_in, _money(row.balance)]
    return [f"{row.date:%m/%d}", row.description, out, paid_in, _money(row.balance)]


def rasterise(data: bytes, dpi: int = 300) -> bytes:
    """The statement as a scan: each page rendered to a greyscale image, saved as an image-only PDF."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    images = [document[i].render(scale=dpi / 72).to_pil().convert("L") for i in range(len(document))]
    document.close()
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return out.getvalue()


def smudged_scan(rows: list[PrintedRow], index: int, layout: str = "signed", dpi: int = 300, **dates) -> bytes:
    """A one-page scan of ``rows`` whose row ``index`` has the middle of its amount rubbed out."""
    import pdfplumber
    import pypdfium2 as pdfium
    from PIL import ImageDraw

    start, end = dates.get("start", rows[0].date.replace(day=1)), dates.get("end", rows[0].date.replace(day=28))
    opening = rows[0].balance - rows[0].amount
    text = statement_pdf(layout, rows, opening, start, end)
    with pdfplumber.open(io.BytesIO(text)) as pdf:
        words = pdf.pages[0].extract_words()
    printed = f"{abs(rows[index].amount):,.2f}"
    word = [w for w in words if w["text"].lstrip("-") == printed][0]
    middle = (word["x0"] + word["x1"]) / 2
    document = pdfium.PdfDocument(text)
    image = document[0].render(scale=dpi / 72).to_pil().convert("L")
    document.close()
    scale = dpi / 72
    ImageDraw.Draw(image).rectangle([(middle - 6) * scale, (word["top"] - 1) * scale, (middle + 6) * scale,
                                     (word["bottom"] + 1) * scale], fill=255)
    out = io.BytesIO()
    image.save(out, "PDF", resolution=dpi)
    return out.getvalue()
