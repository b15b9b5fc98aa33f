"""Holdings reconciliation: units per folio and scheme in the books against the registrars'.

Mutual-fund distributors keep investors' transactions (BUY, SELL, switches, reversals); the
registrars (CAMS, KFintech) send transaction feeds or holdings reports. Both sides are rolled
up to units per (folio, product) as of a date (:mod:`.positions`, with the registrars' file
layouts in :mod:`.layouts`) and compared (:mod:`.compare`); a run is kept and written
(:mod:`.runs`). :func:`run_holdings` does it all, for the command line and the page alike.
"""

from core.holdings.compare import DEFAULT_TOLERANCE, HoldingRow, parse_tolerance, reconcile_holdings, reconcile_sources
from core.holdings.layouts import load_registrar_layouts
from core.holdings.positions import INTERNAL_TYPES, Positions, read_internal, read_internal_from_books, read_registrar
from core.holdings.runs import fetch_registrar_files, save_holdings_run, write_holdings_outputs, write_results_to_books
from core.holdings.service import HoldingsOutcome, read_source_files, run_holdings, run_holdings_from_mongodb

__all__ = ["DEFAULT_TOLERANCE", "HoldingRow", "HoldingsOutcome", "INTERNAL_TYPES", "Positions", "fetch_registrar_files",
           "load_registrar_layouts", "parse_tolerance", "read_internal", "read_internal_from_books", "read_registrar",
           "read_source_files", "reconcile_holdings", "reconcile_sources", "run_holdings", "run_holdings_from_mongodb",
           "save_holdings_run", "write_holdings_outputs", "write_results_to_books"]
