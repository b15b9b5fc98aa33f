"""The canonical-CSV fast path reads a file exactly as the general import does, or declines."""

import datetime as dt
import string
from decimal import Decimal

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.ingest.canonical_csv import SPACES, write_canonical_parquet
from core.ingest.datasets import parse_source

texts = st.text(alphabet=string.ascii_letters + string.digits + " ,.-\"é=", max_size=12).map(str.strip)
rows = st.lists(
    st.tuples(
        st.sampled_from(["ACC-1", "ACC-2", ""]),
        st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31)),
        st.decimals(min_value=Decimal("-99999999"), max_value=Decimal("99999999"), places=2, allow_nan=False, allow_infinity=False),
        st.sampled_from(["USD", "eur", "GBP"]),
        texts,
        texts,
    ),
    min_size=1,
    max_size=25,
)


def csv_text(header: list[str], records: list[list[str]]) -> str:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value

    return "\n".join([",".join(header)] + [",".join(cell(v) for v in r) for r in records]) + "\n"


# Titles a bank's or a ledger's export uses for each column, read through the same aliases as
# the general import; "date" beside "value date" is kept as an extra column ("source_date").
titles = st.fixed_dictionaries({
    "id": st.sampled_from(["id", "Transaction ID", "FITID"]),
    "account": st.sampled_from(["account", "Account Number", "IBAN"]),
    "date": st.sampled_from([["date"], ["Value Date"], ["Booking Date"], ["Value Date", "date"], ["Date", "Trade Date"]]),
    "amount": st.sampled_from(["amount", "Amount", "Net Amount", "Betrag"]),
    "currency": st.sampled_from(["currency", "CCY", "Currency Code"]),
    "reference": st.sampled_from(["reference", "Ref No.", "Bank Reference"]),
    "description": st.sampled_from(["description", "Narrative", "Details"]),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows, st.booleans(), st.booleans(), titles)
def test_fast_path_equals_the_general_import(tmp_path, generated, with_ids, duplicate_first, named):
    dates = named["date"]
    header = ([named["id"]] if with_ids else []) + [named["account"], *dates, named["amount"], named["currency"], named["reference"],
                                                    named["description"], "Branch"]
    records = []
    for n, (account, day, amount, currency, reference, description) in enumerate(generated):
        records.append(([f"T{n}"] if with_ids else []) + [account, *[day.isoformat()] * len(dates), str(amount), currency, reference,
                                                          description, "main"])
    if duplicate_first and not with_ids:
        records.append(list(records[0]))
    path = tmp_path / "canonical.csv"
    path.write_text(csv_text(header, records), encoding="utf-8")
    target = tmp_path / "out.parquet"
    stats = write_canonical_parquet(path, target)
    general, errors = parse_source(path.read_bytes(), path.name)
    assert errors == []
    assert stats is not None, "a plainly canonical file takes the fast path"
    fast = pq.read_table(target)
    assert [(f.name, f.type) for f in fast.schema] == [(f.name, f.type) for f in general.table.schema]
    assert fast.to_pylist() == general.table.to_pylist()
    assert stats.rows == general.table.num_rows


def test_fast_path_declines_files_it_might_read_differently(tmp_path):
    cases = {
        "bad amount": "account,date,amount,currency\nA,2024-01-01,1.2.3,USD\n",
        "rounding scale": "account,date,amount,currency\nA,2024-01-01,1.1234567,USD\n",
        "scientific": "account,date,amount,currency\nA,2024-01-01,1e3,USD\n",
        "footer": "account,date,amount,currency\nA,2024-01-01,1.00,USD\nTotal,,1.00,\n",
        "padded": "account,date,amount,currency\nA , 2024-01-01,1.00,USD\n",
        # Characters Python strips that regular-expression classes for white space leave out.
        "vertical tab": "account,date,amount,currency,reference\nA,2024-01-01,1.00,USD,\x0bR1\n",
        "file separator": "account,date,amount,currency,reference\nA,2024-01-01,1.00,USD,R1\x1c\n",
        "next line": "account,date,amount,currency,reference\nA,2024-01-01,1.00,USD,R1\x85\n",
        "debit and credit": "Account,Date,Debit,Credit,Currency\nA,2024-01-01,1.00,,USD\n",
        "indicator": "account,date,amount,currency,dr cr\nA,2024-01-01,1.00,USD,D\n",
        "unsigned with a debit or credit type": ("account,date,amount,currency,type\n"
                                                 "A,2024-01-01,1.00,USD,debit\nA,2024-01-02,2.00,USD,CR\n"),
        "alike titles": "account,date,amount,currency,Reference,reference\nA,2024-01-01,1.00,USD,x,y\n",
        "no currency column": "account,date,amount\nA,2024-01-01,1.00\n",
        "bad currency": "account,date,amount,currency\nA,2024-01-01,1.00,XXY\n",
        "duplicate id": "id,account,date,amount,currency\n1,A,2024-01-01,1.00,USD\n1,A,2024-01-01,1.00,USD\n",
        "ragged": "account,date,amount,currency\nA,2024-01-01,1.00\n",
        "bom": "\ufeffaccount,date,amount,currency\nA,2024-01-01,1.00,USD\n",
        "working column name": "account,date,amount,currency,_row\nA,2024-01-01,1.00,USD,x\n",
        "other dates": "account,date,amount,currency\nA,01/02/2024,1.00,USD\n",
        # DuckDB reads a year 0000 (1 BC); Python's dates, and so the general import, start at year 1.
        "year zero": "account,date,amount,currency\nA,0000-01-01,1.00,USD\n",
        "year zero in another date": "account,date,amount,currency,trade_date\nA,2024-01-01,1.00,USD,0000-12-31\n",
    }
    for name, text in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        target = tmp_path / f"{name}.parquet"
        assert write_canonical_parquet(path, target) is None, name
        assert not target.exists(), name


def test_a_type_column_of_other_values_or_signed_amounts_keeps_the_fast_path(tmp_path):
    for text in ("account,date,amount,currency,type\nA,2024-01-01,1.00,USD,FEE\nA,2024-01-02,2.00,USD,CR\n",
                 "account,date,amount,currency,type\nA,2024-01-01,-1.00,USD,DEBIT\nA,2024-01-02,2.00,USD,CREDIT\n"):
        path = tmp_path / "typed.csv"
        path.write_text(text, encoding="utf-8")
        stats = write_canonical_parquet(path, tmp_path / "typed.parquet")
        general, errors = parse_source(path.read_bytes(), path.name)
        assert stats is not None and errors == []
        assert pq.read_table(tmp_path / "typed.parquet").to_pylist() == general.table.to_pylist()


def test_every_character_python_strips_at_either_end_declines_the_fast_path(tmp_path):
    stripped = [c for c in range(0x110000) if chr(c).isspace()]
    assert sorted(SPACES) == stripped
    for code in stripped:
        for cell in (f"{chr(code)}R1", f"R1{chr(code)}"):
            if chr(code) in "\r\n":
                cell = f'"{cell}"'
            path = tmp_path / f"{code}.csv"
            path.write_text(f"account,date,amount,currency,reference\nA,2024-01-01,1.00,USD,{cell}\n", encoding="utf-8")
            assert write_canonical_parquet(path, tmp_path / f"{code}.parquet") is None, hex(code)
    # Inside a field, and in an accented last character, nothing is stripped: the fast path reads it.
    path = tmp_path / "inner.csv"
    path.write_text("account,date,amount,currency,reference\nA,2024-01-01,1.00,USD,R\u3000\u00851é\n", encoding="utf-8")
    assert write_canonical_parquet(path, tmp_path / "inner.parquet") is not None


def test_derived_ids_number_identical_rows_in_file_order_in_a_large_file(tmp_path):
    # Large enough for DuckDB to read and number rows on several threads; the general
    # import's rule, restated here: sha256 of the row's text, 0x1e, and how many times that
    # same text has appeared so far.
    import hashlib

    lines = [f"A{n % 7},2024-01-{1 + n % 28:02d},{n % 5}.00,USD,R{n % 3}" for n in range(300_000)]
    path = tmp_path / "no_ids.csv"
    path.write_text("account,date,amount,currency,reference\n" + "\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "out.parquet"
    assert write_canonical_parquet(path, target) is not None
    seen: dict[str, int] = {}
    expected = []
    for line in lines:
        content = line.replace(",", "\x1f")
        seen[content] = seen.get(content, 0) + 1
        expected.append(hashlib.sha256(f"{content}\x1e{seen[content]}".encode()).hexdigest()[:20])
    assert pq.read_table(target, columns=["id"]).column("id").to_pylist() == expected


def test_read_ahead_hands_over_tables_under_the_callers_names(tmp_path):
    from core.ingest.canonical_csv import ReadAhead

    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("id,account,date,amount,currency\nT1,A,2024-01-01,1.50,USD\nT2,A,2024-01-02,-2.25,USD\n", encoding="utf-8")
    bad.write_text("account,date,amount,currency\nA,01/02/2024,1.00,USD\n", encoding="utf-8")
    missing = tmp_path / "missing.csv"
    ahead = ReadAhead([good, bad, missing, good])
    assert ahead.take(bad, "other") is None
    assert ahead.take(missing, "gone") is None
    stats = ahead.take(good, "books")
    assert stats.rows == 2 and stats.scale == 2
    assert ahead.con.execute("SELECT id, amount FROM books ORDER BY id").fetchall() == [("T1", Decimal("1.50")), ("T2", Decimal("-2.25"))]
    assert not ahead.has(good)
    tables = {row[0] for row in ahead.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {"books"}
    ahead.wait()


def test_a_large_file_with_ids_is_stored_in_file_order_every_time(tmp_path):
    # Large enough to span several row groups read on two threads (out of order half the
    # time at 300,000 rows on two cores before the fix, every time at 600,000).
    count = 500_000
    lines = [f"T{n},A{n % 7},2024-01-{1 + n % 28:02d},{n % 500}.25,USD,R{n},payment {n}" for n in range(count)]
    path = tmp_path / "with_ids.csv"
    path.write_text("id,account,date,amount,currency,reference,description\n" + "\n".join(lines) + "\n", encoding="utf-8")
    expected = [f"T{n}" for n in range(count)]
    for attempt in range(2):
        target = tmp_path / f"out{attempt}.parquet"
        assert write_canonical_parquet(path, target) is not None
        assert pq.read_table(target, columns=["id"]).column("id").to_pylist() == expected, f"import {attempt + 1}"
