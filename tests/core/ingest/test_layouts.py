"""Known layouts: the CSV exports of well-known banks and payment providers are read without a
profile, chosen from their header (or, without a header, from the fields of the first rows).

Every sample below is a few rows written for this test in the shape of the provider's export.
"""

from decimal import Decimal

import pytest

from core.ingest.datasets import import_bytes, import_file, load_dataset_table, parse_source
from core.ingest.known_layouts import choose_layout, shipped_layouts
from core.ingest.profiles import ProfileError, load_profile, parse_profile

SAMPLES = {
    "paypal_activity": (
        '"Date","Time","TimeZone","Name","Type","Status","Currency","Gross","Fee","Net","From Email Address","Transaction ID","Balance"\n'
        '"03/02/2024","10:15:00","CET","Harbour Supplies","Website Payment","Completed","EUR","120.00","-3.95","116.05","a@example.org","7AB1","116.05"\n'
        '"04/02/2024","11:00:00","CET","","General Withdrawal","Completed","EUR","-100.00","0.00","-100.00","","7AB2","16.05"\n'
        '"05/02/2024","09:30:00","CET","Lantern Ltd","Website Payment","Pending","EUR","40.00","-1.66","38.34","b@example.org","7AB3",""\n',
        2, "16.05", {"EUR"}),
    "stripe_balance": (
        "id,Type,Source,Amount,Fee,Net,Currency,Created (UTC),Available On (UTC),Description\n"
        "txn_01,charge,ch_01,50.00,1.75,48.25,eur,2024-03-01 10:00,2024-03-08 00:00,Order 1001\n"
        "txn_02,refund,re_01,-20.00,0.00,-20.00,eur,2024-03-02 12:30,2024-03-02 12:30,Refund for order 998\n"
        "txn_03,payout,po_01,-28.25,0.00,-28.25,eur,2024-03-09 01:00,2024-03-09 01:00,STRIPE PAYOUT\n",
        3, "0.00", {"EUR"}),
    "stripe_itemized": (
        "balance_transaction_id,created_utc,available_on_utc,currency,gross,fee,net,reporting_category,source_id,description\n"
        "txn_a,2024-04-01 08:00:00,2024-04-03 00:00:00,usd,200.00,6.10,193.90,charge,ch_a,Invoice 17\n"
        "txn_b,2024-04-02 09:00:00,2024-04-02 09:00:00,usd,-15.00,0.00,-15.00,dispute,dp_b,Chargeback\n",
        2, "178.90", {"USD"}),
    "revolut": (
        "Type,Product,Started Date,Completed Date,Description,Amount,Fee,Currency,State,Balance\n"
        "TOPUP,Current,2024-05-01 08:00:00,2024-05-01 08:00:05,Top-up by card,300.00,0.00,GBP,COMPLETED,300.00\n"
        "EXCHANGE,Current,2024-05-02 10:00:00,2024-05-02 10:00:00,Exchanged to EUR,-100.00,0.50,GBP,COMPLETED,199.50\n"
        "CARD_PAYMENT,Current,2024-05-03 12:00:00,,Bakery,-4.20,0.00,GBP,PENDING,\n"
        "CARD_PAYMENT,Current,2024-05-03 13:00:00,,Bookshop,-9.99,0.00,GBP,REVERTED,\n",
        2, "199.50", {"GBP"}),
    "wise": (
        '"TransferWise ID",Date,Amount,Currency,Description,"Payment Reference","Running Balance","Total fees"\n'
        'TRANSFER-1,02-06-2024,-250.00,EUR,"Sent money to Orchard BV","Invoice 5",750.00,2.10\n'
        'TRANSFER-1,02-06-2024,-2.10,EUR,"Wise charges for: TRANSFER-1",,747.90,0\n'
        'BALANCE-9,03-06-2024,1000.00,EUR,"Received money",,1747.90,0\n',
        3, "747.90", {"EUR"}),
    "ing_nl": (
        '"Datum";"Naam / Omschrijving";"Rekening";"Tegenrekening";"Code";"Af Bij";"Bedrag (EUR)";"Mutatiesoort";"Mededelingen";"Saldo na mutatie"\n'
        '"20240701";"Bakkerij De Korenschoof";"NL00INGB0001234567";"";"BA";"Af";"12,40";"Betaalautomaat";"Pasvolgnr: 001";"987,60"\n'
        '"20240702";"Werkgever BV";"NL00INGB0001234567";"NL00RABO0123456789";"OV";"Bij";"2.100,00";"Overschrijving";"Salaris juli";"3.087,60"\n',
        2, "2087.60", {"EUR"}),
    "knab": (
        '"KNAB EXPORT";;;;;;;;;;;;;;;\n'
        '"Rekeningnummer";"Transactiedatum";"Valutacode";"CreditDebet";"Bedrag";"Tegenrekeningnummer";"Tegenrekeninghouder";"Valutadatum";'
        '"Betaalwijze";"Omschrijving";"Type betaling";"Machtigingsnummer";"Incassant ID";"Adres";"Referentie";"Boekdatum"\n'
        '"NL00KNAB0123456789";"05-08-2024";"EUR";"D";"45,00";"NL00INGB0009876543";"Energie NV";"05-08-2024";"Incasso";"Termijn augustus";'
        '"";"";"";"";"REF1";"05-08-2024"\n'
        '"NL00KNAB0123456789";"06-08-2024";"EUR";"C";"1.250,50";"NL00ABNA0555555555";"Klant BV";"06-08-2024";"Overboeking";"Factuur 88";'
        '"";"";"";"";"REF2";"06-08-2024"\n',
        2, "1205.50", {"EUR"}),
    "asn": (
        "01-09-2024,NL00ASNB0123456789,NL00INGB0009876543,Groenteboer,,,,EUR,500.00,EUR,-17.25,01-09-2024,01-09-2024,1234,BEA,10000001,,'Betaalpas',31\n"
        "02-09-2024,NL00ASNB0123456789,,,,,,EUR,482.75,EUR,-1.50,02-09-2024,02-09-2024,7241,MSC,10000002,,'Kosten rekening',31\n"
        "03-09-2024,NL00ASNB0123456789,NL00RABO0123456789,J de Vries,,,,EUR,481.25,EUR,60.00,03-09-2024,03-09-2024,8810,OVS,10000003,,'Terugbetaling',31\n",
        3, "41.25", {"EUR"}),
    "abn_amro_tab": (
        "123456789\tEUR\t20241001\t1.000,00\t975,50\t20241001\t-24,50\tBEA   NR:ABC123 01.10.24/10.15 Marktkraam\n"
        "123456789\tEUR\t20241002\t975,50\t1.975,50\t20241002\t1.000,00\tSEPA Overboeking IBAN: NL00RABO0123456789 Naam: Huurder\n",
        2, "975.50", {"EUR"}),
    "rabobank": (
        '"IBAN/BBAN","Munt","BIC","Volgnr","Datum","Rentedatum","Bedrag","Saldo na trn","Tegenrekening IBAN/BBAN","Naam tegenpartij","Omschrijving-1"\n'
        '"NL00RABO0123456789","EUR","RABONL2U","000000000000000101","2024-11-04","2024-11-04","+1.500,00","+2.500,00","NL00INGB0001234567","Opdrachtgever","Factuur 12"\n'
        '"NL00RABO0123456789","EUR","RABONL2U","000000000000000102","2024-11-05","2024-11-05","-35,99","+2.464,01","","Webwinkel","Bestelling 7"\n',
        2, "1464.01", {"EUR"}),
    "sparkasse_camt": (
        '"Auftragskonto";"Buchungstag";"Valutadatum";"Buchungstext";"Verwendungszweck";"Glaeubiger ID";"Mandatsreferenz";'
        '"Kundenreferenz (End-to-End)";"Sammlerreferenz";"Lastschrift Ursprungsbetrag";"Auslagenersatz Ruecklastschrift";'
        '"Beguenstigter/Zahlungspflichtiger";"Kontonummer/IBAN";"BIC (SWIFT-Code)";"Betrag";"Waehrung";"Info"\n'
        '"DE00100500000123456789";"02.12.24";"02.12.24";"LASTSCHRIFT";"Strom Dezember";"DE98ZZZ09999999999";"M-1";"E2E-1";"";"";"";'
        '"Stadtwerke";"DE00200400000000111111";"COBADEFFXXX";"-64,00";"EUR";"Umsatz gebucht"\n'
        '"DE00100500000123456789";"03.12.24";"03.12.24";"GUTSCHRIFT";"Rechnung 4711";"";"";"NOTPROVIDED";"";"";"";'
        '"Kunde GmbH";"DE00300500000000222222";"WELADEDDXXX";"1.190,00";"EUR";"Umsatz gebucht"\n'
        '"DE00100500000123456789";"04.12.24";"04.12.24";"KARTENZAHLUNG";"Tankstelle";"";"";"";"";"";"";'
        '"Tankstelle";"";"";"-50,00";"EUR";"Umsatz vorgemerkt"\n',
        2, "1126.00", {"EUR"}),
    "sparkasse_mt940": (
        '"Auftragskonto";"Buchungstag";"Valutadatum";"Buchungstext";"Verwendungszweck";"Beguenstigter/Zahlungspflichtiger";"Kontonummer";"BLZ";"Betrag";"Waehrung";"Info"\n'
        '"0123456789";"10.12.24";"10.12.24";"GUTSCHRIFT";"Miete Dezember";"Mieter";"0000111111";"10050000";"800,00";"EUR";"Umsatz gebucht"\n'
        '"0123456789";"11.12.24";"11.12.24";"ENTGELT";"Kontofuehrung";"";"";"";"-4,95";"EUR";"Umsatz gebucht"\n',
        2, "795.05", {"EUR"}),
    "dkb_giro": (
        '"Girokonto";"DE00120300000012345678"\n""\n"Kontostand vom 31.01.2024:";"1.000,00 €"\n""\n'
        '"Buchungsdatum";"Wertstellung";"Status";"Zahlungspflichtige*r";"Zahlungsempfänger*in";"Verwendungszweck";"Umsatztyp";"IBAN";'
        '"Betrag (€)";"Gläubiger-ID";"Mandatsreferenz";"Kundenreferenz"\n'
        '"30.01.24";"30.01.24";"Gebucht";"Arbeitgeber AG";"Ich";"Gehalt";"Eingang";"DE00300500000000222222";"2.400,00";"";"";""\n'
        '"31.01.24";"31.01.24";"Gebucht";"Ich";"Vermieter";"Miete Februar";"Ausgang";"DE00200400000000111111";"-950,00";"";"";""\n'
        '"01.02.24";"";"Vorgemerkt";"Ich";"Supermarkt";"Karte";"Ausgang";"";"-31,80";"";"";""\n',
        2, "1450.00", {"EUR"}),
    "dkb_giro_legacy": (
        '"Kontonummer:";"DE00120300000012345678 / Girokonto";\n\n"Von:";"01.01.2022";\n"Bis:";"31.01.2022";\n'
        '"Kontostand vom 31.01.2022:";"1.000,00 EUR";\n\n'
        '"Buchungstag";"Wertstellung";"Buchungstext";"Auftraggeber / Begünstigter";"Verwendungszweck";"Kontonummer";"BLZ";"Betrag (EUR)";'
        '"Gläubiger-ID";"Mandatsreferenz";"Kundenreferenz";\n'
        '"14.01.2022";"14.01.2022";"Lastschrift";"Versicherung AG";"Beitrag Januar";"DE00111";"BIC1";"-42,17";"";"";"";\n'
        '"15.01.2022";"15.01.2022";"Gutschrift";"Freund";"Geschenk";"DE00222";"BIC2";"100,00";"";"";"";\n',
        2, "57.83", {"EUR"}),
    "commerzbank": (
        "Buchungstag;Wertstellung;Umsatzart;Buchungstext;Betrag;Währung;Auftraggeberkonto;Bankleitzahl Auftraggeberkonto;IBAN Auftraggeberkonto;Kategorie\n"
        "07.03.2024;07.03.2024;Lastschrift;Telefon März;-29,99;EUR;123456789;20040000;DE00200400000123456789;Kommunikation\n"
        "08.03.2024;08.03.2024;Gutschrift;Erstattung;15,00;EUR;123456789;20040000;DE00200400000123456789;Sonstiges\n",
        2, "-14.99", {"EUR"}),
    "n26": (
        '"Booking Date","Value Date","Partner Name","Partner Iban","Type","Payment Reference","Account Name","Amount (EUR)",'
        '"Original Amount","Original Currency","Exchange Rate"\n'
        '"2024-06-10","2024-06-10","Cafe Lune","","Presentment","","Main Account","-3.80","-3.80","EUR","1.0"\n'
        '"2024-06-11","2024-06-11","Hotel Sol","","Presentment","","Main Account","-110.46","-120.00","USD","0.9205"\n',
        2, "-114.26", {"EUR"}),
    "n26_legacy": (
        '"Date","Payee","Account number","Transaction type","Payment reference","Category","Amount (EUR)","Amount (Foreign Currency)",'
        '"Type Foreign Currency","Exchange Rate"\n'
        '"2022-02-01","Employer GmbH","DE00100100100000000001","Income","Salary","Income","1800.0","","",""\n'
        '"2022-02-03","Grocer","","MasterCard Payment","","Food & Groceries","-22.5","-22.5","EUR","1.0"\n',
        2, "1777.50", {"EUR"}),
    "n26_legacy_de": (
        '"Datum","Empfänger","Kontonummer","Transaktionstyp","Verwendungszweck","Kategorie","Betrag (EUR)","Betrag (Fremdwährung)",'
        '"Fremdwährung","Wechselkurs"\n'
        '"2022-03-01","Bäckerei","","MasterCard Zahlung","","Essen","-2.8","-2.8","EUR","1.0"\n'
        '"2022-03-02","Freundin","DE00100100100000000002","Gutschrift","Kino","Einnahmen","12.0","","",""\n',
        2, "9.20", {"EUR"}),
    "chase_checking": (
        "Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #\n"
        'DEBIT,01/03/2024,"CORNER COFFEE 123",-4.50,DEBIT_CARD,995.50,,\n'
        'CREDIT,01/05/2024,"ACME PAYROLL PPD",1500.00,ACH_CREDIT,2495.50,,\n'
        'CHECK,01/08/2024,"CHECK 1021",-200.00,CHECK_PAID,2295.50,1021,\n',
        3, "1295.50", {"USD"}),
    "chase_card": (
        "Transaction Date,Post Date,Description,Category,Type,Amount,Memo\n"
        "02/10/2024,02/11/2024,BOOK BARN,Shopping,Sale,-18.99,\n"
        "02/20/2024,02/20/2024,Payment Thank You-Mobile,,Payment,150.00,\n",
        2, "131.01", {"USD"}),
    "bank_of_america": (
        'Description,,Summary Amt.\nBeginning balance as of 03/01/2024,,"1,000.00"\nTotal credits,,"500.00"\nTotal debits,,"-120.00"\n'
        'Ending balance as of 03/31/2024,,"1,380.00"\n\nDate,Description,Amount,Running Bal.\n'
        '03/01/2024,Beginning balance as of 03/01/2024,,"1,000.00"\n'
        '03/05/2024,"PAYROLL DEPOSIT","500.00","1,500.00"\n03/09/2024,"CITY WATER BILL PAY","-120.00","1,380.00"\n',
        2, "380.00", {"USD"}),
    "bank_of_america_card": (
        "Posted Date,Reference Number,Payee,Address,Amount\n"
        '04/02/2024,24692164092100000000001,"GARDEN CENTER","SPRINGFIELD IL ",-64.10\n'
        '04/15/2024,24692164105100000000002,"PAYMENT - THANK YOU","",64.10\n',
        2, "0.00", {"USD"}),
    "barclays_uk": (
        "Number,Date,Account,Amount,Subcategory,Memo\n"
        " ,05/03/2024,20-00-00 12345678,-12.60,PAYMENT,CORNER SHOP ON 04 MAR CLP\n"
        " ,06/03/2024,20-00-00 12345678,2000.00,DIRECTDEP,EMPLOYER LTD SALARY BGC\n",
        2, "1987.40", {"GBP"}),
    "lloyds": (
        "Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,Debit Amount,Credit Amount,Balance\n"
        "07/03/2024,DEB,'30-00-00,12345678,TRAIN TICKETS,23.40,,976.60\n"
        "08/03/2024,FPI,'30-00-00,12345678,REFUND FROM SUPPLIER,,10.00,986.60\n",
        2, "-13.40", {"GBP"}),
    "monzo": (
        "Transaction ID,Date,Time,Type,Name,Emoji,Category,Amount,Currency,Local amount,Local currency,Notes and #tags,Address,Receipt,Description\n"
        "tx_0001,09/03/2024,12:01:02,Card payment,Noodle Bar,,Eating out,-11.50,GBP,-11.50,GBP,,,,NOODLE BAR LONDON\n"
        "tx_0002,10/03/2024,09:00:00,Faster payment,Flatmate,,Transfers,40.00,GBP,40.00,GBP,Bills,,,FLATMATE BILLS\n",
        2, "28.50", {"GBP"}),
    "starling": (
        "Date,Counter Party,Reference,Type,Amount (GBP),Balance (GBP),Spending Category,Notes\n"
        "11/03/2024,Bike Shop,Inner tube,CONTACTLESS,-7.99,492.01,SHOPPING,\n"
        "12/03/2024,Client Ltd,INV-33,FASTER PAYMENT,350.00,842.01,INCOME,\n",
        2, "342.01", {"GBP"}),
}
ENCODINGS = {"dkb_giro_legacy": "cp1252", "sparkasse_camt": "cp1252", "sparkasse_mt940": "cp1252"}


