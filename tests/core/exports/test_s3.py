"""Exports to S3 through a real S3-compatible HTTP server on loopback (moto's): multipart upload,
server-side encryption asked for, a pre-signed link fetched with a plain HTTP client and read
back row by row, links that expire."""

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from core.exports.storage import storage_for
from connectors.storage.base import MAX_LINK_SECONDS
from core.exports.requests import ExportRequest, export_now, file_url
from tests.core.exports.export_helpers import add_dataset, rows_table

ROOT = Path(__file__).resolve().parents[3]
BUCKET = "recon-exports"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    settings = {"RECON_S3_ENDPOINT_URL": s3_endpoint, "RECON_S3_REGION": "us-east-1", "RECON_S3_ACCESS_KEY_ID": "testing",
                "RECON_S3_SECRET_ACCESS_KEY": "testing", "RECON_S3_MULTIPART_MB": "5"}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return settings


def client(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def test_a_large_export_goes_up_in_parts_encrypted_and_its_link_serves_every_row(store, s3_env, s3_endpoint):
    table = rows_table(120_000, description=lambda n: f"supplier invoice {n} settled in full, see remittance advice {n * 7}")
    add_dataset(store, table)
    ticket, view = export_now(store, ExportRequest("transactions", destination=f"s3://{BUCKET}/daily/"), actor="ana")
    assert view.status == "COMPLETED", view.error
    assert view.location == f"s3://{BUCKET}/daily/transactions_{ticket.reference_id}.csv"
    head = client(s3_endpoint).head_object(Bucket=BUCKET, Key=view.location.split("/", 3)[3])
    assert view.file_size > 5 * 1024 * 1024 and head["ContentLength"] == view.file_size
    assert head["ETag"].strip('"').split("-")[1] == str(-(-view.file_size // (5 * 1024 * 1024)))  # uploaded in 5 MiB parts
    assert head["ServerSideEncryption"] == "AES256"
    link = file_url(store, view)
    assert urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["X-Amz-Expires"] == ["3600"]
    with urllib.request.urlopen(link) as answer:
        body = answer.read()
    import hashlib

    assert hashlib.sha256(body).hexdigest() == view.sha256
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert rows[0] == table.column_names and len(rows) - 1 == table.num_rows == view.row_count
    for got, expected in zip(rows[1:], table.to_pylist()):
        assert got == [expected["id"], expected["account"], expected["date"].isoformat(), str(expected["amount"]),
                       expected["currency"], expected["reference"], expected["description"]]
    again, reused = export_now(store, ExportRequest("transactions", destination=f"s3://{BUCKET}/daily"), actor="bob")
    assert again.reused and again.reference_id == ticket.reference_id and reused.location == view.location


def test_a_small_export_goes_up_whole_and_a_missing_object_is_made_again(store, s3_env, s3_endpoint):
    add_dataset(store, rows_table(10))
    request = ExportRequest("transactions", format="parquet", destination=f"s3://{BUCKET}/small")
    first, view = export_now(store, request, actor="ana")
    key = view.location.split("/", 3)[3]
    assert "-" not in client(s3_endpoint).head_object(Bucket=BUCKET, Key=key)["ETag"]
    client(s3_endpoint).delete_object(Bucket=BUCKET, Key=key)  # a bucket lifecycle rule expired it
    second, remade = export_now(store, request, actor="ana")
    assert second.reference_id != first.reference_id and not second.reused and remade.status == "COMPLETED"


def test_links_expire_as_asked_never_past_seven_days_nor_the_credentials(store, s3_env):
    from botocore.credentials import RefreshableCredentials

    storage = storage_for(store, f"s3://{BUCKET}/x")
    expiry = lambda url: int(urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["X-Amz-Expires"][0])  # noqa: E731
    assert expiry(storage.url(f"s3://{BUCKET}/x/a.csv", expires_in=60)) == 60
    assert expiry(storage.url(f"s3://{BUCKET}/x/a.csv", expires_in=30 * 24 * 3600)) == MAX_LINK_SECONDS == 7 * 24 * 3600
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20)).isoformat()
    temporary = RefreshableCredentials.create_from_metadata(
        {"access_key": "testing", "secret_key": "testing", "token": "t", "expiry_time": ends},
        refresh_using=lambda: None, method="sts")
    storage.client._request_signer._credentials = temporary
    assert 1190 <= expiry(storage.url(f"s3://{BUCKET}/x/a.csv", expires_in=3600)) <= 1200


def test_the_command_line_exports_to_s3_and_prints_the_link(tmp_path, s3_env):
    data = tmp_path / "data"
    books = tmp_path / "books.csv"
    books.write_text("id,account,date,amount,currency,reference\nb1,A,2026-10-01,100.00,USD,=1+1\nb2,B,2026-10-02,-5.10,USD,x\n")
    env = {**os.environ, **s3_env, "RECON_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "core", "import", str(books)], cwd=ROOT, env=env, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "core", "export", "--kind", "transactions", "--account", "A",
                           "--dest", f"s3://{BUCKET}/cli"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {"reference_id", "status", "reused", "row_count", "file_size", "sha256", "location", "file_url"}
    assert (answer["status"], answer["reused"], answer["row_count"]) == ("COMPLETED", False, 1)
    with urllib.request.urlopen(answer["file_url"]) as link:
        assert link.read().decode().splitlines()[1].startswith("b1,A,2026-10-01,100.00,USD,'=1+1")
