"""API keys: shown once, kept as SHA-256 only, with a role; disabled, deleted, audited; the CLI."""

import hashlib

import pytest
from sqlalchemy import select

from core.apikeys import ApiKeyError, authenticate_api_key, create_api_key, delete_api_key, disable_api_key, list_api_keys
from core.auth import create_user
from core.cli import main
from core.store.models import ApiKey, AuditEntry


def test_a_key_is_kept_only_as_its_sha256_and_its_prefix(store):
    view, key = create_api_key(store, "ledger-sync", "analyst", actor="cli")
    assert key.startswith("sk_") and len(key) > 40
    with store.session() as session:
        row = session.scalar(select(ApiKey))
        stored = [str(getattr(row, c.key)) for c in ApiKey.__table__.columns]
    assert row.key_sha256 == hashlib.sha256(key.encode()).hexdigest()
    assert not any(key in value for value in stored)
    assert view.prefix == key[:11] and row.prefix == view.prefix
    assert [k.name for k in list_api_keys(store)] == ["ledger-sync"]


def test_only_the_right_active_key_authenticates(store):
    _, key = create_api_key(store, "reports", "viewer", actor="cli")
    found = authenticate_api_key(store, key)
    assert found is not None and found.role == "viewer" and found.last_used_at is not None
    for wrong in (key + "x", key[:-1], "", None, "Bearer " + key, key.replace("sk_", "pk_")):
        assert authenticate_api_key(store, wrong) is None
    disable_api_key(store, "reports", actor="cli")
    assert authenticate_api_key(store, key) is None
    delete_api_key(store, "reports", actor="cli")
    assert authenticate_api_key(store, key) is None and list_api_keys(store) == []


def test_keys_take_the_roles_of_systems_and_unique_names(store):
    with pytest.raises(ApiKeyError, match="role"):
        create_api_key(store, "too-much", "admin", actor="cli")
    create_api_key(store, "one", "viewer", actor="cli")
    with pytest.raises(ApiKeyError, match="exists already"):
        create_api_key(store, " one ", "viewer", actor="cli")
    with pytest.raises(ApiKeyError, match="no API key"):
        disable_api_key(store, "two", actor="cli")


def test_only_an_active_admin_manages_keys_and_every_change_is_audited(store):
    admin = create_user(store, "root", "long-enough-password", "admin")
    analyst = create_user(store, "ann", "long-enough-password", "analyst")
    with pytest.raises(ApiKeyError, match="admin"):
        create_api_key(store, "sneaky", "viewer", actor=analyst)
    create_api_key(store, "bi", "viewer", actor=admin)
    disable_api_key(store, "bi", actor=admin)
    delete_api_key(store, "bi", actor=admin)
    with store.session() as session:
        actions = [(a.actor, a.action, a.entity_id) for a in session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "api_key")
                                                                                .order_by(AuditEntry.id))]
    assert actions == [("root", "create_api_key", "bi"), ("root", "disable_api_key", "bi"), ("root", "delete_api_key", "bi")]


def test_the_command_line_prints_the_key_once_and_lists_prefixes_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECON_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["api-key", "create", "ci", "--role", "analyst"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("sk_") and "\n" not in key
    assert main(["api-key", "list"]) == 0
    listing = capsys.readouterr().out
    assert key not in listing and f"ci\t{key[:11]}\tanalyst\tactive" in listing
    assert main(["api-key", "disable", "ci"]) == 0
    assert main(["api-key", "list"]) == 0
    assert "\tdisabled\t" in capsys.readouterr().out
    assert main(["api-key", "delete", "nobody"]) == 2
    assert "no API key named 'nobody'" in capsys.readouterr().err
    assert main(["api-key", "delete", "ci"]) == 0