def _read(name: str, text: str, profile=None):
    return parse_source(text.encode(ENCODINGS.get(name, "utf-8")), f"{name}.csv", profile)


def test_every_shipped_layout_has_a_sample_here():
    assert {p.name for p in shipped_layouts()} == set(SAMPLES)


@pytest.mark.parametrize("layout", sorted(SAMPLES))
def test_each_layout_is_recognised_from_its_header_and_read_with_its_signs(layout):
    text, count, total, currencies = SAMPLES[layout]
    result, errors = _read(layout, text)
    assert errors == [], [str(e) for e in errors]
    rows = result.table.to_pylist()
    assert result.profile == layout
    assert result.warnings[0].startswith(f"read as the known layout {layout!r}")
    assert (len(rows), sum(r["amount"] for r in rows), {r["currency"] for r in rows}) == (count, Decimal(total), currencies)


@pytest.mark.parametrize("layout", sorted(p.name for p in shipped_layouts() if not p.read.headerless))
def test_a_layout_maps_only_titles_its_signature_guarantees(layout):
    profile = next(p for p in shipped_layouts() if p.name == layout)
    used = set(profile.columns.values()) | set(profile.amount.subtract) | {r.column for r in profile.pending + profile.skip}
    assert used <= set(profile.signature.titles)


