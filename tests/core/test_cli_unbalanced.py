"""``python -m core import FILE --accept-unbalanced``: a statement that does not add up, on purpose."""

from sqlalchemy import select

from core.store import open_store
from core.store.models import DatasetRecord, StatementRecord
from tests.core.test_cli import run_cli
from tests.statement_samples import MT940

def stored(data_dir):
    """The store the command wrote to, whatever DATABASE_URL says in the test's own environment."""
    return open_store(f"sqlite:///{data_dir / 'recon.db'}", data_dir)


# The second statement's closing balance 1099.75 is written 1089.75: 10.00 short.
SHORT = MT940.replace(b":62F:C261005EUR1099,75", b":62F:C261005EUR1089,75")


def test_without_the_flag_the_file_is_refused_in_one_line_and_nothing_is_written(tmp_path):
    source = tmp_path / "short.sta"
    source.write_bytes(SHORT)
    result = run_cli("import", str(source), "--out", str(tmp_path / "out.csv"), data_dir=tmp_path / "data")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: short.sta") and "(difference -10.00)" in line and line.endswith(
        "to import it anyway with the difference recorded: CLI --accept-unbalanced; on the Sources page, ask an approver")
    assert not (tmp_path / "out.csv").exists()
    with stored(tmp_path / "data").session() as session:
        assert session.scalar(select(DatasetRecord.id)) is None


def test_with_the_flag_the_file_imports_flagged_with_its_difference(tmp_path):
    source = tmp_path / "short.sta"
    source.write_bytes(SHORT)
    result = run_cli("import", str(source), "--accept-unbalanced", "--out", str(tmp_path / "out.csv"), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    flagged = [line for line in result.stdout.splitlines() if line.startswith("flagged: ")]
    assert flagged == ["flagged: statement 00013/001 of account DE89370400440532013000 (EUR): "
                       "closing balance differs from opening plus entries by -10.00"]
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 5
    with stored(tmp_path / "data").session() as session:
        differences = session.scalars(select(StatementRecord.difference).order_by(StatementRecord.id)).all()
    assert [str(d) if d is not None else None for d in differences] == [None, "-10.00"]
