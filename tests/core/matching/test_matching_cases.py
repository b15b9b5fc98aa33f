"""Each kind of noise real books and statements carry, pinned with a small hand-written case."""

import random

import duckdb
import pytest

from core.ingest.normalise import transaction_schema
from core.matching.engine import match_tables
from core.matching.rules import RuleSetError, load_rules, parse_rules
from tests.matching_helpers import groups_by_record, links, open_ids, run, table


def test_settlement_lag_of_business_days_over_a_weekend_is_confirmed():
    result = run([("b1", "A", "2026-10-02", "-250.00")],  # a Friday
                 [("s1", "A", "2026-10-07", "-250.00")])  # the Wednesday after: 3 business days
    group = groups_by_record(result)["b1"]
    assert (group["rule"], group["status"], group["external"]) == ("amount_and_date", "confirmed", {"s1"})
    assert group["days_diff"] == 5


def test_lag_beyond_the_window_is_only_proposed():
    result = run([("b1", "A", "2026-10-01", "-250.00")], [("s1", "A", "2026-10-09", "-250.00")])
    group = groups_by_record(result)["b1"]
    assert (group["rule"], group["status"]) == ("amount_late_settlement", "proposed")


@pytest.mark.parametrize(
    ("book_ref", "bank_ref", "rule"),
    [
        ("INV-0042", "inv 42", "reference_and_amount"),
        ("INV-0042", "INV/00042", "reference_and_amount"),
        ("Réf. Café-42", "REF CAFE 42", "reference_and_amount"),
        ("INV-2611801", "FT2611801X", "reference_number_and_amount"),
        ("PAY-2619920", "REF 2619920", "reference_number_and_amount"),
    ],
)
def test_references_rewritten_by_the_bank_still_match(book_ref, bank_ref, rule):
    result = run([("b1", "A", "2026-10-01", "100.00", book_ref), ("b2", "A", "2026-10-01", "100.00", "OTHER-1")],
                 [("s1", "A", "2026-10-05", "100.00", bank_ref)])
    group = groups_by_record(result)["s1"]
    assert (group["internal"], group["rule"], group["status"]) == ({"b1"}, rule, "confirmed")


def test_missing_reference_matches_on_amount_and_date():
    result = run([("b1", "A", "2026-10-01", "75.10", "INV-9")], [("s1", "A", "2026-10-02", "75.10", "")])
    assert links(result) == {("b1", "s1")}


def test_small_bank_fee_is_proposed_never_confirmed():
    result = run([("b1", "A", "2026-10-05", "5000.00", "INV-77")], [("s1", "A", "2026-10-06", "4985.00", "")])
    group = groups_by_record(result)["b1"]
    assert (group["rule"], group["status"], str(group["amount_diff"])) == ("fee_deducted", "proposed", "-15.00")


def test_a_larger_difference_is_not_a_fee():
    result = run([("b1", "A", "2026-10-05", "5000.00")], [("s1", "A", "2026-10-06", "4900.00")])
    assert links(result) == set() and open_ids(result) == {"b1", "s1"}


def test_batch_deposit_matches_sum_of_receipts():
    receipts = [("r1", "A", "2026-10-05", "120.50"), ("r2", "A", "2026-10-05", "310.00"), ("r3", "A", "2026-10-06", "69.50"),
                ("r4", "A", "2026-10-06", "1000.01")]
    result = run(receipts, [("d1", "A", "2026-10-07", "500.00", "DEP 431")])
    group = groups_by_record(result)["d1"]
    assert (group["rule"], group["status"], group["internal"]) == ("batch_deposit", "confirmed", {"r1", "r2", "r3"})
    assert open_ids(result) == {"r4"}


def test_split_payment_matches_its_statement_lines():
    result = run([("p1", "A", "2026-10-05", "-3000.00", "PAY-1")],
                 [("s1", "A", "2026-10-06", "-1800.00"), ("s2", "A", "2026-10-06", "-1200.00"), ("s3", "A", "2026-10-06", "-999.00")])
    group = groups_by_record(result)["p1"]
    assert (group["rule"], group["status"], group["external"]) == ("split_payment", "confirmed", {"s1", "s2"})