def test_paypal_reads_net_not_gross_and_keeps_gross_and_fee_beside_it():
    result, _ = _read("paypal_activity", SAMPLES["paypal_activity"][0])
    first = result.table.to_pylist()[0]
    assert (first["amount"], first["Gross"], first["Fee"], first["id"]) == (Decimal("116.05"), "120.00", "-3.95", "7AB1")


def test_revolut_fee_is_taken_off_the_amount_and_reverted_rows_are_skipped():
    result, _ = _read("revolut", SAMPLES["revolut"][0])
    assert [r["amount"] for r in result.table.to_pylist()] == [Decimal("300.00"), Decimal("-100.50")]
    assert any("1 row(s) left out by the profile's skip rules" in w for w in result.warnings)


def test_ing_af_is_money_out_and_bij_money_in():
    result, _ = _read("ing_nl", SAMPLES["ing_nl"][0])
    assert [r["amount"] for r in result.table.to_pylist()] == [Decimal("-12.40"), Decimal("2100.00")]


def test_a_headerless_file_whose_fields_do_not_fit_is_not_taken_for_asn():
    shifted = SAMPLES["asn"][0].replace("EUR,500.00,EUR,-17.25", "EUR,500.00,EUR,minus")
    result, errors = parse_source(shifted.encode(), "asn.csv")
    assert result is None and "no header row found" in str(errors[0])


