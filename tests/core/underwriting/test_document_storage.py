"""Application documents kept where exports are: in S3 (moto's server on loopback) with server-side
encryption asked for, or Fernet-encrypted in the local folder; documents kept before S3 (a file
name under documents/) still read; account numbers never in the logs."""

import datetime as dt
import hashlib
import logging
import os
import uuid
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from core.store.models import ApplicationDocument
from core.underwriting.applications import add_document, application_metrics, create_application, document_bytes, list_documents
from tests.core.exports.test_s3 import BUCKET, client, s3_endpoint, s3_env  # noqa: F401 (fixtures)
from tests.statement_pdfs import make_rows, statement_pdf

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("RECON_DATA_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("RECON_DOCUMENT_KEY", Fernet.generate_key().decode())
    return tmp_path / "files"


@pytest.fixture
def pdf():
    return statement_pdf("northwind", make_rows(10, START, Decimal("1200.00"), seed=5), Decimal("1200.00"), START, END)


def test_documents_go_to_s3_encrypted_server_side_and_are_read_back(store, files, pdf, s3_env, s3_endpoint, monkeypatch):  # noqa: F811
    prefix = f"applications-{uuid.uuid4().hex[:8]}"  # the server lives for the module: a prefix of this test's own
    monkeypatch.setenv("RECON_DOCUMENTS_DEST", f"s3://{BUCKET}/{prefix}/")
    app = create_application(store, "Orchard Cafe", Decimal("9000.00"), user="ana")
    added = add_document(store, app, pdf, "march.pdf", user="ana")
    digest = hashlib.sha256(pdf).hexdigest()
    assert added.document.stored_as == f"s3://{BUCKET}/{prefix}/{digest}.pdf"
    head = client(s3_endpoint).head_object(Bucket=BUCKET, Key=f"{prefix}/{digest}.pdf")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == len(pdf)
    assert not list((files / "documents").glob("*")), "nothing kept or left over in the local folder"
    assert document_bytes(store, added.document.id) == ("march.pdf", pdf)
    figures, errors = application_metrics(store, app)
    assert errors == [] and figures.metrics["period"]["start"] == "2026-03-01"

    other = create_application(store, "Harbour Foods", None, user="ana")
    assert add_document(store, other, pdf, "same.pdf", user="ana").document.stored_as == added.document.stored_as
    listed = client(s3_endpoint).list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"{prefix}/{digest}.pdf"]


def test_a_document_kept_before_s3_is_still_read_and_local_ones_stay_encrypted(store, files, pdf, monkeypatch):
    app = create_application(store, "Orchard Cafe", None, user="ana")
    local = add_document(store, app, pdf, "march.pdf", user="ana").document
    assert local.stored_as == f"{hashlib.sha256(pdf).hexdigest()}.fernet"
    kept = (files / "documents" / local.stored_as).read_bytes()
    assert b"%PDF" not in kept and Fernet(os.environ["RECON_DOCUMENT_KEY"]).decrypt(kept) == pdf

    old = b"%PDF-1.4 an older upload"
    (files / "documents" / "legacy.fernet").write_bytes(Fernet(os.environ["RECON_DOCUMENT_KEY"]).encrypt(old))
    with store.session() as session:
        row = ApplicationDocument(application_id=app, sha256=hashlib.sha256(old).hexdigest(), name="old.pdf", source="upload",
                                  size=len(old), pages=None, stored_as="legacy.fernet", reading={"kind": "other"}, added_by="ana")
        session.add(row)
        session.flush()
        old_id = row.id
    monkeypatch.setenv("RECON_DOCUMENTS_DEST", "s3://somewhere/else")  # a later change of destination leaves old ones readable
    assert document_bytes(store, old_id) == ("old.pdf", old)
    assert document_bytes(store, local.id) == ("march.pdf", pdf)
    assert len(list_documents(store, app)) == 2


def test_account_numbers_are_never_written_to_the_logs(store, files, pdf, caplog):
    caplog.set_level(logging.DEBUG)
    app = create_application(store, "Orchard Cafe", None, user="ana")
    add_document(store, app, pdf, "march.pdf", user="ana")
    application_metrics(store, app)
    assert "20451155667788" not in caplog.text and "5566 7788" not in caplog.text
