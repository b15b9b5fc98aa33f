"""Import: the cells of a source file become the canonical transaction table.

One pipeline, read top to bottom: find the header -> map columns -> leave out title, total
and skipped rows -> parse every cell -> derive ids. Validation is lazy: every bad cell of the
whole file is reported (file, row, column, value, reason), and a file with any error yields
no table at all, so an import lands whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

import pyarrow as pa

from connectors.files.raw import Cell, RawRow, RawTable
from core.domain.dates import choose_date_format, date_from_serial, describe_format, parse_date
from core.domain.findings import RowError
from core.domain.money import AmountError, check_amount, infer_decimal_separator, parse_amount, scale_of
from core.domain.records import (ALIASES, DATE_COLUMNS, TRANSACTION_COLUMNS, extra_columns, is_currency_code, map_titles,
                                 normalise_title, title_currency)
from core.ingest.profiles import Profile, SkipRule

__all__ = ["ALIASES", "CanonicalImport", "normalise_table", "transaction_schema"]

_AMOUNT_SOURCES = ("amount", "debit", "credit")
_HEADER_SEARCH_ROWS = 50
_SUMMARY_ROW = re.compile(
    r"^\s*(?:grand\s+|sub\s*-?\s*)?(?:totals?|summe|gesamt\w*|totaal|totale|somme)\b"
    r"|^\s*(?:anfangs|end|schluss)?saldo\b|^\s*solde\b|^\s*(?:opening|closing|ending|beginning)\s+(?:ledger\s+|available\s+|book\s+)?balance\b"
    r"|^\s*(?:balance\s+)?(?:brought|carried)\s+forward\b|^\s*(?:record|row|transaction|line)s?\s+count\b"
    r"|^\s*number of (?:records|rows|transactions|entries)\b|^\s*end of (?:report|statement|file|data)\b"
    r"|^\s*(?:generated|printed|report run|run) (?:on|at|by)\b|^\s*\*+\s*end\b",
    re.IGNORECASE,
)

# Rows not booked yet, when a profile says nothing: the status column of many bank exports.
_PENDING_WORDS = ("pending", "vorgemerkt", "umsatz vorgemerkt")
_DEFAULT_PENDING = tuple(SkipRule(column=title, equals=_PENDING_WORDS) for title in ("Status", "State", "Info"))

_DATE_LIKE = re.compile(
    r"^\s*(?:\d{1,4}[-/. ]\d{1,2}[-/. ]\d{2,4}|\d{8}|\d{1,2}[- ][A-Za-z]{3,9}[- ,]+\d{2,4}|[A-Za-z]{3,9} \d{1,2},? \d{4})(?:[ T][\d:.]+.*)?\s*$"
)

class CanonicalImport(NamedTuple):
    """A source turned into canonical rows, with what was noticed on the way."""

    table: pa.Table
    warnings: list[str]
    header_row: int
    column_map: dict[str, str]
    format: str
    profile: str | None = None  # the profile or known layout the file was read with


def transaction_schema(scale: int, extra: list[str]) -> pa.Schema:
    """The Arrow schema of a canonical table; amounts are DECIMAL(18, scale)."""
    types = {"amount": pa.decimal128(18, scale)} | {c: pa.date32() for c in DATE_COLUMNS}
    return pa.schema([(c, types.get(c, pa.string())) for c in TRANSACTION_COLUMNS] + [(c, pa.string()) for c in extra])


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return str(cell).strip()


def normalise_table(raw: RawTable, profile: Profile, file: str) -> tuple[CanonicalImport | None, list[RowError]]:
    """Turn a raw table into canonical transactions.

    Args:
        raw: cells from a reader in ``connectors``.
        profile: how the columns map; ``Profile()`` for automatic mapping.
        file: the file name used in every finding.

    Returns:
        ``(result, errors)``; result is ``None`` whenever errors is not empty.
    """
    warnings = list(raw.warnings)
    rows = [r for r in raw.rows if r.number > profile.read.skip_rows]
    if profile.read.headerless:
        header, header_row, title_rows, body = list(profile.read.titles), 0, [], rows
    else:
        header_at, errors = _find_header(rows, profile, file)
        if errors:
            return None, errors
        header = [_text(c) for c in rows[header_at].cells]
        header_row = rows[header_at].number
        while header and not header[-1]:
            header.pop()
        header = _unique_titles(header)
        title_rows, body = rows[:header_at], rows[header_at + 1:]
    mapping, errors = _map_columns(header, profile, file, header_row)
    if errors:
        return None, errors
    title_currency_code, errors = _currency_of_amount_titles(header, mapping, profile, file, header_row)
    if errors:
        return None, errors
    titles = _title_values(title_rows)
    if profile.read.skip_footer:
        body = body[:-profile.read.skip_footer]
    body, notes = _leave_out_rows(body, header, mapping, profile, raw.format)
    warnings += notes
    if not body:
        where = "in the file" if profile.read.headerless else f"below the header on row {header_row}"
        return None, [RowError(file, None, None, None, f"no data rows {where}")]

    errors = _check_widths(body, len(header), file, raw.format)
    cells = {name: [_cell(r, i) for r in body] for name, i in mapping.items()}
    numbers = [r.number for r in body]
    out: dict[str, list] = {}
    choice_warnings, date_errors = _parse_dates(cells, numbers, header, mapping, profile, raw, file, out)
    warnings += choice_warnings
    errors += date_errors
    amount_warnings, amount_errors = _parse_amounts(cells, numbers, header, mapping, profile, raw, file, out)
    warnings += amount_warnings
    errors += amount_errors
    for name in ("account", "currency"):
        fallback = (title_currency_code if name == "currency" else None) or titles.get(name) or getattr(profile.defaults, name) or ""
        if name not in mapping and not fallback:
            warnings.append(f"no {name} column and no default {name} in the profile: {name} left empty")
        out[name] = [(_text(c) or fallback) for c in cells[name]] if name in mapping else [fallback] * len(body)
    out["currency"] = [c.upper() for c in out["currency"]]
    for number, code, cell in zip(numbers, out["currency"], cells.get("currency", [None] * len(body))):
        if code and not is_currency_code(code):
            errors.append(RowError(file, number, header[mapping["currency"]] if "currency" in mapping else "currency",
                                   _text(cell) or code, f"{code!r} is not an ISO 4217 currency code"))
    for name in ("reference", "description", "counterparty", "type"):
        out[name] = [_text(c) for c in cells[name]] if name in mapping else [""] * len(body)
    ids, id_errors = _row_ids(body, cells.get("id"), numbers, header[mapping["id"]] if "id" in mapping else None, file)
    out["id"] = ids
    errors += id_errors
    if errors:
        return None, sorted(errors, key=lambda e: e.row or 0)

    scale = max([2] + [scale_of(a) for a in out["amount"]])
    quantum = Decimal(1).scaleb(-scale)
    out["amount"] = [a.quantize(quantum) for a in out["amount"]]
    extra = extra_columns(header, mapping)
    for title, index in extra.items():
        out[title] = [_text(_cell(r, index)) for r in body]
    table = pa.table(out, schema=transaction_schema(scale, list(extra)))
    column_map = {k: header[v] for k, v in mapping.items()}
    return CanonicalImport(table, warnings, header_row, column_map, raw.format, profile.name if profile.name != "auto" else None), []


def header_found(raw: RawTable, profile: Profile) -> bool:
    """Whether the table has a header row the import recognises (for choosing a workbook's sheet)."""
    if profile.read.headerless:
        return True
    rows = [r for r in raw.rows if r.number > profile.read.skip_rows]
    return not _find_header(rows, profile, "")[1]


def _cell(row: RawRow, index: int) -> Cell:
    return row.cells[index] if index < len(row.cells) else None


def _find_header(rows: list[RawRow], profile: Profile, file: str) -> tuple[int, list[RowError]]:
    if profile.read.header_row:
        for i, row in enumerate(rows):
            if row.number == profile.read.header_row:
                return i, []
        return 0, [RowError(file, profile.read.header_row, None, None, "the profile's header_row is blank or past the end of the file")]
    wanted = {normalise_title(t) for t in profile.columns.values()}
    if profile.amount.quantity is not None:
        wanted |= {normalise_title(t) for t in (profile.amount.quantity, profile.amount.price, profile.amount.direction, *profile.amount.fees)}
    best, best_score = None, 0
    nearest, nearest_roles = None, set()
    for i, row in enumerate(rows[:_HEADER_SEARCH_ROWS]):
        titles = {normalise_title(c) for c in row.cells if isinstance(c, str) and c.strip()}
        if wanted:
            if wanted <= titles:
                return i, []
            continue
        titles |= {normalise_title(title_currency(c)[0]) for c in row.cells if isinstance(c, str) and c.strip()}
        roles = {role for role, names in ALIASES.items() if titles & set(names)}
        if "date" in roles and roles & set(_AMOUNT_SOURCES) and len(roles) > best_score:
            best, best_score = i, len(roles)
        if len(roles) > len(nearest_roles):
            nearest, nearest_roles = i, roles
    if best is not None:
        return best, []
    if nearest is not None and len(nearest_roles) >= 2:
        row = rows[nearest]
        lacking = "no amount" if "date" in nearest_roles else "no date column"
        titles = ", ".join(_text(c) for c in row.cells if _text(c))
        return 0, [RowError(file, row.number, None, None, f"this looks like the header ({titles}) but it has {lacking}")]
    if wanted:
        missing = sorted(profile.columns.values())
        return 0, [RowError(file, None, None, None, f"no header row with the profile's columns {missing} in the first {_HEADER_SEARCH_ROWS} rows")]
    return 0, [RowError(file, None, None, None,
                        "no header row found: need a date column and an amount (or debit/credit) column "
                        f"with recognised titles in the first {_HEADER_SEARCH_ROWS} rows; use a profile to name them")]


def _map_columns(header: list[str], profile: Profile, file: str, header_row: int) -> tuple[dict[str, int], list[RowError]]:
    normalised = [normalise_title(t) for t in header]
    mapping: dict[str, int] = {}
    errors = []
    for name, title in profile.columns.items():
        if normalise_title(title) not in normalised:
            errors.append(RowError(file, header_row, title, None, f"column {title!r} (for {name}) is not in the header {header}"))
        else:
            mapping[name] = normalised.index(normalise_title(title))
    if errors:
        return mapping, errors
    profile_sets_amount = bool(set(_AMOUNT_SOURCES) & set(profile.columns))
    # ``Betrag (EUR)`` is recognised as ``Betrag``; the currency is taken from it later.
    map_titles([normalise_title(title_currency(t)[0]) for t in header], mapping, _AMOUNT_SOURCES if profile_sets_amount else ())
    if "amount" in mapping and not profile_sets_amount:
        mapping.pop("debit", None)
        mapping.pop("credit", None)
    if "indicator" in mapping and "amount" not in mapping:
        mapping.pop("indicator")
    if "date" not in mapping:
        errors.append(RowError(file, header_row, None, None, f"no date column in the header {header}"))
    trade = profile.amount
    if trade.quantity is not None:
        for key, title in [("_quantity", trade.quantity), ("_price", trade.price), ("_direction", trade.direction)] + \
                [(f"_fee{n}", fee) for n, fee in enumerate(trade.fees)]:
            if normalise_title(title) not in normalised:
                errors.append(RowError(file, header_row, title, None, f"column {title!r} (for the computed amount) is not in the header {header}"))
            else:
                mapping[key] = normalised.index(normalise_title(title))
        for name in _AMOUNT_SOURCES:
            mapping.pop(name, None)
    elif not set(_AMOUNT_SOURCES) & set(mapping):
        errors.append(RowError(file, header_row, None, None, f"no amount (or debit/credit) column in the header {header}"))
    for n, title in enumerate(trade.subtract):
        if normalise_title(title) not in normalised:
            errors.append(RowError(file, header_row, title, None, f"column {title!r} (amount.subtract) is not in the header {header}"))
        else:
            mapping[f"_subtract{n}"] = normalised.index(normalise_title(title))
    return mapping, errors


def _currency_of_amount_titles(header: list[str], mapping: dict[str, int], profile: Profile, file: str,
                               header_row: int) -> tuple[str | None, list[RowError]]:
    """The currency written in the amount columns' titles (``Betrag (EUR)``), if they agree.

    Amount columns of different currencies (``Amount (EUR)`` beside ``Amount (USD)``) leave
    the amount to read unknown: refused, unless a profile names the amount columns, when
    only those count.
    """
    if profile.columns.keys() & set(_AMOUNT_SOURCES):
        titles = {header[mapping[n]] for n in _AMOUNT_SOURCES if n in mapping}
    else:
        amount_aliases = {a for n in _AMOUNT_SOURCES for a in ALIASES[n]}
        titles = {t for t in header if normalise_title(title_currency(t)[0]) in amount_aliases}
    codes = {title: title_currency(title)[1] for title in titles if title_currency(title)[1]}
    if len(set(codes.values())) > 1:
        named = ", ".join(repr(t) for t in sorted(codes))
        return None, [RowError(file, header_row, None, None, f"the amount columns {named} are in different currencies: "
                               "name the one to read in a profile ([columns] amount, or debit and credit)")]
    return next(iter(codes.values()), None), []


def _title_values(rows: list[RawRow]) -> dict[str, str]:
    """Account and currency written above the header (``Account: 1234``, ``Currency,EUR``)."""
    found: dict[str, str] = {}
    for row in rows:
        cells = [_text(c) for c in row.cells if _text(c)]
        if len(cells) == 1 and ":" in cells[0]:
            cells = [part.strip() for part in cells[0].split(":", 1)]
        if len(cells) < 2:
            continue
        key, value = normalise_title(cells[0]), cells[1]
        if key in ALIASES["account"] and "account" not in found:
            found["account"] = value
        elif key in ALIASES["currency"] and is_currency_code(value.upper()):
            found.setdefault("currency", value.upper())
    return found


def _is_summary_row(row: RawRow, date_index: int) -> bool:
    date_cell = _cell(row, date_index)
    texts = [c for c in row.cells if isinstance(c, str) and c.strip()]
    if not any(_SUMMARY_ROW.search(t) for t in texts):
        return False
    first = texts[0] if texts else ""
    has_date = isinstance(date_cell, dt.date | Decimal) or bool(_DATE_LIKE.match(_text(date_cell)))
    return not has_date or bool(_SUMMARY_ROW.search(first) and first is not date_cell)


def _leave_out_rows(body: list[RawRow], header: list[str], mapping: dict[str, int], profile: Profile, fmt: str) -> tuple[list[RawRow], list[str]]:
    notes = []
    date_index = mapping["date"]
    start, end = 0, len(body)
    while start < end and _is_summary_row(body[start], date_index):
        start += 1
    while end > start and _is_summary_row(body[end - 1], date_index):
        end -= 1
    for row in body[:start] + body[end:]:
        shown = " | ".join(_text(c) for c in row.cells if _text(c))
        notes.append(f"row {row.number} looks like a total or balance line ({shown[:80]}) and was left out")
    body = body[start:end]
    if profile.skip:
        normalised = [normalise_title(t) for t in header]
        kept = []
        skipped = 0
        for row in body:
            if any(_skip_matches(rule, row, normalised) for rule in profile.skip):
                skipped += 1
            else:
                kept.append(row)
        if skipped:
            notes.append(f"{skipped} row(s) left out by the profile's skip rules")
        body = kept
    return _leave_out_pending(body, header, profile, notes)


def _leave_out_pending(body: list[RawRow], header: list[str], profile: Profile, notes: list[str]) -> tuple[list[RawRow], list[str]]:
    """Rows not booked yet (``Pending``, ``vorgemerkt``) are left out, as pending CAMT entries are."""
    normalised = [normalise_title(t) for t in header]
    rules = [rule for rule in profile.pending or _DEFAULT_PENDING if normalise_title(rule.column) in normalised]
    if not rules:
        return body, notes
    kept = [row for row in body if not any(_skip_matches(rule, row, normalised) for rule in rules)]
    if len(kept) < len(body):
        column = header[normalised.index(normalise_title(rules[0].column))]
        notes.append(f"{len(body) - len(kept)} pending row(s) left out (column {column!r}: not booked yet); "
                     "they are imported once booked")
    return kept, notes


def _skip_matches(rule, row: RawRow, normalised: list[str]) -> bool:
    if normalise_title(rule.column) not in normalised:
        return False
    value = _text(_cell(row, normalised.index(normalise_title(rule.column))))
    if rule.equals and value.casefold() in {v.casefold() for v in rule.equals}:
        return True
    return bool(rule.matches and re.search(rule.matches, value))


def _check_widths(body: list[RawRow], width: int, file: str, fmt: str) -> list[RowError]:
    errors = []
    for row in body:
        beyond = [c for c in row.cells[width:] if _text(c)]
        if beyond:
            errors.append(RowError(file, row.number, f"field {width + 1}", _text(beyond[0]),
                                   f"the row has {len(row.cells)} fields but the header has {width}: is a delimiter inside an unquoted value?"))
    last = body[-1]
    full = sum(len(r.cells) >= width for r in body[:-1])
    if fmt == "csv" and len(last.cells) < width and full == len(body) - 1 and len(body) > 1:
        errors.append(RowError(file, last.number, f"field {len(last.cells)}", _text(last.cells[-1]),
                               f"the last row has {len(last.cells)} of {width} fields: the file looks cut short"))
    return errors


def _parse_dates(cells, numbers, header, mapping, profile, raw, file, out) -> tuple[list[str], list[RowError]]:
    warnings, errors = [], []
    for name in DATE_COLUMNS:
        if name not in mapping:
            out[name] = [None] * len(numbers)
            continue
        title = header[mapping[name]]
        fmt = getattr(profile.parse, f"{name}_format" if name != "date" else "date_format")
        texts = [c for c in cells[name] if isinstance(c, str)]
        if fmt is None and texts:
            choice = choose_date_format(texts)
            fmt = choice.format
            if choice.ambiguous:
                warnings.append(f"column {title!r}: {choice.explain()}. Set parse.date_format in a profile if that is wrong")
        values, cache = [], {}
        for number, cell in zip(numbers, cells[name]):
            try:
                values.append(_date_value(cell, fmt, raw.excel_epoch, cache))
            except ValueError as exc:
                values.append(None)
                errors.append(RowError(file, number, title, _text(cell), str(exc)))
            if values[-1] is None and name == "date" and not _text(cell):
                errors.append(RowError(file, number, title, "", "the date is missing"))
        out[name] = values
    return warnings, errors


def _date_value(cell: Cell, fmt: str | None, epoch, cache: dict) -> dt.date | None:
    if cell is None or isinstance(cell, dt.date):
        return cell
    if isinstance(cell, Decimal):
        return date_from_serial(cell, epoch)
    text = cell.strip()
    if not text:
        return None
    if text not in cache:
        if fmt is None:
            raise ValueError(f"{text!r} is not a date")
        try:
            cache[text] = parse_date(text, fmt)
        except ValueError:
            raise ValueError(f"{text!r} is not a date in the form {describe_format(fmt)}") from None
    return cache[text]


def _trade_amounts(cells, numbers, header, mapping, profile, decimal, file, out) -> list[RowError]:
    """Cash of a trade: quantity x price, plus fees on a buy, less fees on a sell, rounded half-up."""
    trade = profile.amount
    buys = {m.upper() for m in trade.debit_markers}
    sells = {m.upper() for m in trade.credit_markers}
    errors, amounts = [], []
    fee_keys = [k for k in mapping if k.startswith("_fee")]
    for i, number in enumerate(numbers):
        values = {}
        for key in ["_quantity", "_price"] + fee_keys:
            cell = cells[key][i]
            try:
                values[key] = cell if isinstance(cell, Decimal) else (parse_amount(_text(cell), decimal) or Decimal(0))
            except AmountError as exc:
                errors.append(RowError(file, number, header[mapping[key]], _text(cell), str(exc)))
        side = _text(cells["_direction"][i]).upper()
        if side not in buys | sells:
            errors.append(RowError(file, number, header[mapping["_direction"]], side,
                                   f"{side!r} is not a buy or sell marker (expected one of {sorted(buys | sells)})"))
        if len(values) < 2 + len(fee_keys) or side not in buys | sells:
            amounts.append(Decimal(0))
            continue
        gross = (values["_quantity"] * values["_price"]).quantize(trade.round, rounding=ROUND_HALF_UP)
        fees = sum((values[k] for k in fee_keys), Decimal(0))
        amount = -(gross + fees) if side in buys else gross - fees
        try:
            check_amount(amount)
        except AmountError as exc:
            errors.append(RowError(file, number, header[mapping["_quantity"]], _text(cells["_quantity"][i]),
                                   f"quantity x price plus fees: {exc}"))
            amount = Decimal(0)
        amounts.append(-amount if trade.flip_sign else amount)
    out["amount"] = amounts
    return errors


def _parse_amounts(cells, numbers, header, mapping, profile, raw, file, out) -> tuple[list[str], list[RowError]]:
    warnings, errors = [], []
    if profile.amount.quantity is not None:
        return warnings, _trade_amounts(cells, numbers, header, mapping, profile, profile.read.decimal or ".", file, out)
    sources = [n for n in _AMOUNT_SOURCES if n in mapping]
    subtracted = [k for k in mapping if k.startswith("_subtract")]
    decimal = profile.read.decimal
    if decimal is None:
        texts = [c for n in sources + subtracted for c in cells[n] if isinstance(c, str) and c.strip()]
        hint = "," if raw.delimiter == ";" else "."
        decimal, ambiguous = infer_decimal_separator(texts, hint)
        if ambiguous and texts and any(("," in t or "." in t) for t in texts):
            warnings.append(f"amounts read with {decimal!r} as the decimal separator (the values do not show which); "
                            "set read.decimal in a profile if that is wrong")
    parsed: dict[str, list[Decimal | None]] = {}
    for name in sources + subtracted:
        title = header[mapping[name]]
        values = []
        for number, cell in zip(numbers, cells[name]):
            try:
                values.append(cell if isinstance(cell, Decimal) else parse_amount(_text(cell), decimal))
            except AmountError as exc:
                values.append(None)
                errors.append(RowError(file, number, title, _text(cell), str(exc)))
        parsed[name] = values
    indicator = "indicator" if "indicator" in mapping else _type_as_indicator(cells, parsed, mapping, profile)
    if indicator == "type":
        warnings.append(f"amounts signed by column {header[mapping['type']]!r}: every row there says debit or credit, "
                        f"and column {header[mapping['amount']]!r} holds no negative amounts")
    amounts: list[Decimal | None] = []
    bad_rows = {e.row for e in errors}
    for i, number in enumerate(numbers):
        if number in bad_rows:
            amounts.append(Decimal(0))
            continue
        if "amount" in parsed:
            amount = parsed["amount"][i]
            if amount is None:
                errors.append(RowError(file, number, header[mapping["amount"]], "", "the amount is missing"))
                amount = Decimal(0)
            elif indicator:
                amount, error = _apply_indicator(amount, cells[indicator][i], profile)
                if error:
                    errors.append(RowError(file, number, header[mapping[indicator]], _text(cells[indicator][i]), error))
        else:
            debit = parsed.get("debit", [None] * len(numbers))[i]
            credit = parsed.get("credit", [None] * len(numbers))[i]
            if debit is None and credit is None:
                titles = " or ".join(repr(header[mapping[n]]) for n in ("debit", "credit") if n in mapping)
                errors.append(RowError(file, number, titles, "", "neither a debit nor a credit amount is given"))
            elif debit and credit:
                errors.append(RowError(file, number, header[mapping["debit"]], f"{debit} / {credit}",
                                       "the row has both a debit and a credit amount"))
            amount = (credit or Decimal(0)) - abs(debit or Decimal(0))
        amount -= sum((parsed[k][i] or Decimal(0) for k in subtracted), Decimal(0))
        amounts.append(-amount if profile.amount.flip_sign else amount)
    out["amount"] = amounts
    return warnings, errors


def _type_as_indicator(cells, parsed, mapping, profile: Profile) -> str | None:
    """``"type"`` when the type column is really a debit/credit indicator for unsigned amounts.

    A statement that prints every amount as positive and says DEBIT or CREDIT in its type
    column would otherwise be read with every payment as money in. Only when no amount is
    negative (signed amounts are already right) and every row's type is a debit or credit
    marker.
    """
    if "amount" not in parsed or "type" not in mapping:
        return None
    markers = {m.upper() for m in (*profile.amount.debit_markers, *profile.amount.credit_markers)} - {"-", "+"}
    kinds = {_text(c).upper() for c in cells["type"]}
    amounts = [a for a in parsed["amount"] if a is not None]
    if kinds and kinds <= markers and amounts and all(a >= 0 for a in amounts):
        return "type"
    return None


def _apply_indicator(amount: Decimal, cell: Cell, profile: Profile) -> tuple[Decimal, str | None]:
    marker = _text(cell).upper()
    if marker in {m.upper() for m in profile.amount.debit_markers}:
        return -abs(amount), None
    if marker in {m.upper() for m in profile.amount.credit_markers}:
        return abs(amount), None
    known = list(profile.amount.debit_markers) + list(profile.amount.credit_markers)
    return amount, f"{marker!r} is not a debit/credit marker (expected one of {known})"


def _row_ids(body: list[RawRow], id_cells, numbers, title, file) -> tuple[list[str], list[RowError]]:
    errors = []
    if id_cells is not None:
        ids = [_text(c) for c in id_cells]
        first_seen: dict[str, int] = {}
        for number, value in zip(numbers, ids):
            if not value:
                errors.append(RowError(file, number, title, "", "the id is empty"))
            elif value in first_seen:
                errors.append(RowError(file, number, title, value, f"id {value!r} is already used on row {first_seen[value]}"))
            else:
                first_seen[value] = number
        return ids, errors
    ids, seen = [], Counter()
    for row in body:
        content = "\x1f".join(_text(c) for c in row.cells)
        seen[content] += 1
        digest = hashlib.sha256(f"{content}\x1e{seen[content]}".encode()).hexdigest()
        ids.append(digest[:20])
    return ids, errors


def _unique_titles(header: list[str]) -> list[str]:
    """Repeated titles get `` (2)``, `` (3)``... so a profile can name each one."""
    seen: Counter = Counter()
    unique = []
    for index, title in enumerate(header):
        title = title or f"column_{index + 1}"
        seen[normalise_title(title)] += 1
        unique.append(title if seen[normalise_title(title)] == 1 else f"{title} ({seen[normalise_title(title)]})")
    return unique