def test_pending_rows_are_left_out_with_a_warning_counting_them_without_a_layout():
    data = (b"Date,Description,Amount,Currency,Status\n2024-01-02,Rent,-900.00,EUR,Booked\n"
            b"2024-01-03,Card,-5.00,EUR,Pending\n2024-01-04,Card,-6.00,EUR,pending\n")
    result, errors = parse_source(data, "plain.csv")
    assert errors == [] and result.profile is None
    assert [r["amount"] for r in result.table.to_pylist()] == [Decimal("-900.00")]
    assert any(w.startswith("2 pending row(s) left out (column 'Status'") for w in result.warnings)


def test_a_layouts_own_pending_rule_leaves_out_vorgemerkt_rows():
    result, _ = _read("sparkasse_camt", SAMPLES["sparkasse_camt"][0])
    assert any(w.startswith("1 pending row(s) left out (column 'Info'") for w in result.warnings)
    assert Decimal("-50.00") not in [r["amount"] for r in result.table.to_pylist()]


@pytest.mark.parametrize(("header", "currency"), [("Withdrawal Amount (INR),Deposit Amount (INR)", "INR"),
                                                  ("Debit [USD],Credit [USD]", "USD"), ("Betrag (€),Soll", "EUR")])
def test_the_currency_comes_from_the_amount_titles_when_there_is_no_currency_column(header, currency):
    data = f"Date,Narration,{header}\n01/04/2024,Cash,150.00,\n02/04/2024,Salary,,2500.00\n".encode()
    if header.startswith("Betrag"):
        data = "Datum;Text;Betrag (€)\n01.04.2024;Bar;-150,00\n02.04.2024;Lohn;2.500,00\n".encode()
    result, errors = parse_source(data, "titles.csv")
    assert errors == [], [str(e) for e in errors]
    rows = result.table.to_pylist()
    assert {r["currency"] for r in rows} == {currency}
    assert sum(r["amount"] for r in rows) == Decimal("2350.00")


