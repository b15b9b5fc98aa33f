"""Adapters to the outside world. Every reader returns ``(RawTable | None, errors)``.

A reader only gets cells out of a file and says where each came from; turning cells into
canonical records is ``core.ingest.normalise``'s job, so each new format is one small module here.
"""

from connectors.files.detect import SourceFormatError, detect_format
from connectors.files.raw import RawRow, RawTable, ReadOptions
from connectors.files.table import read_table

__all__ = ["RawRow", "RawTable", "ReadOptions", "SourceFormatError", "detect_format", "read_table"]
