"""The domain: canonical records, exact money, dates, and findings, shared by every part.

Plain values and free functions over them, with no storage and no outside world: the
transaction columns and their aliases (:mod:`.records`), money parsed and kept as exact
``Decimal`` (:mod:`.money`), dates as sources write them (:mod:`.dates`), and what is wrong
with an input as values (:mod:`.findings`; :mod:`.validation` for settings files).
"""

from core.domain.findings import RowError, format_errors
from core.domain.money import AmountError, canonical_decimal, format_amount, parse_amount
from core.domain.records import TRANSACTION_COLUMNS, is_currency_code

__all__ = ["AmountError", "RowError", "TRANSACTION_COLUMNS", "canonical_decimal", "format_amount", "format_errors", "is_currency_code",
           "parse_amount"]