def test_twins_on_one_day_are_told_apart_by_references():
    books = [("b1", "A", "2026-10-05", "500.00", "INV-1001"), ("b2", "A", "2026-10-05", "500.00", "INV-1002")]
    bank = [("s2", "A", "2026-10-06", "500.00", "1002"), ("s1", "A", "2026-10-06", "500.00", "INV/1001")]
    result = run(books, bank)
    assert links(result) == {("b1", "s1"), ("b2", "s2")}
    assert all(g["status"] == "confirmed" for g in result.groups.to_pylist())


def test_twins_without_references_are_ambiguous_and_only_proposed():
    books = [("b1", "A", "2026-10-05", "500.00"), ("b2", "A", "2026-10-05", "500.00")]
    bank = [("s1", "A", "2026-10-06", "500.00"), ("s2", "A", "2026-10-06", "500.00")]
    result = run(books, bank)
    assert len(result.groups) == 2
    assert {g["status"] for g in result.groups.to_pylist()} == {"proposed"}


def test_one_book_entry_with_two_equal_candidates_is_proposed_and_the_other_stays_open():
    result = run([("b1", "A", "2026-10-05", "80.00")], [("s1", "A", "2026-10-06", "80.00"), ("s2", "A", "2026-10-06", "80.00")])
    assert [g["status"] for g in result.groups.to_pylist()] == ["proposed"]
    assert len(open_ids(result)) == 1


def test_a_clear_pair_is_taken_first_so_a_tie_it_removes_is_no_tie():
    books = [("b1", "A", "2026-10-05", "80.00", "X-1"), ("b2", "A", "2026-10-05", "80.00", "")]
    bank = [("s1", "A", "2026-10-05", "80.00", "X-1"), ("s2", "A", "2026-10-05", "80.00", "")]
    result = run(books, bank, "[[passes]]\nname = 'amount'\ndate_window = 2\n")
    assert links(result) == {("b1", "s1"), ("b2", "s2")}
    assert {g["status"] for g in result.groups.to_pylist()} == {"confirmed"}


def test_decoys_on_other_accounts_and_weeks_apart_are_never_matched():
    books = [("b1", "A", "2026-10-01", "999.99"), ("b2", "B", "2026-10-01", "450.00")]
    bank = [("s1", "B", "2026-10-01", "999.99"), ("s2", "B", "2026-10-28", "450.00")]
    result = run(books, bank)
    assert links(result) == set()
    assert open_ids(result) == {"b1", "b2", "s1", "s2"}


def test_never_across_currencies_unless_a_pass_says_so():
    books = [("b1", "A", "2026-10-01", "10.00", "", "USD")]
    bank = [("s1", "A", "2026-10-01", "10.00", "", "EUR")]
    assert links(run(books, bank)) == set()
    crossing = "[[passes]]\nname = 'any_currency'\ncross_currency = true\n"
    assert links(run(books, bank, crossing)) == {("b1", "s1")}


def test_ambiguous_subsets_are_proposed_not_confirmed():
    receipts = [("r1", "A", "2026-10-05", "100.00"), ("r2", "A", "2026-10-05", "200.00"), ("r3", "A", "2026-10-05", "150.00"),
                ("r4", "A", "2026-10-05", "150.00")]
    result = run(receipts, [("d1", "A", "2026-10-05", "300.00")])
    group = groups_by_record(result)["d1"]
    assert group["status"] == "proposed"


def test_many_to_many_by_a_shared_key():
    rules = "[[passes]]\nname = 'batch_ref'\ncardinality = 'n:m'\ngroup_by = ['reference']\ndate_window = 3\n"
    books = [("b1", "A", "2026-10-01", "10.00", "B7"), ("b2", "A", "2026-10-01", "20.00", "B7"), ("b3", "A", "2026-10-01", "5.00", "B8")]
    bank = [("s1", "A", "2026-10-02", "12.00", "B7"), ("s2", "A", "2026-10-02", "18.00", "B7"), ("s3", "A", "2026-10-02", "6.00", "B8")]
    result = run(books, bank, rules)
    assert links(result) == {(b, s) for b in ("b1", "b2") for s in ("s1", "s2")}
    assert open_ids(result) == {"b3", "s3"}


