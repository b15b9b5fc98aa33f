"""The Datasets page, the Reconcile page by role and account, trends on the Overview, and the Holdings page."""

import datetime as dt
import json

from sqlalchemy import select

from core.ingest.datasets import import_bytes
from tests.pages.app import frame_with, on_page, open_page, signed_in

ELSEWHERE = b"""id,account,date,amount,currency,reference
x1,ZZ-0001,2026-10-02,5.00,USD,
x2,ZZ-0001,2026-10-03,6.00,USD,
"""


def ids_by_name(store) -> dict[str, str]:
    from core.ingest.datasets import list_datasets

    return {d.name: d.id for d in list_datasets(store)}


def values(array) -> list:
    """A chart's data array: plotly writes numbers as base64 with their dtype."""
    if isinstance(array, dict) and "bdata" in array:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def chart_specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_datasets_lists_books_and_statements_previews_and_retires_only_an_unused_dataset(demo):
    spare, _ = import_bytes(demo, ELSEWHERE, "elsewhere.csv", user="analyst")
    at = on_page("analyst", "pages/datasets.py")
    grid = frame_with(at, "Role").set_index("Source file")
    assert grid.loc["general_ledger_cash_2026-10.csv", "Role"] == "books"
    assert grid.loc["first_national_4471_2026-10.csv", "Role"] == "statement"
    assert grid.loc["first_national_4471_2026-10.csv", "Statement balances"].startswith("4471-0092-18 USD 2026-10-01 to 2026-10-31")
    assert grid.loc["elsewhere.csv", "Runs"] == "" and grid.loc["general_ledger_cash_2026-10.csv", "Runs"] == "1, 2, 3, 4"
    assert any(b.key == "datasets_download" for b in at.get("download_button"))

    at.selectbox(key="datasets_chosen").set_value(ids_by_name(demo)["general_ledger_cash_2026-10.csv"]).run()
    assert len(frame_with(at, "amount")) == 20
    next(b for b in at.button if b.label == "Retire this dataset").click().run()
    assert [e.value for e in at.error] == ["general_ledger_cash_2026-10.csv cannot be retired: runs 1, 2, 3, 4 read it, "
                                           "and a run keeps the datasets it read"]

    at.selectbox(key="datasets_chosen").set_value(spare.dataset.id).run()
    assert frame_with(at, "amount")["amount"].astype(str).tolist() == ["5.00", "6.00"]
    at.text_input(key="datasets_retire_reason").input("not ours")
    next(b for b in at.button if b.label == "Retire this dataset").click().run()
    assert not at.exception, at.exception
    assert any("elsewhere.csv is retired" in s.value for s in at.success)
    assert "elsewhere.csv" not in set(frame_with(at, "Role")["Source file"])
    at.checkbox(key="datasets_show_retired").check().run()
    shown = frame_with(at, "Role").set_index("Source file")
    assert shown.loc["elsewhere.csv", "Retired"].startswith("by analyst on ")

    open_page(at, "pages/reconcile.py")
    at.checkbox(key="reconcile_every_role").check().run()
    assert not any("elsewhere.csv" in o for o in at.selectbox(key="reconcile_external").options)
    assert any("first_national_4471" in o for o in at.selectbox(key="reconcile_external").options)


def test_reconcile_offers_by_role_flags_a_statement_outside_the_books_and_summarises_passes_and_run(demo):
    outside, _ = import_bytes(demo, ELSEWHERE, "elsewhere.csv", user="analyst")  # the newest statement, not in the books
    at = on_page("analyst", "pages/reconcile.py")
    internal, external = at.selectbox(key="reconcile_internal"), at.selectbox(key="reconcile_external")
    assert "general_ledger_cash_2026-10.csv · books" in internal.format_func(internal.value)
    assert external.value != outside.dataset.id and " · statement · " in external.format_func(external.value)
    assert not any("the books do not" in w.value for w in at.warning)
    assert all(" · statement · " in o for o in external.options) and len(external.options) == 5
    assert not any("general_ledger" in o for o in external.options)

    at.selectbox(key="reconcile_external").set_value(outside.dataset.id).run()
    assert any("holds account(s) the books do not: ZZ-0001" in w.value for w in at.warning), [w.value for w in at.warning]

    passes = next(m.value for m in at.markdown if m.value.startswith("- 1. reference_and_amount: pairs one books record"))
    assert "7. amount_late_settlement" in passes and "amounts within 50.00 and 2%" in passes
    assert [e.label for e in at.expander] == ["Edit the rules (TOML) for this run"]
    assert at.expander[0].text_area, "the TOML editor sits inside the folded section"

    at.selectbox(key="reconcile_external").set_value(ids_by_name(demo)["first_national_4471_2026-10.csv"]).run()
    at.button(key="reconcile_run").click().run()
    assert not at.exception, at.exception
    words = next(m.value for m in at.markdown if m.value.startswith("Read "))
    assert "books records and" in words and "groups were matched" in words
    figures = frame_with(at, "amount (books side)")
    assert figures["pass"].tolist()[:2] == ["reference_and_amount", "reference_number_and_amount"]
    counts, amounts = chart_specs(at)
    assert values(counts["data"][0]["x"])[:2] == ["reference_and_amount", "reference_number_and_amount"]
    assert {t["name"] for t in counts["data"]} == {"confirmed", "proposed"}
    assert values(amounts["data"][0]["y"]) == [float(a.replace(",", "")) for a in figures["amount (books side)"]]


