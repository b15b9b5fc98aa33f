"""Column types that keep money exact on every database.

SQLite has no decimal type, and SQLAlchemy's ``Numeric`` there round-trips through a
float. ``ExactDecimal`` is ``NUMERIC(p, s)`` where the database has one and decimal text on
SQLite, and always hands back the same ``Decimal`` on both (see ``canonical_decimal``).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.types import TypeDecorator

from core.domain.money import canonical_decimal

__all__ = ["ExactDecimal"]


class ExactDecimal(TypeDecorator):
    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 28, scale: int = 6):
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision, self.scale = precision, scale

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be a Decimal, not {type(value).__name__}")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return canonical_decimal(value if isinstance(value, Decimal) else Decimal(value))
