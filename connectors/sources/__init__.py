"""Sources the workbench fetches from: files from somewhere (SFTP), records from a database (MongoDB).

Each kind sits behind one small interface in :mod:`.base`; one module per source implements it.
The modules are imported where they are used, so that loading this package does not load
every client library.
"""

from connectors.sources.base import Fetched, FileSource, HoldingsBooks, UnitTotal

__all__ = ["Fetched", "FileSource", "HoldingsBooks", "UnitTotal"]