def test_percent_tolerance_without_an_absolute_one():
    rules = "[[passes]]\nname = 'pct'\namount_tolerance_pct = '1'\ndate_window = 1\n"
    result = run([("b1", "A", "2026-10-01", "1000.00"), ("b2", "A", "2026-10-01", "-2000.00")],
                 [("s1", "A", "2026-10-01", "995.00"), ("s2", "A", "2026-10-01", "-1900.00")], rules)
    assert links(result) == {("b1", "s1")}


def test_groups_explain_what_differed():
    result = run([("b1", "A", "2026-10-05", "5000.00", "INV-77")], [("s1", "A", "2026-10-07", "4985.00", "FT77X")])
    explanation = result.groups.to_pylist()[0]["explanation"]
    assert "-15.00" in explanation and "2026-10-05" in explanation and "2026-10-07" in explanation and "INV-77" in explanation


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[passes]]\nname = 'a'\nwindow = 3\n", "pass 1 (a).window"),
        ("[[passes]]\nname = 'a'\namount_tolerance = 0.5\n", "write tolerances as strings"),
        ("[[passes]]\nname = 'a'\ncardinality = 'n:m'\n", "needs group_by"),
        ("[[passes]]\nname = 'a'\ncardinality = '2:2'\n", "cardinality"),
        ("[[passes]]\nname = 'a'\n[[passes]]\nname = 'a'\n", "unique"),
        ("[[passes]]\nname = 'a'\nkeys = ['colour']\n", "colour"),
        ("passes = []\n", "passes"),
        ("[[passes]]\nname = 'a'\namount_tolerance_pct = '150'\n", "amount_tolerance_pct"),
    ],
)
def test_rule_set_errors_name_the_pass_and_key(text, fragment):
    with pytest.raises(RuleSetError) as caught:
        parse_rules(text, "rules.toml")
    assert "rules.toml" in str(caught.value) and fragment in str(caught.value)


def test_rule_set_errors_say_only_what_is_wrong_and_list_the_settings():
    with pytest.raises(RuleSetError) as caught:
        parse_rules("nme = 'x'\n[[passes]]\nname = 'a'\nequality_keys = ['account']\n", "rules.toml")
    message = str(caught.value)
    assert message.startswith("rules.toml: pass 1 (a).equality_keys: not a setting; the settings are name, description, cardinality, keys,")
    assert "nme: not a setting; the settings are name, description, passes" in message
    assert "at least 1 item" not in message and "Value error" not in message
    with pytest.raises(RuleSetError) as caught:
        parse_rules("[[passes]]\nname = 'a'\nkeys = ['colour']\n", "rules.toml")
    assert str(caught.value).startswith("rules.toml: pass 1 (a).keys: unknown column(s) ['colour']; use ['account'")


COUNTERPARTY_RULES = """
[[passes]]
name = "same_counterparty"
keys = ["counterparty"]
date_window = 2
[[passes]]
name = "counterparty_fee"
keys = ["counterparty"]
amount_tolerance = "5.00"
date_window = 2
[[passes]]
name = "counterparty_batch"
keys = ["counterparty"]
cardinality = "n:1"
max_group_size = 3
date_window = 2
"""


def test_passes_can_require_other_columns_to_agree():
    # Equal amounts and dates; only the counterparty tells the pairs apart, in every kind of pass.
    result = run([("b1", "A", "2026-10-01", "500.00", "", "USD", "ACME"), ("b2", "A", "2026-10-01", "500.00", "", "USD", "GLOBEX"),
                  ("b3", "A", "2026-10-01", "80.00", "", "USD", "ACME"), ("b4", "A", "2026-10-01", "80.00", "", "USD", "GLOBEX"),
                  ("b5", "A", "2026-10-01", "30.00", "", "USD", "INITECH"), ("b6", "A", "2026-10-01", "45.00", "", "USD", "INITECH"),
                  ("b7", "A", "2026-10-01", "30.00", "", "USD", "UMBRELLA"), ("b8", "A", "2026-10-01", "45.00", "", "USD", "UMBRELLA")],
                 [("s1", "A", "2026-10-02", "500.00", "", "USD", "GLOBEX"), ("s2", "A", "2026-10-02", "500.00", "", "USD", "ACME"),
                  ("s3", "A", "2026-10-02", "78.00", "", "USD", "GLOBEX"), ("s4", "A", "2026-10-02", "77.00", "", "USD", "ACME"),
                  ("s5", "A", "2026-10-02", "75.00", "", "USD", "UMBRELLA")], COUNTERPARTY_RULES)
    assert links(result) == {("b1", "s2"), ("b2", "s1"), ("b3", "s4"), ("b4", "s3"), ("b7", "s5"), ("b8", "s5")}
    by_record = groups_by_record(result)
    assert [by_record[r]["rule"] for r in ("b1", "b3", "b7")] == ["same_counterparty", "counterparty_fee", "counterparty_batch"]
    assert open_ids(result) == {"b5", "b6"}


