"""``python -m core export``: one JSON object on standard output, exit 2 on bad input."""

import json

import pytest

from core.cli import main
from core.exports.requests import list_exports
from core.store import open_store
from tests.core.exports.export_helpers import add_dataset, rows_table

FIELDS = {"reference_id", "status", "reused", "row_count", "file_size", "sha256", "location"}


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("RECON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def test_export_prints_one_json_object_and_reuses_the_file(data, capsys):
    store = open_store()
    add_dataset(store, rows_table(40))
    arguments = ["export", "--kind", "transactions", "--account", "ACC-2", "--from", "2026-10-02", "--format", "xlsx",
                 "--dest", str(data / "out")]
    assert main(arguments) == 0
    first = json.loads(capsys.readouterr().out)
    assert set(first) == FIELDS and (first["status"], first["reused"], first["row_count"]) == ("COMPLETED", False, 19)
    assert (data / "out").joinpath(first["location"].rsplit("/", 1)[1]).stat().st_size == first["file_size"]
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and json.loads(out) == first | {"reused": True}
    assert main([*arguments, "--refresh"]) == 0
    assert json.loads(capsys.readouterr().out)["reference_id"] != first["reference_id"]
    assert [v.requested_by for v in list_exports(store)] == ["cli", "cli"]


@pytest.mark.parametrize("arguments, message", [
    (["--kind", "ledger"], "invalid choice"),
    (["--kind", "transactions", "--from", "2026-02-30"], "write dates as YYYY-MM-DD"),
    (["--kind", "transactions", "--from", "2026-03-02", "--to", "2026-03-01"], "is after"),
    (["--kind", "breaks"], "no completed reconciliation run"),
    (["--kind", "transactions", "--format", "pdf"], "invalid choice"),
])
def test_bad_input_exits_2_with_a_message_and_nothing_on_standard_output(data, capsys, arguments, message):
    add_dataset(open_store(), rows_table(3))
    assert exit_code(["export", *arguments, "--dest", str(data / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err


def test_a_destination_that_is_a_file_exits_2(data, capsys):
    (data / "taken").write_text("x")
    assert main(["export", "--kind", "transactions", "--dest", str(data / "taken")]) == 2
    assert "a file of that name is in the way" in capsys.readouterr().err


def exit_code(arguments) -> int:
    """The command's exit code, whether it returned it or argparse exited with it."""
    try:
        return main(arguments)
    except SystemExit as exc:
        return exc.code
