"""SFTP fetch against a real SSH server started by the test on 127.0.0.1 (asyncssh)."""

import asyncio
import socket
import threading
import time

import asyncssh
import pytest

from connectors.sources.sftp import SftpError, SftpSource, fetch_files
from core.holdings import fetch_registrar_files


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username):
        return True

    def password_auth_supported(self):
        return True

    def validate_password(self, username, password):
        return username == "recon" and password == "s3cret-pass"


@pytest.fixture
def sftp_server(tmp_path):
    root = tmp_path / "remote"
    (root / "out").mkdir(parents=True)
    (root / "out" / "WBR2_20261031.dbf").write_bytes(b"registrar file one")
    (root / "out" / "MFSD203_20261031.dbf").write_bytes(b"registrar file two")
    (root / "out" / "readme.txt").write_bytes(b"not a feed")
    key = asyncssh.generate_private_key("ssh-ed25519")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder = {}

    async def start():
        holder["server"] = await asyncssh.create_server(
            _Server, "127.0.0.1", 0, server_host_keys=[key],
            sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=str(root)))
        holder["port"] = holder["server"].sockets[0].getsockname()[1]
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert started.wait(10)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{holder['port']} {key.export_public_key('openssh').decode().strip()}\n")
    yield holder["port"], known_hosts, root

    async def stop():
        # On the server's own loop: closing it from this thread races the loop's own clean-up
        # of a connection that has just ended.
        holder["server"].close()
        await holder["server"].wait_closed()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    assert not thread.is_alive()


def source(port, known_hosts, **changes):
    return SftpSource("127.0.0.1", port, "recon", "/out", "*.dbf", password="s3cret-pass",
                      known_hosts=str(known_hosts) if known_hosts else None)._replace(**changes)


def test_files_are_fetched_when_the_host_key_is_known(sftp_server, tmp_path):
    port, known_hosts, _ = sftp_server
    fetched = fetch_files(source(port, known_hosts), tmp_path / "in")
    assert sorted(f.local_path.name for f in fetched) == ["MFSD203_20261031.dbf", "WBR2_20261031.dbf"]
    assert (tmp_path / "in" / "WBR2_20261031.dbf").read_bytes() == b"registrar file one"


def test_an_unknown_host_key_is_refused(sftp_server, tmp_path):
    port, _, _ = sftp_server
    other = tmp_path / "other_known_hosts"
    other.write_text(f"[127.0.0.1]:{port} {asyncssh.generate_private_key('ssh-ed25519').export_public_key('openssh').decode().strip()}\n")
    started = time.monotonic()
    with pytest.raises(SftpError, match="host key is not in known_hosts, or has changed; refused"):
        fetch_files(source(port, other), tmp_path / "in", backoff_seconds=5)
    assert time.monotonic() - started < 5, "a refused key is never retried"
    with pytest.raises(SftpError, match="no known_hosts file given"):
        fetch_files(source(port, None), tmp_path / "in")
    with pytest.raises(SftpError, match="does not exist"):
        fetch_files(source(port, tmp_path / "nowhere"), tmp_path / "in")
    assert len(fetch_files(source(port, None, accept_unknown_host=True), tmp_path / "in")) == 2


def test_a_wrong_password_is_refused(sftp_server, tmp_path):
    port, known_hosts, _ = sftp_server
    with pytest.raises(SftpError, match="login was refused"):
        fetch_files(source(port, known_hosts, password="wrong"), tmp_path / "in")


def test_connection_failures_are_retried_with_backoff(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    started = time.monotonic()
    with pytest.raises(SftpError, match="no connection after 3 attempts"):
        fetch_files(source(closed_port, known_hosts), tmp_path / "in", retries=2, backoff_seconds=0.1)
    assert time.monotonic() - started >= 0.3, "waits 0.1 s then 0.2 s"


def test_the_same_file_is_not_processed_twice(sftp_server, tmp_path, store):
    port, known_hosts, root = sftp_server
    first = fetch_registrar_files(store, source(port, known_hosts), tmp_path / "in")
    assert len(first) == 2
    assert fetch_registrar_files(store, source(port, known_hosts), tmp_path / "in") == []
    (root / "out" / "WBR2_20261101.dbf").write_bytes(b"registrar file three")
    assert [f.local_path.name for f in fetch_registrar_files(store, source(port, known_hosts), tmp_path / "in")] == ["WBR2_20261101.dbf"]