class _CountingConnection:
    """A DuckDB connection that counts the one-to-one passes' ranking rounds and the largest
    candidate table they draw on."""

    def __init__(self, con):
        self.con, self.rounds, self.largest = con, 0, 0

    def execute(self, query, *args):
        found = self.con.execute(query, *args)
        if "CREATE OR REPLACE TEMP TABLE ranked" in query:
            self.rounds += 1
        if "CREATE OR REPLACE TEMP TABLE cand AS" in query:
            self.largest = max(self.largest, self.con.execute("SELECT count(*) FROM cand").fetchall()[0][0])
        return found

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_a_block_of_interchangeable_records_is_paired_at_once_in_id_order():
    # 150 payments of the same amount on each of two days, both sides: every pairing within
    # a day is as good as any other. They are paired in id order, all proposed, in a few
    # rounds (one pair a round would take 150).
    books = [(f"b{n:03d}", "A", f"2026-10-0{5 + n % 2}", "-1000.00") for n in range(300)]
    bank = [(f"s{n:03d}", "A", f"2026-10-0{5 + n % 2}", "-1000.00") for n in range(300)]
    con = duckdb.connect()
    con.register("books", table(books))
    con.register("bank", table(bank))
    counting = _CountingConnection(con)
    result = match_tables("books", "bank", parse_rules("[[passes]]\nname = 'amount'\ndate_window = 3\n"), counting)
    assert links(result) == {(f"b{n:03d}", f"s{n:03d}") for n in range(300)}
    assert {g["status"] for g in result.groups.to_pylist()} == {"proposed"}
    assert counting.rounds <= 3



@pytest.mark.parametrize(("bank_reference", "rule"), [("inv{n:04d}", "reference_and_amount"),
                                                     ("PAYMENT {n:05d} CARD", "reference_number_and_amount")])
def test_many_equal_amounts_with_their_own_references_pair_by_reference(bank_reference, rule):
    # 80 invoices of the same amount: a crowded group (80 x 80 possible pairs). The bank
    # rewrites each reference and lists the lines in another order; each still finds its own.
    numbers = list(range(1000, 1080))
    books = [(f"b{n}", "A", f"2026-10-{5 + n % 3:02d}", "49.00", f"INV-{n:04d}") for n in numbers]
    random.Random(4).shuffle(numbers)
    bank = [(f"s{j:02d}", "A", f"2026-10-{6 + n % 3:02d}", "49.00", bank_reference.format(n=n)) for j, n in enumerate(numbers)]
    result = run(books, bank)
    assert links(result) == {(f"b{n}", f"s{j:02d}") for j, n in enumerate(numbers)}
    assert {g["status"] for g in result.groups.to_pylist()} == {"confirmed"}
    assert {g["rule"] for g in result.groups.to_pylist()} == {rule}


def test_a_crowded_group_gets_a_few_candidates_a_record_not_every_pairing():
    # 200 salaries alike in account, amount and reference, paid a day later at the bank: all
    # are paired, only proposed (records alike but for their dates are interchangeable), and
    # the candidate table holds a few pairs a record rather than 200 x 200.
    books = [(f"b{n:03d}", "A", f"2026-10-{5 + n % 4:02d}", "-1500.00", "SALARY") for n in range(200)]
    bank = [(f"s{n:03d}", "A", f"2026-10-{6 + n % 4:02d}", "-1500.00", "SALARY") for n in range(200)]
    con = duckdb.connect()
    con.register("books", table(books))
    con.register("bank", table(bank))
    counting = _CountingConnection(con)
    result = match_tables("books", "bank", load_rules(), counting)
    assert len(links(result)) == 200 and open_ids(result) == set()
    assert {g["status"] for g in result.groups.to_pylist()} == {"proposed"}
    assert 0 < counting.largest <= 200 * 25


