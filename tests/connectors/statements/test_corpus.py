"""Statement files written by other people, each held to its line in the corpus MANIFEST.

The corpus (``../shared/corpus/statements/`` beside the repository) gathers the test files and
samples of other open-source statement parsers. Its MANIFEST says, for each file, whether a
careful reader imports it or refuses it; beside some files, ``NAME.expected.json`` holds the
other project's own parse. A file to import must import, with the expected count and sum where
there is one; a file to refuse must be refused, every finding one readable line (no library
repr, no list of allowed codes) and a statement file is refused as what it is, not by the
CSV reader it would fall through to.

Files that do not meet their line yet are listed below, each with its cause, as strict
expected failures: the test fails the moment one starts passing, and its entry goes.
The corpus is not part of the repository: without it the test skips on a workstation and
fails under CI, where a skip would pass unseen.
"""

import json
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest

from core.ingest.datasets import parse_source
from core.ingest.profiles import Profile

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "statements"
MANIFEST = CORPUS / "MANIFEST.md"
_LINE = re.compile(r"^\| `([^`]+)` \|.*\| ([^|]+) \|\s*$")

# A file that names no currency at all reads with the currency the analyst gives in a profile.
PROFILES = {"ofx/ofxparse-empty-tags.ofx": Profile.model_validate({"defaults": {"currency": "USD"}})}

KNOWN_FAILURES = {
    "bai2/hengpor-sample.bai": ("refused on purpose: a group status of '21', a 7-digit as-of date, a 5-digit type code (the "
                                "direction of its money is unknown) and control totals that do not match; the one peer that "
                                "reads it takes unknown codes as credits"),
}
_CSV_FALLBACK = ("no header row found", "this looks like the header")
_UNCLEAR = re.compile(r" at 0x[0-9a-f]+|\[<class |\b[A-Z][A-Za-z]*(Error|Exception)\b|Traceback|OneOf \(")


def manifest() -> dict[str, str]:
    """``{relative path: what a careful reader does}`` for every file the MANIFEST lists."""
    lines = {}
    for line in MANIFEST.read_text(encoding="utf-8").splitlines():
        found = _LINE.match(line)
        if found and found.group(1) != "file":
            lines[found.group(1)] = found.group(2).strip()
    return lines


def _corpus_present() -> None:
    if not MANIFEST.is_file():
        message = f"the statement corpus is not at {CORPUS}; put the shared folder beside the repository"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)


def _cases():
    if not MANIFEST.is_file():
        return [pytest.param(None, None, id="corpus-missing")]
    return [pytest.param(path, said, id=path, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[path])]
                         if path in KNOWN_FAILURES else []) for path, said in manifest().items()]


def clear(error) -> bool:
    text = str(error)
    return "\n" not in text and len(text) <= 400 and not _UNCLEAR.search(text)


@pytest.mark.parametrize(("path", "said"), _cases())
def test_each_corpus_file_is_read_as_its_manifest_line_says(path, said):
    _corpus_present()
    file = CORPUS / path
    result, errors = parse_source(file.read_bytes(), file.name, PROFILES.get(path))
    if said.startswith("import"):
        assert errors == [] and result is not None, [str(e) for e in errors]
        expected = file.with_name(file.name.rsplit(".", 1)[0] + ".expected.json")
        if expected.is_file():
            other = json.loads(expected.read_text(encoding="utf-8"))
            rows = result.table.to_pylist()
            assert (len(rows), sum((r["amount"] for r in rows), Decimal(0))) == (other["count"], Decimal(other["sum"]))
    else:
        assert result is None, f"imported {result.table.num_rows} rows from a file to refuse ({said})"
        unclear = [str(e) for e in errors if not clear(e)]
        assert errors and unclear == []
        if not path.startswith("csv/"):
            assert not any(text in str(e) for e in errors for text in _CSV_FALLBACK), "refused as a CSV file, not as what it is"


def test_the_manifest_lists_every_corpus_file():
    _corpus_present()
    files = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file()
             and p.name != "MANIFEST.md" and not p.name.endswith(".expected.json")}
    assert files == set(manifest())
