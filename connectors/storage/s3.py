"""Export files in an S3 bucket (AWS or any S3-compatible server), through boto3.

Files above the multipart threshold go up in parts (boto3's ``TransferConfig``); every upload
asks for server-side encryption; links are pre-signed GETs that expire (default one hour, at
most seven days, and never after the signing credentials themselves expire).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from connectors.storage.base import FileStorage, StorageError, link_seconds

__all__ = ["S3Bucket"]


class S3Bucket(FileStorage):
    """Files under ``prefix`` in ``bucket``, staged in the local folder ``staging`` before the upload.

    ``settings``: anything with the fields of ``core.config.S3Settings`` (endpoint_url, region,
    access_key_id, secret_access_key, session_token, multipart_threshold, server_side_encryption,
    kms_key_id).
    """

    def __init__(self, bucket: str, prefix: str, settings, staging: Path, client=None) -> None:
        self.bucket, self.prefix, self.settings, self.staging = bucket, prefix.strip("/"), settings, Path(staging)
        self.client = client or _client(settings)

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, staged: Path, name: str) -> str:
        from boto3.s3.transfer import TransferConfig

        extra = {"ServerSideEncryption": self.settings.server_side_encryption}
        if self.settings.kms_key_id:
            extra["SSEKMSKeyId"] = self.settings.kms_key_id
        threshold = self.settings.multipart_threshold
        config = TransferConfig(multipart_threshold=threshold, multipart_chunksize=_part_size(staged.stat().st_size, threshold))
        key = self.key(name)
        try:
            self.client.upload_file(str(staged), self.bucket, key, ExtraArgs=extra, Config=config)
        except Exception as exc:
            raise StorageError(f"upload to s3://{self.bucket}/{key} failed: {_reason(exc)}") from exc
        staged.unlink(missing_ok=True)
        return f"s3://{self.bucket}/{key}"

    def exists(self, location: str) -> bool:
        bucket, key = _split(location)
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if _status(exc) == 404:
                return False
            raise StorageError(f"{location} cannot be checked: {_reason(exc)}") from exc
        return True

    def url(self, location: str, *, expires_in: int = 3600) -> str | None:
        bucket, key = _split(location)
        seconds = min(link_seconds(expires_in), self._credentials_seconds_left())
        return self.client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds)

    def remove(self, location: str) -> None:
        bucket, key = _split(location)
        self.client.delete_object(Bucket=bucket, Key=key)

    def open(self, location: str):
        bucket, key = _split(location)
        return self.client.get_object(Bucket=bucket, Key=key)["Body"]

    def _credentials_seconds_left(self) -> int:
        """How long the signing credentials still live (temporary ones expire; a link signed
        with them dies with them); a week for credentials that do not expire."""
        credentials = getattr(getattr(self.client, "_request_signer", None), "_credentials", None)
        expiry = getattr(credentials, "_expiry_time", None)
        if expiry is None:
            return link_seconds(10**9)
        return max(1, int((expiry - dt.datetime.now(dt.UTC)).total_seconds()))


def _client(settings):
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id=settings.access_key_id, aws_secret_access_key=settings.secret_access_key,
                                    aws_session_token=settings.session_token, region_name=settings.region)
    return session.client("s3", endpoint_url=settings.endpoint_url,
                          config=Config(signature_version="s3v4", retries={"max_attempts": 5, "mode": "standard"}))


def _part_size(size: int, threshold: int) -> int:
    """Parts of the threshold's size, grown so that a file needs at most 10,000 of them."""
    return max(threshold, -(-size // 10_000))


def _split(location: str) -> tuple[str, str]:
    if not location.startswith("s3://"):
        raise StorageError(f"{location!r} is not an s3:// location")
    bucket, _, key = location[5:].partition("/")
    return bucket, key


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status else None


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
