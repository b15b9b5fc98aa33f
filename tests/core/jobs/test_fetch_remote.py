"""Fetching from real servers on 127.0.0.1: SFTP (asyncssh, host key checked, the password from
the environment variable the pipeline names) and S3 (moto's server, boto3)."""

from __future__ import annotations

import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import func, select

from core.jobs.pipelines import save_pipeline
from core.jobs.runs import run_now, run_steps_of
from core.store.models import DatasetRecord, FetchedFile
from tests.connectors.sources.test_sftp import sftp_server  # noqa: F401 (the real SSH server fixture)
from tests.core.jobs.conftest import BANK_DAY_ONE, BANK_DAY_TWO, pipeline_text


def count(store, model):
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def sftp_steps(port, known_hosts) -> str:
    return f'''[[steps]]
kind = "fetch"
source = "sftp"
host = "127.0.0.1"
port = {port}
username = "recon"
password_env = "RECON_TEST_SFTP_PASSWORD"
known_hosts = "{known_hosts}"
remote_dir = "/out"
pattern = "*.csv"

[[steps]]
kind = "import"
'''


def test_sftp_files_are_fetched_with_the_host_key_checked_and_each_processed_once(store, sftp_server, monkeypatch):  # noqa: F811
    port, known_hosts, root = sftp_server
    (root / "out" / "bank-1.csv").write_bytes(BANK_DAY_ONE)
    monkeypatch.setenv("RECON_TEST_SFTP_PASSWORD", "s3cret-pass")
    save_pipeline(store, pipeline_text(steps=sftp_steps(port, known_hosts)), actor="ana")
    first = run_now(store, "daily-bank", actor="ana")
    assert first.status == "succeeded", first.error
    assert [f["name"] for f in first.outputs["fetched"]] == ["bank-1.csv"]
    assert first.outputs["fetched"][0]["source"] == "127.0.0.1:/out/bank-1.csv"
    (root / "out" / "bank-2.csv").write_bytes(BANK_DAY_TWO)
    second = run_now(store, "daily-bank", actor="ana")
    assert [f["name"] for f in second.outputs["fetched"]] == ["bank-2.csv"]
    third = run_now(store, "daily-bank", actor="ana")
    assert third.outputs["fetched"] == [] and run_steps_of(store, third.id)[1].status == "skipped"
    assert (count(store, DatasetRecord), count(store, FetchedFile)) == (2, 2)


def test_an_sftp_server_whose_key_is_not_known_is_refused(store, sftp_server, monkeypatch, tmp_path):  # noqa: F811
    port, _, root = sftp_server
    (root / "out" / "bank-1.csv").write_bytes(BANK_DAY_ONE)
    import asyncssh

    stranger = tmp_path / "stranger_known_hosts"
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
    stranger.write_text(f"[127.0.0.1]:{port} {other_key}\n")
    monkeypatch.setenv("RECON_TEST_SFTP_PASSWORD", "s3cret-pass")
    save_pipeline(store, pipeline_text(steps=sftp_steps(port, stranger), retry="[retry]\nmax_attempts = 1\n"), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    assert run.status == "failed" and "host key is not in known_hosts, or has changed; refused" in run.error
    assert count(store, FetchedFile) == 0


def test_an_sftp_password_variable_that_is_not_set_fails_naming_the_variable(store, sftp_server, monkeypatch):  # noqa: F811
    port, known_hosts, _ = sftp_server
    monkeypatch.delenv("RECON_TEST_SFTP_PASSWORD", raising=False)
    save_pipeline(store, pipeline_text(steps=sftp_steps(port, known_hosts)), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    assert run.error == "step 1 (fetch): the environment variable RECON_TEST_SFTP_PASSWORD (the SFTP password) is not set"


@pytest.fixture
def s3_server(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("RECON_TEST_S3_KEY", "testing-key")
    monkeypatch.setenv("RECON_TEST_S3_SECRET", "testing-secret")
    url = f"http://{host}:{port}"
    # moto keeps its buckets per process, across servers: start every test from none.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing-key",
                          aws_secret_access_key="testing-secret")
    client.create_bucket(Bucket="bank-feeds")
    yield url, client
    server.stop()


def s3_steps(url: str) -> str:
    return f'''[[steps]]
kind = "fetch"
source = "s3"
bucket = "bank-feeds"
prefix = "daily/"
endpoint_url = "{url}"
region = "us-east-1"
access_key_env = "RECON_TEST_S3_KEY"
secret_key_env = "RECON_TEST_S3_SECRET"
pattern = "*.csv"

[[steps]]
kind = "import"
'''


def test_s3_objects_under_the_prefix_are_fetched_and_each_processed_once(store, s3_server):
    url, client = s3_server
    client.put_object(Bucket="bank-feeds", Key="daily/2026-11-03/bank.csv", Body=BANK_DAY_ONE)
    client.put_object(Bucket="bank-feeds", Key="daily/readme.txt", Body=b"not a statement")
    client.put_object(Bucket="bank-feeds", Key="other/bank.csv", Body=BANK_DAY_TWO)
    save_pipeline(store, pipeline_text(steps=s3_steps(url)), actor="ana")
    first = run_now(store, "daily-bank", actor="ana")
    assert first.status == "succeeded", first.error
    assert [(f["name"], f["source"]) for f in first.outputs["fetched"]] == [("bank.csv", "s3://bank-feeds/daily/2026-11-03/bank.csv")]
    client.put_object(Bucket="bank-feeds", Key="daily/2026-11-04/bank.csv", Body=BANK_DAY_TWO)
    client.put_object(Bucket="bank-feeds", Key="daily/2026-11-04/bank-copy.csv", Body=BANK_DAY_ONE)  # the same bytes again
    second = run_now(store, "daily-bank", actor="ana")
    assert [f["source"] for f in second.outputs["fetched"]] == ["s3://bank-feeds/daily/2026-11-04/bank.csv"]
    assert "(2 processed before, skipped)" in run_steps_of(store, second.id)[0].message
    assert (count(store, DatasetRecord), count(store, FetchedFile)) == (2, 2)


def test_an_s3_bucket_that_does_not_exist_fails_the_fetch_in_one_line(store, s3_server):
    url, _ = s3_server
    save_pipeline(store, pipeline_text(steps=s3_steps(url).replace("bank-feeds", "no-such-bucket")), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    assert run.status == "failed" and run.error.startswith("step 1 (fetch): s3://no-such-bucket/daily/: ")
    assert "NoSuchBucket" in run.error and "\n" not in run.error
