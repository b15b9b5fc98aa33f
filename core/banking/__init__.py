"""Banking, the ledger side: what the books and the bank say about the money in each bank account.

Parts:

- :mod:`.brs`: the bank reconciliation statement per account as of a date, from a
  reconciliation's results, the bank's closing balance and the books' opening balance; every
  line drills down to its records.
- :mod:`.transfers`: transfers between own accounts paired leg to leg, the ones in transit aged.
- :mod:`.variance`: movements per account and month against the month before and a budget, and
  the unexplained difference at each month end.
- :mod:`.alerts`: figures past their thresholds, raised once, acknowledged by a person.
- :mod:`.rates`: exchange rates from a file, to pair transfers across currencies.

The ledger (chart of accounts, dimensions, journals), posting rules and cash position belong here too, each in a module of its own (ARCHITECTURE.md, "Banking").
"""
