"""Exports: tables written out as files people open, under one rule for formulas and blanks.

The writers (:mod:`.writers`: CSV, XLSX, the canonical CSV of ``import --out``) neutralise text a
spreadsheet would run as a formula. Export requests and their storage will live here too.
"""

from core.exports.writers import (frame_to_csv_bytes, frame_to_xlsx_bytes, neutralise_formula, neutralised_sql, write_canonical_csv,
                                  write_csv_rows)

__all__ = ["frame_to_csv_bytes", "frame_to_xlsx_bytes", "neutralise_formula", "neutralised_sql", "write_canonical_csv",
           "write_csv_rows"]