def test_a_currency_column_wins_over_the_title():
    data = b"Date,Amount (EUR),Currency\n2024-04-01,10.00,CHF\n"
    result, _ = parse_source(data, "both.csv")
    assert result.table.column("currency").to_pylist() == ["CHF"]


def test_amount_columns_in_two_currencies_are_refused_naming_the_way_out():
    data = b"Date,Description,Amount (EUR),Amount (USD)\n2024-04-01,Card,-10.00,-10.85\n"
    result, errors = parse_source(data, "two.csv")
    assert result is None and len(errors) == 1
    message = str(errors[0])
    assert "'Amount (EUR)', 'Amount (USD)' are in different currencies" in message and "profile" in message and "\n" not in message


def test_a_profile_naming_one_of_two_currency_amounts_reads_it():
    profile = parse_profile('[columns]\ndate = "Date"\namount = "Amount (USD)"\n', "usd_side")
    data = b"Date,Description,Amount (EUR),Amount (USD)\n2024-04-01,Card,-10.00,-10.85\n"
    result, errors = parse_source(data, "two.csv", profile)
    assert errors == [] and result.table.to_pylist()[0]["amount"] == Decimal("-10.85")
    assert result.table.to_pylist()[0]["currency"] == "USD"


def test_a_header_that_fits_no_layout_names_the_near_misses_in_one_line():
    data = b'"Date","Time","Name","Currency","Gross","Transaction ID"\n"03/02/2024","10:15:00","X","EUR","1.00","T1"\n'
    result, errors = parse_source(data, "almost-paypal.csv")
    assert result is None and len(errors) == 1
    message = str(errors[0])
    assert "no amount" in message and "closest known layouts: paypal_activity (lacks 'Fee', 'Net')" in message
    assert "\n" not in message


