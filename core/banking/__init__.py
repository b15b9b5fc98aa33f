"""Banking, the ledger side: what the books and the bank say about the money in each bank account.

Parts:

- :mod:`.brs`: the bank reconciliation statement per account as of a date, from a
  reconciliation's results, the bank's closing balance and the books' opening balance; every
  line drills down to its records.

The ledger (chart of accounts, dimensions, journals), posting rules, cash position, transfers
and variance belong here too, each in a module of its own (ARCHITECTURE.md, "Banking").
"""
