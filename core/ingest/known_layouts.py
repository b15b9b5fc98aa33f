"""Known layouts: the CSV exports of well-known banks and payment providers, read without a profile.

Each layout is a profile (:mod:`core.ingest.profiles`) shipped in ``core/ingest/layouts/`` as TOML, with a
``[signature]``: the titles its header always has, or, for a file without a header, a pattern
for each field, checked on the first rows. A file imported without a profile is held to
every layout first, because the generic titles would misread some of them (PayPal's
``Gross`` is not what reaches the balance; ``Net`` is). When several fit, the one with the
most signature titles wins, and a profile of the analyst's own (profiles folder) that carries
a signature wins a tie against a shipped one. When none fits, the layouts that nearly fit are
named, with the titles they lack, so a refusal says what the file is closest to.
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from core import config
from core.domain.records import normalise_title

if TYPE_CHECKING:
    from connectors.files.raw import RawTable
    from core.ingest.profiles import Profile

# Start-up speed: the fast canonical CSV path asks fits_a_signature about every file, and loads
# before the profile model (pydantic); the functions that need it import it themselves.

__all__ = ["LAYOUTS_DIR", "LayoutChoice", "choose_layout", "fits_a_signature", "known_layouts", "shipped_layouts"]

LAYOUTS_DIR = Path(__file__).resolve().parent / "layouts"

_HEADER_SEARCH_ROWS = 50
_PATTERN_ROWS = 5
_NEAR_MISSES_SHOWN = 3


class LayoutChoice(NamedTuple):
    """The layout a file fits (``None`` if none), and the ones that nearly fit, as text."""

    profile: Profile | None
    near_misses: list[str]


@functools.cache
def shipped_layouts() -> tuple[Profile, ...]:
    """Every layout shipped with the product, by name."""
    from core.ingest.profiles import parse_profile  # start-up speed: see above

    return tuple(parse_profile(path.read_text(encoding="utf-8"), path.stem, str(path)) for path in sorted(LAYOUTS_DIR.glob("*.toml")))


def known_layouts(folder: Path | None = None) -> list[tuple[Profile, bool]]:
    """``(layout, is the analyst's own)`` for the shipped layouts and every valid profile of the
    profiles folder that carries a signature. A profile of the folder hides a shipped layout
    of the same name."""
    from core.ingest.profiles import ProfileError, parse_profile  # start-up speed: see above

    own = []
    folder = folder or config.profiles_dir()
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            profile = parse_profile(path.read_text(encoding="utf-8"), path.stem, str(path))
        except (ProfileError, OSError, UnicodeDecodeError):
            continue
        if profile.signature is not None:
            own.append((profile, True))
    names = {p.name for p, _ in own}
    return own + [(p, False) for p in shipped_layouts() if p.name not in names]


def choose_layout(raw: RawTable, folder: Path | None = None) -> LayoutChoice:
    """The known layout whose signature the table carries, else the near misses.

    Args:
        raw: the cells of the file, as read without a profile.
        folder: the profiles folder (the configured one when left out).
    """
    header_rows = [{normalise_title(c) for c in row.cells if isinstance(c, str) and c.strip()} for row in raw.rows[:_HEADER_SEARCH_ROWS]]
    fits: list[tuple[int, bool, str, Profile]] = []
    near: list[tuple[int, str, list[str]]] = []
    for profile, own in known_layouts(folder):
        signature = profile.signature
        if profile.read.headerless:
            if _fields_fit(raw, profile):
                fits.append((len(signature.patterns), own, profile.name, profile))
            continue
        wanted = {normalise_title(t): t for t in signature.titles}
        present = max((len(wanted.keys() & titles) for titles in header_rows), default=0)
        if present == len(wanted):
            fits.append((len(wanted), own, profile.name, profile))
        elif present >= 2 and present * 2 >= len(wanted):
            best = max(header_rows, key=lambda titles: len(wanted.keys() & titles))
            near.append((len(wanted) - present, profile.name, [t for n, t in wanted.items() if n not in best]))
    if fits:
        best_score, best_own = max((score, own) for score, own, _, _ in fits)
        return LayoutChoice(next(p for score, own, _, p in sorted(fits, key=lambda f: f[2]) if (score, own) == (best_score, best_own)), [])
    near.sort()
    return LayoutChoice(None, [f"{name} (lacks {', '.join(repr(t) for t in missing)})" for _, name, missing in near[:_NEAR_MISSES_SHOWN]])


def _fields_fit(raw: RawTable, profile: Profile) -> bool:
    """Whether the first rows of a file without a header have the layout's fields, each as its pattern says."""
    rows = [r for r in raw.rows if r.number > profile.read.skip_rows][:_PATTERN_ROWS]
    positions = {profile.read.titles.index(title): re.compile(pattern) for title, pattern in profile.signature.patterns.items()}
    width = len(profile.read.titles)
    for row in rows:
        cells = ["" if c is None else str(c).strip() for c in row.cells]
        if len(cells) != width or not all(pattern.fullmatch(cells[i]) for i, pattern in positions.items()):
            return False
    return bool(rows)


def fits_a_signature(normalised_titles: set[str], folder: Path | None = None) -> bool:
    """Whether a header's titles (normalised) hold every title of a known layout's signature.

    Read straight from the TOML, without validating the profiles: for the fast canonical CSV
    path, which leaves such a file to the general import and its layout.
    """
    folders = [LAYOUTS_DIR, folder or config.profiles_dir()]
    for path in (p for f in folders if f.is_dir() for p in sorted(f.glob("*.toml"))):
        try:
            signature = tomllib.loads(path.read_text(encoding="utf-8")).get("signature", {})
            titles = signature.get("titles", []) if isinstance(signature, dict) else []
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
            continue
        if titles and all(isinstance(t, str) for t in titles) and {normalise_title(t) for t in titles} <= normalised_titles:
            return True
    return False