def test_the_layout_with_most_signature_titles_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("RECON_PROFILES_DIR", str(tmp_path))
    (tmp_path / "paypal_short.toml").write_text('[columns]\ndate = "Date"\namount = "Gross"\n\n[signature]\ntitles = ["Date", "Gross", "Fee"]\n')
    result, _ = _read("paypal_activity", SAMPLES["paypal_activity"][0])
    assert result.profile == "paypal_activity"


def test_an_own_profile_with_a_signature_wins_a_tie_against_a_shipped_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("RECON_PROFILES_DIR", str(tmp_path))
    shipped = next(p for p in shipped_layouts() if p.name == "paypal_activity")
    titles = ", ".join(f'"{t}"' for t in shipped.signature.titles)
    (tmp_path / "paypal_gross.toml").write_text(f'[columns]\ndate = "Date"\namount = "Gross"\ncurrency = "Currency"\n\n'
                                                f'[signature]\ntitles = [{titles}]\n')
    result, errors = _read("paypal_activity", SAMPLES["paypal_activity"][0])
    assert errors == [] and result.profile == "paypal_gross"
    assert sum(r["amount"] for r in result.table.to_pylist()) == Decimal("20.00")


def test_a_layout_can_be_forced_by_name():
    data = b"Date,Account,Amount,Subcategory,Memo\n05/03/2024,20-00-00 1,-12.60,PAYMENT,SHOP\n"
    assert parse_source(data, "export.csv")[0].profile is None  # no 'Number' column: not recognised
    result, errors = parse_source(data, "export.csv", load_profile("barclays_uk"))
    assert errors == [] and result.profile == "barclays_uk"
    assert result.table.to_pylist()[0]["currency"] == "GBP"
    assert not any(w.startswith("read as the known layout") for w in result.warnings)


