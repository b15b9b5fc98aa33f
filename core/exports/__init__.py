"""Exports: tables written out as files people open, under one rule for formulas and blanks.

The writers (:mod:`.writers`: CSV, XLSX, the canonical CSV of ``import --out``) neutralise text a
spreadsheet would run as a formula. Export requests (:mod:`.requests`: identity, reuse, statuses,
the reaper, statistics) read their rows through :mod:`.sources`, write them with DuckDB in
:mod:`.files` and keep them where :mod:`.storage` says (a local folder or S3).
"""

from core.exports.writers import (frame_to_csv_bytes, frame_to_xlsx_bytes, neutralise_formula, neutralised_sql, write_canonical_csv,
                                  write_csv_rows)

__all__ = ["frame_to_csv_bytes", "frame_to_xlsx_bytes", "neutralise_formula", "neutralised_sql", "write_canonical_csv",
           "write_csv_rows"]
