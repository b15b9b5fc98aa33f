"""Banking, the ledger side: what the books and the bank say about the money in each bank account.

Parts:

- :mod:`.brs`: the bank reconciliation statement per account as of a date, from a
  reconciliation's results, the bank's closing balance and the books' opening balance; every
  line drills down to its records.
- :mod:`.saved`: the same statement from a run saved in the store, with the decisions taken since.
- :mod:`.signoff`: a statement prepared by one person and signed off by another; the period it locks.

The ledger (chart of accounts, dimensions, journals), posting rules, cash position, transfers
and variance belong here too, each in a module of its own (ARCHITECTURE.md, "Banking").
"""