def test_an_unknown_profile_name_lists_the_shipped_layouts():
    with pytest.raises(ProfileError, match="shipped layouts: .*paypal_activity"):
        load_profile("no_such_bank")


def test_the_dataset_records_the_layout_it_was_read_with(store):
    outcome, errors = import_bytes(store, SAMPLES["starling"][0].encode(), "starling.csv")
    assert errors == [] and outcome.dataset.profile == "starling"


@pytest.mark.parametrize(("text", "problem"), [
    ('[read]\nheaderless = true\n', "names its fields in 'titles'"),
    ('[signature]\npatterns = { Date = "x" }\n', "patterns are for headerless layouts"),
    ('[read]\nheaderless = true\ntitles = ["A", "B"]\n[signature]\npatterns = { C = "x" }\n', "not among them: ['C']"),
    ('[signature]\ntitles = ["A"]\n[[pending]]\ncolumn = "S"\nmatches = "("\n', "not a valid regular expression"),
])
def test_a_wrong_layout_profile_is_refused_by_key(text, problem):
    with pytest.raises(ProfileError, match=problem.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        parse_profile(text, "wrong")


def test_the_fast_canonical_path_leaves_a_file_with_a_signature_to_its_profile(store, tmp_path, monkeypatch):
    folder = tmp_path / "profiles"
    folder.mkdir()
    monkeypatch.setenv("RECON_PROFILES_DIR", str(folder))
    (folder / "card_refunds.toml").write_text('description = "Card refunds: money out written as positive"\n\n[columns]\namount = "Amount"\n\n'
                                             '[amount]\nflip_sign = true\n\n[signature]\ntitles = ["Date", "Account", "Amount", "Currency", "Terminal"]\n')
    source = tmp_path / "refunds.csv"
    source.write_text("Date,Account,Amount,Currency,Terminal\n2024-05-01,A1,12.50,EUR,T9\n")
    outcome, errors = import_file(store, source)
    assert errors == [] and outcome.dataset.profile == "card_refunds"
    assert load_dataset_table(store, outcome.dataset).column("amount").to_pylist() == [Decimal("-12.50")]


def test_the_fast_canonical_path_leaves_pending_rows_to_the_general_import(store, tmp_path):
    source = tmp_path / "with-status.csv"
    source.write_text("Date,Account,Amount,Currency,Status\n2024-05-01,A1,12.50,EUR,Booked\n2024-05-02,A1,3.00,EUR,Pending\n")
    outcome, errors = import_file(store, source)
    assert errors == [] and outcome.dataset.row_count == 1
    assert any("1 pending row(s) left out" in w for w in outcome.warnings)