@pytest.mark.parametrize(("others", "found"), [(5, True), (70, False)])
def test_a_batch_deposit_is_searched_only_where_its_window_is_not_crowded(others, found):
    # Three receipts make the deposit. Other receipts of the same day, larger than the
    # deposit, can never be part of it; past 64 records in the window no search is tried
    # (among so many any combination found would be a guess, and the join would grow with
    # the square of the records).
    receipts = [("r1", "A", "2026-10-06", "111.11"), ("r2", "A", "2026-10-06", "222.22"), ("r3", "A", "2026-10-06", "333.33")]
    receipts += [(f"x{n:03d}", "A", "2026-10-06", f"{10000 + n}.01") for n in range(others)]
    result = run(receipts, [("d1", "A", "2026-10-06", "666.66")])
    grouped = groups_by_record(result)
    if found:
        assert grouped["d1"]["rule"] == "batch_deposit" and grouped["d1"]["internal"] == {"r1", "r2", "r3"}
    else:
        assert "d1" not in grouped and {"d1", "r1", "r2", "r3"} <= open_ids(result)


@pytest.mark.parametrize(("others", "found"), [(10, True), (300, False)])
def test_a_fee_is_looked_for_only_where_the_record_is_not_crowded(others, found):
    # A wire with a fee deducted, and other statement lines of the same day near its amount
    # (none of them its match: they differ by more than the 2% a fee may take). Past 256
    # such lines the wire is too crowded to choose from and stays open.
    books = [("b1", "A", "2026-10-05", "-2000.00")]
    bank = [("s1", "A", "2026-10-05", "-2015.00")]
    bank += [(f"x{n:03d}", "A", "2026-10-05", f"-{2041 + n // 50}.{2 * (n % 50):02d}") for n in range(others)]
    grouped = groups_by_record(run(books, bank))
    if found:
        assert grouped["b1"]["rule"] == "fee_deducted" and grouped["b1"]["external"] == {"s1"}
    else:
        assert "b1" not in grouped


def test_sources_can_go_once_loaded_and_the_callers_tables_stay():
    # The caller may drop its sources when the engine says it holds its own copies; the
    # engine's working tables go before the results are built, the caller's own stay.
    books = [("b1", "A", "2026-10-05", "-10.00", "INV-1"), ("b2", "A", "2026-10-05", "25.00"), ("b3", "A", "2026-10-06", "-7.00")]
    bank = [("s1", "A", "2026-10-06", "-10.00", "inv1"), ("s2", "A", "2026-10-07", "25.00"), ("s3", "B", "2026-10-06", "-7.00")]
    expected = links(run(books, bank))
    con = duckdb.connect()
    con.register("books_arrow", table(books))
    con.register("bank_arrow", table(bank))
    con.execute("CREATE TEMP TABLE books AS SELECT * FROM books_arrow")
    con.execute("CREATE TEMP TABLE bank AS SELECT * FROM bank_arrow")
    con.execute("CREATE TEMP TABLE notes AS SELECT 1 AS n")
    calls = []

    def loaded():
        calls.append(1)
        con.execute("DROP TABLE books")
        con.execute("DROP TABLE bank")

    result = match_tables("books", "bank", load_rules(), con, loaded=loaded)
    assert calls == [1]
    assert links(result) == expected == {("b1", "s1"), ("b2", "s2")}
    assert {b["record_id"] for b in result.breaks.to_pylist()} == {"b3", "s3"}
    temporary = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
    assert temporary == {"notes", "_i", "_e", "_twins"}


def test_differences_are_exact_at_six_decimals_on_large_amounts():
    import datetime as dt
    from decimal import Decimal

    import pyarrow as pa

    from core.ingest.normalise import transaction_schema

    def six(record_id: str, amount: str) -> pa.Table:
        row = {"id": record_id, "account": "A", "date": dt.date(2026, 10, 1), "amount": Decimal(amount), "currency": "USD",
               "reference": "", "description": "", "counterparty": "", "trade_date": None, "entry_date": None, "type": ""}
        return pa.Table.from_pylist([row], schema=transaction_schema(6, []))

    con = duckdb.connect()
    con.register("books", six("b1", "123456789012.345678"))
    con.register("bank", six("s1", "61728394506.172839"))
    wide = parse_rules("[[passes]]\nname = 'wide'\namount_tolerance = '70000000000'\ndate_window = 1\n")
    result = match_tables("books", "bank", wide, con)
    expected = Decimal("-61728394506.172839")
    assert result.groups.column("amount_diff").to_pylist() == [expected]
    assert {row[0] for row in con.execute("SELECT amount_diff FROM result_items").fetchall()} == {expected}


