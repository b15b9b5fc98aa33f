"""Hostile and broken files: every reader answers with findings, never with an exception.

Hypothesis feeds each format random bytes and mutated valid files (cut short, bytes
flipped, junk inserted, huge numbers); the budget is bounded so the suite stays quick.
"""

import io
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain.findings import RowError
from core.ingest.datasets import parse_source
from tests.statement_samples import BAI2, MT940, OFX_SGML, OFX_XML, camt053

CSV = b"Date;Account;Amount;Currency;Reference\n01.10.2026;A1;1.234,56;EUR;R1\n02.10.2026;A1;-10,00;EUR;R2\n"


def xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["Date", "Amount", "Currency"])
    workbook.active.append(["2026-10-01", 12.5, "USD"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


SAMPLES = [CSV, MT940, camt053(closing="1499.75"), BAI2, OFX_SGML, OFX_XML, xlsx_bytes()]
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def answers_with_findings(data: bytes) -> None:
    result, errors = parse_source(data, "fuzzed.bin")
    assert (result is None) == bool(errors)
    assert all(isinstance(e, RowError) and e.file == "fuzzed.bin" and e.message for e in errors)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    answers_with_findings(data)


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_valid_files_cut_short(sample, data):
    answers_with_findings(sample[: data.draw(st.integers(min_value=0, max_value=len(sample)))])


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_valid_files_with_bytes_flipped_or_junk_inserted(sample, data):
    mutated = bytearray(sample)
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        position = data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))
        if data.draw(st.booleans()):
            mutated[position] = data.draw(st.integers(min_value=0, max_value=255))
        else:
            mutated[position:position] = data.draw(st.binary(min_size=1, max_size=16))
    answers_with_findings(bytes(mutated))


@FUZZ
@given(st.sampled_from([b"1" * 40, b"9" * 400, b"-0" + b"0" * 60 + b"1", b"1e308", b"NaN", b"Infinity"]))
def test_huge_and_odd_numbers(number):
    answers_with_findings(b"Date,Amount,Currency\n2026-10-01," + number + b",USD\n")
    answers_with_findings(MT940.replace(b"50,00", number.replace(b".", b",")))
    answers_with_findings(camt053(closing="1499.75").replace(b">300.00<", b">" + number + b"<"))
    answers_with_findings(BAI2.replace(b"20050", number))
    answers_with_findings(OFX_SGML.replace(b"-50.00", number))


def test_zip_bomb_is_refused_before_it_is_expanded(monkeypatch):
    monkeypatch.setenv("RECON_MAX_IMPORT_MB", "10")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (300 * 1024 * 1024))
    result, errors = parse_source(buffer.getvalue(), "bomb.xlsx")
    assert result is None and "expands" in errors[0].message


def test_xlsx_formulas_without_saved_values_are_named():
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["Date", "Amount", "Currency"])
    workbook.active.append(["2026-10-01", "=SUM(1,2)", "USD"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result, errors = parse_source(buffer.getvalue(), "formulas.xlsx")
    assert result is None
    assert (errors[0].row, errors[0].column) == (2, "B") and "formula" in errors[0].message


MT940_AMOUNTS = [a for a in parse_source(MT940, "sample.sta")[0].table.column("amount").to_pylist()]
MT940_LINE_STARTS = [0] + [i + 1 for i, byte in enumerate(MT940) if byte == ord("\n") and i + 1 < len(MT940)]
# Before the first :20:, before any later line (a :20:, :61:, :86: or balance), or several at once.
MUTATIONS = [b" ", b"\t", b"\xef\xbb\xbf\xef\xbb\xbf", b"\x1a", b"x", b"\xff", b"-", b":", b"\r", b"0", b"\x00"]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(MT940_LINE_STARTS), st.sampled_from(MUTATIONS)), min_size=1, max_size=3))
def test_mt940_with_bytes_before_its_lines_is_read_whole_or_refused(mutations):
    """Every entry with its right amount, or a refusal naming why: never a statement lost in silence."""
    mutated = MT940
    for position, junk in sorted(mutations, reverse=True):
        mutated = mutated[:position] + junk + mutated[position:]
    result, errors = parse_source(mutated, "mutated.sta")
    if result is None:
        assert errors and all(e.file == "mutated.sta" and e.message for e in errors)
    else:
        assert result.table.column("amount").to_pylist() == MT940_AMOUNTS


def test_mt940_each_mutation_before_each_line_is_read_whole_or_refused():
    """Exhaustive over single mutations: a leading space, stray byte or doubled BOM before the first :20: and every later line."""
    for position in MT940_LINE_STARTS:
        for junk in MUTATIONS:
            mutated = MT940[:position] + junk + MT940[position:]
            result, errors = parse_source(mutated, "mutated.sta")
            assert (result is None and errors and all(e.message for e in errors)) or \
                result.table.column("amount").to_pylist() == MT940_AMOUNTS, (position, junk)