def test_overview_shows_open_breaks_money_and_match_rate_per_account_over_runs(demo):
    from core.matching.rules import load_rules
    from core.runs.reconcile import reconcile_datasets
    from core.store.models import DatasetRecord

    with demo.session() as session:
        by_name = {d.name: d for d in session.scalars(select(DatasetRecord))}
    reconcile_datasets(demo, by_name["general_ledger_cash_2026-10.csv"], by_name["first_national_4471_2026-10.csv"], load_rules(), "",
                       accounts=["4471-0092-18"], user="analyst")
    at = signed_in("viewer")
    assert any(s.value == "Trends per account over runs" for s in at.subheader)
    specs = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    titles = {s["layout"]["title"]["text"]: s for s in specs.values() if s["layout"].get("title")}
    assert {"Open breaks", "Open money (absolute amounts)", "Match rate"} <= set(titles)
    rate = {t["name"]: values(t["y"]) for t in titles["Match rate"]["data"]}
    assert set(rate) == {"4471-0092-18 USD", "DE89370400440532013000 EUR", "CS-00192-CASH USD", "RC-7781-SAR SAR"}
    assert len(rate["4471-0092-18 USD"]) == 2 and all(0 < r < 1 for series in rate.values() for r in series)
    assert len({t["name"] for t in titles["Open breaks"]["data"]}) == 4


def test_holdings_shows_mongodb_fields_only_for_mongodb_unit_differences_per_position_and_reopens_past_runs(demo, tmp_path):
    from tests.core.holdings.test_holdings import BOOKS, cams_transactions, kfintech_holdings

    at = open_page(signed_in("analyst"), "pages/holdings.py")
    keys = {t.key for t in at.text_input}
    assert "holdings_mongo_uri" not in keys and not any(c.key == "holdings_write_back" for c in at.checkbox)
    at.radio(key="holdings_source").set_value("MongoDB").run()
    assert {"holdings_mongo_uri", "holdings_mongo_collection"} <= {t.key for t in at.text_input}
    assert not any(u.key == "holdings_books" for u in at.get("file_uploader"))
    at.radio(key="holdings_source").set_value("File").run()

    at.date_input(key="holdings_as_of").set_value(dt.date(2026, 10, 31))
    at.file_uploader(key="holdings_books").upload("books.csv", BOOKS.encode())
    at.file_uploader(key="holdings_registrars").set_value([
        ("WBR2.dbf", cams_transactions(tmp_path).read_bytes(), "application/octet-stream"),
        ("MFSD203.dbf", kfintech_holdings(tmp_path).read_bytes(), "application/octet-stream")])
    next(b for b in at.button if b.label == "Reconcile holdings").click().run()
    assert not at.exception, at.exception
    grid = frame_with(at, "difference")
    places = {len(v.rsplit(".", 1)[1]) for column in ("internal_units", "registrar_units", "difference") for v in grid[column]}
    assert len(places) == 1, "every unit is written with the same decimals"
    [chart] = chart_specs(at)
    assert chart["layout"]["title"]["text"].startswith("Unit differences per position")
    bars = {x: y for trace in chart["data"] for x, y in zip(values(trace["x"]), values(trace["y"]))}
    differing = grid[grid["status"] != "matched"]
    assert bars == {f"{f} · {p}": float(d.replace(",", "")) for f, p, d in zip(differing["folio"], differing["product"],
                                                                                 differing["difference"])}
    assert len(bars) == 4 and any(abs(y) > 1 for y in bars.values()), "units, not a count of positions"

    again = open_page(signed_in("analyst"), "pages/holdings.py")
    assert not again.get("plotly_chart")
    again.button(key="holdings_reopen").click().run()
    assert not again.exception, again.exception
    assert any(s.value.startswith("Holdings run ") for s in again.subheader)
    metrics = {m.label: m.value for m in again.metric}
    assert (metrics["matched"], metrics["mismatched"], metrics["registrar only"], metrics["internal only"]) == ("3", "1", "2", "1")
    assert len(chart_specs(again)) == 1