def test_amounts_of_millions_and_billions_match_and_keep_exact_differences():
    from decimal import Decimal

    books = [("b1", "A", "2026-10-01", "1500000.00", "INV1"), ("b2", "A", "2026-10-01", "987654321098.76"),
             ("b3", "A", "2026-10-01", "-250000000.00"), ("b4", "A", "2026-10-01", "-125000000.00")]
    bank = [("s1", "A", "2026-10-02", "1500000.00", "INV1"), ("s2", "A", "2026-10-01", "987654321048.77"),
            ("s3", "A", "2026-10-02", "-250000000.00")]
    result = run(books, bank)
    assert links(result) == {("b1", "s1"), ("b2", "s2"), ("b3", "s3")}
    assert groups_by_record(result)["b2"]["amount_diff"] == Decimal("-49.99")
    pct = "[[passes]]\nname = 'pct'\namount_tolerance_pct = '10'\ndate_window = 1\n"
    result = run([("b1", "A", "2026-10-01", "990000000000.00")], [("s1", "A", "2026-10-01", "940000000000.01"),
                                                                  ("s2", "A", "2026-10-01", "300000000000.00")], pct)
    assert links(result) == {("b1", "s1")}
    assert groups_by_record(result)["b1"]["amount_diff"] == Decimal("-49999999999.99")


@pytest.mark.parametrize(("book_day", "bank_day"),
                         [("1899-12-29", "1900-01-02"), ("1850-03-01", "1850-03-05"), ("2026-10-02", "2026-10-06")])
def test_business_days_count_the_same_in_any_century(book_day, bank_day):
    # A Friday and the Tuesday after: two business days, within the same-amount pass's three.
    result = run([("b1", "A", book_day, "-75.00")], [("s1", "A", bank_day, "-75.00")])
    group = groups_by_record(result)["b1"]
    assert (group["rule"], group["status"], group["days_diff"]) == ("amount_and_date", "confirmed", 4)


def test_a_many_to_many_group_summing_past_64_bits_keeps_its_exact_difference():
    # Twelve records of 900 billion a side: each side sums to 10.8 trillion, 1.08e19 micro-units,
    # beyond a 64-bit integer; the group's difference is still exact.
    rules = "[[passes]]\nname = 'batch_ref'\ncardinality = 'n:m'\ngroup_by = ['reference']\ndate_window = 3\namount_tolerance = '1.00'\n"
    books = [(f"b{n:02d}", "A", "2026-10-01", "900000000000.00", "BATCH-9") for n in range(12)]
    bank = [(f"s{n:02d}", "A", "2026-10-02", "900000000000.00", "BATCH-9") for n in range(11)]
    bank.append(("s11", "A", "2026-10-02", "899999999999.25", "BATCH-9"))
    result = run(books, bank, rules)
    groups = result.groups.to_pylist()
    assert len(groups) == 1 and (groups[0]["n_internal"], groups[0]["n_external"]) == (12, 12)
    assert str(groups[0]["amount_diff"]) == "-0.75" and not open_ids(result)
    assert result.summary["passes"]["batch_ref"]["internal_amount"] == "10800000000000.00"



def test_an_explanation_gives_money_at_the_amount_s_own_scale_not_the_column_s():
    # Amounts held at six places (as a carried break's are) still read at their own scale in the sentence.
    con = duckdb.connect()
    con.register("books", table([("b1", "A", "2026-10-05", "5000.00", "INV-77")]).cast(transaction_schema(6, [])))
    con.register("bank", table([("s1", "A", "2026-10-07", "4991.00", "FT77X")]).cast(transaction_schema(6, [])))
    explanation = match_tables("books", "bank", load_rules(), con).groups.to_pylist()[0]["explanation"]
    assert "amounts differ by -9.00;" in explanation, explanation
