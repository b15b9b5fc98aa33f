"""Where export files are kept: a local folder (the default) or an S3 bucket.

Both sit behind :class:`.base.FileStorage` (put a finished file, say whether it is there, hand
out a link, open it, remove it). ``core.exports.storage`` picks one from an export's
destination and the settings; the S3 module loads boto3 only when it is used.
"""

from connectors.storage.base import MAX_LINK_SECONDS, FileStorage, StorageError, link_seconds
from connectors.storage.local import LocalFolder

__all__ = ["MAX_LINK_SECONDS", "FileStorage", "LocalFolder", "StorageError", "link_seconds"]
