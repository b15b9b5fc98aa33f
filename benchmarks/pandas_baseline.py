"""The baseline: the default rule set's passes written plainly with pandas.

What a careful analyst-programmer would write without an engine: merges on the equality
keys, window filters, repeated mutual-best choice with sort/drop_duplicates, subset search
with itertools over each target's nearest candidates, and the tolerance pass as a merge on
account and currency filtered by amount and date. It reads the same CSV files and gives the
links, so the benchmark can compare speed and agreement.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right

import numpy as np
import pandas as pd


def _load(path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    sign = np.where(frame["amount"].str.startswith("-"), -1, 1)
    parts = frame["amount"].str.lstrip("-").str.partition(".")
    frame["micro"] = sign * (parts[0].astype("int64") * 1_000_000 + parts[2].str.ljust(6, "0").astype("int64"))
    frame["day"] = pd.to_datetime(frame["date"])
    frame["bday"] = np.busday_count(np.datetime64("1900-01-01"), frame["day"].values.astype("datetime64[D]"))
    # Accents dropped (NFKD, then ASCII), as the engine's strip_accents does.
    plain = frame["reference"].where(frame["reference"].str.isascii(),
                                     frame["reference"].str.normalize("NFKD").str.encode("ascii", "ignore").str.decode("ascii"))
    upper = plain.str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
    frame["ref_norm"] = upper.str.replace(r"(^|[^0-9])0+([0-9])", r"\1\2", regex=True)
    runs = frame["reference"].str.findall(r"[0-9]{4,}")
    frame["ref_digits"] = runs.map(lambda found: max(found, key=len).lstrip("0") if found else "")
    # Copies for scoring: a column used as a merge key loses its side suffix.
    frame["amt"], frame["rn"], frame["rd"] = frame["micro"], frame["ref_norm"], frame["ref_digits"]
    return frame


def _mutual_best(candidates: pd.DataFrame) -> list[tuple[str, str]]:
    taken = []
    while len(candidates):
        ranked = candidates.sort_values(["adiff", "rmis", "ddiff", "id_e"])
        best_i = ranked.drop_duplicates("id_i")
        ranked = candidates.sort_values(["adiff", "rmis", "ddiff", "id_i"])
        best_e = ranked.drop_duplicates("id_e")
        mutual = best_i.merge(best_e[["id_i", "id_e"]], on=["id_i", "id_e"])
        if mutual.empty:
            break
        taken += list(zip(mutual["id_i"], mutual["id_e"]))
        candidates = candidates[~candidates["id_i"].isin(mutual["id_i"]) & ~candidates["id_e"].isin(mutual["id_e"])]
    return taken


def _one_to_one(books, bank, keys, window, business, tolerance=None, external_less=False):
    merged = books.merge(bank, on=keys, suffixes=("_i", "_e"))
    gap = (merged["bday_e"] - merged["bday_i"]).abs() if business else (merged["day_e"] - merged["day_i"]).dt.days.abs()
    diff = merged["amt_e"] - merged["amt_i"]
    keep = gap <= window
    if tolerance is None:
        keep &= diff == 0
    else:
        absolute, percent = tolerance
        keep &= (diff.abs() <= absolute) & (diff.abs() * 100 <= percent * merged["amt_i"].abs())
        if external_less:
            keep &= diff <= 0
    merged = merged[keep].copy()
    merged["adiff"] = diff[keep].abs()
    merged["ddiff"] = (merged["day_e"] - merged["day_i"]).dt.days.abs()
    same_ref = ((merged["rn_i"] != "") & (merged["rn_i"] == merged["rn_e"])) | ((merged["rd_i"] != "") & (merged["rd_i"] == merged["rd_e"]))
    merged["rmis"] = (~same_ref).astype(int)
    return _mutual_best(merged[["id_i", "id_e", "adiff", "rmis", "ddiff"]])


def _subsets(one, many, window, max_size, one_is_internal):
    """For each record of ``one``, 2..max_size of its 16 nearest open records of ``many`` summing to it."""
    pool = {}
    for key, group in many.groupby(["account", "currency"]):
        group = group.sort_values(["bday", "id"])
        pool[key] = (group["bday"].tolist(), list(zip(group["bday"], group["id"], group["micro"])))
    links, used = [], set()
    for account, currency, bday, record_id, micro in sorted(zip(one["account"], one["currency"], one["bday"], one["id"], one["micro"]),
                                                             key=lambda r: r[3]):
        days, entries = pool.get((account, currency), ([], []))
        window_entries = entries[bisect_left(days, bday - window):bisect_right(days, bday + window)]
        near = sorted((abs(d - bday), i, m) for d, i, m in window_entries
                      if i not in used and (m > 0) == (micro > 0) and abs(m) < abs(micro))[:16]
        found = [tuple(sorted(i for _, i, _ in combo))
                 for size in range(2, max_size + 1) for combo in itertools.combinations(near, size)
                 if sum(m for _, _, m in combo) == micro]
        if found:
            chosen = sorted(found)[0]
            used.update(chosen)
            links += [((record_id, c) if one_is_internal else (c, record_id)) for c in chosen]
    return links


def run_baseline(internal_path, external_path) -> set[tuple[str, str]]:
    """The links the default rule set's passes find, computed with pandas."""
    books, bank = _load(internal_path), _load(external_path)
    links: list[tuple[str, str]] = []

    def drop(pairs):
        nonlocal books, bank
        links.extend(pairs)
        books = books[~books["id"].isin({i for i, _ in pairs})]
        bank = bank[~bank["id"].isin({e for _, e in pairs})]

    keys = ["account", "currency"]
    for reference in ("ref_norm", "ref_digits"):
        drop(_one_to_one(books[books[reference] != ""], bank[bank[reference] != ""], keys + [reference, "micro"], 5, True))
    drop(_one_to_one(books, bank, keys + ["micro"], 3, True))
    drop(_subsets(books, bank, 2, 3, True))
    drop(_subsets(bank, books, 3, 6, False))
    drop(_one_to_one(books, bank, keys, 3, True, tolerance=(50_000_000, 2), external_less=True))
    drop(_one_to_one(books, bank, keys + ["micro"], 10, False))
    return set(links)
