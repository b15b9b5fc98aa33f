"""The words on each page of a PDF: from the text layer (pdfplumber), or by OCR for a scanned page.

A page with no text layer is rendered at 300 dpi (pypdfium2) and read by tesseract
(pytesseract, ``--psm 6``: one uniform block of text, which keeps a table's rows whole). Table
grid lines are blanked first: tesseract reads a ruled line as characters and loses the words
beside it. Every OCR word carries tesseract's confidence (0-100); text-layer words are certain.
Boxes are in PDF points from the page's top left, whichever way they were read.
"""

from __future__ import annotations

import io
from typing import NamedTuple

from connectors.documents.table import Word

__all__ = ["OCR_DPI", "PdfPages", "PdfReadError", "read_pages"]

OCR_DPI = 300
_INKED = 200  # darker than this is ink, for finding rulings
_EDGE = 2
_LINE_INCHES = 0.4  # a dark run this long is a ruled line, not a glyph


class PdfReadError(ValueError):
    """The PDF cannot be opened or read; the message says why."""


class PdfPages(NamedTuple):
    words: list[list[Word]]  # per page
    scanned: list[bool]  # per page: read by OCR
    first_page_text: str


def read_pages(data: bytes) -> PdfPages:
    """Every page's words, by text layer where there is one and OCR where there is none."""
    import pdfplumber  # start-up speed: PDF libraries load on the first PDF

    words: list[list[Word]] = []
    scanned: list[bool] = []
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for index, page in enumerate(pdf.pages):
                if page.chars:
                    found = page.extract_words(keep_blank_chars=False, x_tolerance=1.5)
                    words.append([Word(w["text"], float(w["x0"]), float(w["x1"]), float(w["top"]), float(w["bottom"])) for w in found])
                    scanned.append(False)
                else:
                    words.append(ocr_page(data, index))
                    scanned.append(True)
    except PdfReadError:
        raise
    except Exception as exc:  # pdfminer raises many kinds for a damaged file
        raise PdfReadError(f"the PDF cannot be read ({type(exc).__name__}: {exc})") from None
    first = " ".join(w.text for w in words[0]) if words else ""
    return PdfPages(words, scanned, first)


def render_page(data: bytes, index: int, dpi: int = OCR_DPI):
    """A page as a greyscale PIL image at ``dpi``."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    try:
        return document[index].render(scale=dpi / 72).to_pil().convert("L")
    finally:
        document.close()


def blank_grid_lines(image):
    """The image with every long horizontal or vertical dark run (a table's ruling) made white."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image).copy()
    dark = pixels < _INKED
    length = int(_LINE_INCHES * OCR_DPI)
    mask = _long_runs(dark, length) | _long_runs(dark.T, length).T
    # a ruling's anti-aliased edges are grey: widen the blanked band by a few pixels
    for shift in range(1, _EDGE + 1):
        mask[shift:, :] |= mask[:-shift, :]
        mask[:-shift, :] |= mask[shift:, :]
        mask[:, shift:] |= mask[:, :-shift]
        mask[:, :-shift] |= mask[:, shift:]
    pixels[mask] = 255
    return Image.fromarray(pixels)


def _long_runs(dark, length: int):
    """Where ``dark`` is part of a run of at least ``length`` along each row."""
    import numpy as np

    mask = np.zeros_like(dark)
    for r in np.nonzero(dark.sum(axis=1) >= length)[0]:
        row = np.concatenate(([False], dark[r], [False])).astype(np.int8)
        edges = np.diff(row)
        starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
        for start, end in zip(starts, ends, strict=True):
            if end - start >= length:
                mask[r, start:end] = True
    return mask


def ocr_page(data: bytes, index: int) -> list[Word]:
    """The words tesseract reads on a rendered page, with their confidence, boxes in points."""
    import pytesseract

    image = blank_grid_lines(render_page(data, index))
    found = pytesseract.image_to_data(image, config=f"--psm 6 --dpi {OCR_DPI}", output_type=pytesseract.Output.DICT)
    scale = 72 / OCR_DPI
    words = []
    for text, conf, left, top, width, height in zip(found["text"], found["conf"], found["left"], found["top"],
                                                     found["width"], found["height"], strict=True):
        if not text.strip() or float(conf) < 0:
            continue
        words.append(Word(text.strip(), left * scale, (left + width) * scale, top * scale, (top + height) * scale, float(conf)))
    return words
