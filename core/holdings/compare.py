"""Comparing positions: the books against every registrar's, per folio and product.

- ``matched``: both hold the position and the units agree within the tolerance (0.001);
- ``mismatched``: both hold it and the units differ (``difference`` = books less registrar);
- ``registrar_only`` / ``internal_only``: only one side holds units.

Positions that are zero on the side that has them are not reported.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import NamedTuple

from core.domain.money import AmountError, parse_amount
from core.holdings.layouts import load_registrar_layouts
from core.holdings.positions import Position, Positions, read_internal, read_registrar

__all__ = ["DEFAULT_TOLERANCE", "HoldingRow", "parse_tolerance", "reconcile_holdings", "reconcile_sources"]


DEFAULT_TOLERANCE = Decimal("0.001")


def parse_tolerance(text: str) -> Decimal:
    """The units that may differ and still match, as a person types them (``0.001``).

    Raises:
        AmountError: the text is blank, not a finite number (``NaN``, ``inf``, ``1e999``) or negative.
    """
    value = parse_amount(text)
    if value is None:
        raise AmountError(f"give a number of units, such as {DEFAULT_TOLERANCE}")
    if value < 0:
        raise AmountError(f"{text!r} is negative; a tolerance is 0 or more")
    return value


class HoldingRow(NamedTuple):
    folio: str
    product: str
    status: str
    internal_units: Decimal
    registrar_units: Decimal
    difference: Decimal
    registrar: str
    product_name: str


def reconcile_holdings(internal: Positions, registrars: list[tuple[str, Positions]],
                       tolerance: Decimal = DEFAULT_TOLERANCE) -> list[HoldingRow]:
    """Compare the books with every registrar's positions; a position belongs to the registrar whose file holds its product."""
    registrar_of_product: dict[str, str] = {}
    merged: dict[tuple[str, str], tuple[Decimal, str, str]] = {}
    for registrar, positions in registrars:
        for (folio, product), position in positions.items():
            registrar_of_product.setdefault(product, registrar)
            units, _, name = merged.get((folio, product), (Decimal(0), registrar, position.product_name))
            merged[(folio, product)] = (units + position.units, registrar, name or position.product_name)
    rows = []
    for key in sorted(set(internal) | set(merged)):
        folio, product = key
        ours = internal.get(key, Position(Decimal(0), "")).units
        theirs, registrar, name = merged.get(key, (Decimal(0), registrar_of_product.get(product, ""), ""))
        name = name or internal.get(key, Position(Decimal(0), "")).product_name
        in_books, at_registrar = key in internal and ours != 0, key in merged and theirs != 0
        if not in_books and not at_registrar:
            continue
        if in_books and at_registrar:
            status = "matched" if abs(ours - theirs) <= tolerance else "mismatched"
        else:
            status = "internal_only" if in_books else "registrar_only"
        rows.append(HoldingRow(folio, product, status, ours, theirs, ours - theirs, registrar, name))
    return rows


def reconcile_sources(internal: tuple[str, bytes] | Positions, registrars: list[tuple[str, bytes]], as_of: dt.date,
                      tolerance: Decimal = DEFAULT_TOLERANCE):
    """Read the books (a file's name and bytes, or positions already rolled up, as from
    MongoDB) and every registrar file, registrars in parallel, then compare.

    Returns:
        ``(rows, warnings, errors)``; no rows when any source has errors.
    """
    layouts = load_registrar_layouts()
    with ThreadPoolExecutor(max_workers=max(1, len(registrars))) as pool:
        loaded = list(pool.map(lambda item: read_registrar(item[1], item[0], as_of, layouts), registrars))
        books, errors = read_internal(internal[1], internal[0], as_of) if isinstance(internal, tuple) else (internal, [])
    warnings = [w for _, _, found, _ in loaded for w in found]
    errors += [e for _, _, _, problems in loaded for e in problems]
    if errors:
        return [], warnings, errors
    return reconcile_holdings(books, [(name, positions) for name, positions, _, _ in loaded], tolerance), warnings, []
