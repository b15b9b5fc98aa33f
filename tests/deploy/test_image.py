"""The image, built from the Dockerfile and run as a deployment runs it.

No Docker daemon is needed: buildah builds the Dockerfile (vfs storage, chroot isolation) and
runs the image's commands on the host's network. No image registry is needed either: the base,
Debian bookworm with its Python 3.11 (the Python of the Dockerfile's default base), is made from
Debian's packages with debootstrap. The base tarball and buildah's storage (the base image, the
built image) are kept between runs under ~/.cache/recon-image (``RECON_IMAGE_CACHE`` moves it),
so a later run builds only the image.

The container runs on the test session's PostgreSQL, as the compose file's services do: it
migrates the store, seeds the demo month, serves the app and the API side by side on free ports
of 127.0.0.1, answers its own health check, and is stopped and removed at the end.
``make image-test`` runs this test alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from core.store.db import head_revision
from tests.conftest import _free_port, _new_postgres_database

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "bookworm"  # its python3 is 3.11, as in the Dockerfile's default base
CACHE = Path(os.environ.get("RECON_IMAGE_CACHE") or Path.home() / ".cache" / "recon-image")
STORAGE = CACHE / "storage"
BUILDAH = ["buildah", "--storage-driver", "vfs", "--root", str(STORAGE), "--runroot", str(CACHE / "runroot")]
BASE_IMAGE = f"localhost/recon-base:{RELEASE}"
IMAGE = "localhost/recon-workbench:test"
ENTRYPOINT = "/app/scripts/container-entrypoint.sh"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
OUTPUT = ROOT / "test-output" / "image"
TRIMMED = ("dev", "proc", "sys", "var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale",
           "usr/share/info")


def _buildah_env() -> dict[str, str]:
    # buildah's temporary files (a build's layers, its working copies) go under the cache folder too.
    (CACHE / "tmp").mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(CACHE / "tmp")}


def buildah(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([*BUILDAH, *args], capture_output=True, text=True, timeout=timeout, env=_buildah_env())
    if check and done.returncode != 0:
        pytest.fail(f"buildah {' '.join(args[:3])} failed ({done.returncode}): {done.stderr[-3000:]}")
    return done


def debian_mirror() -> str:
    """The Debian mirror apt already uses here, else Debian's own."""
    for source in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        if source.exists():
            for line in source.read_text().splitlines():
                words = line.split()
                if line.startswith("URIs:") and len(words) > 1:
                    return words[1]
                if line.startswith("deb ") and len(words) > 1 and "security" not in words[1]:
                    return words[-3] if words[1].startswith("[") else words[1]
    return "http://deb.debian.org/debian"


def _mounts_under(folder: Path) -> list[str]:
    prefix = str(folder.resolve())
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [m for m in mounts if m == prefix or m.startswith(prefix + "/")]


def _unmount_under(folder: Path) -> None:
    for mount in sorted(_mounts_under(folder), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", mount], capture_output=True)


def base_tarball() -> Path:
    """Debian (minbase) with python3, python3-venv and ca-certificates, as a tar; made once per release."""
    tarball = CACHE / f"base-{RELEASE}.tar"
    if tarball.exists():
        return tarball
    work = Path(tempfile.mkdtemp(prefix="base-", dir=CACHE))
    rootfs = work / "rootfs"
    try:
        made = subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates", RELEASE,
                               str(rootfs), debian_mirror()], capture_output=True, text=True, timeout=900)
        _unmount_under(rootfs)
        if made.returncode != 0:
            pytest.fail(f"debootstrap {RELEASE} failed ({made.returncode}): {(made.stdout + made.stderr)[-3000:]}")
        for name in TRIMMED:  # what no image needs: device nodes (the runtime makes them), package caches, docs
            for entry in (rootfs / name).glob("*"):
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(work / "base.tar"), "."], check=True, timeout=300)
        os.replace(work / "base.tar", tarball)
    finally:
        _unmount_under(rootfs)
        shutil.rmtree(work, ignore_errors=True)
    return tarball


def base_image() -> str:
    """The base image in buildah's storage, imported from the tarball when missing."""
    if buildah("images", "--quiet", BASE_IMAGE, check=False).returncode == 0:
        return BASE_IMAGE
    tarball = base_tarball()
    container = buildah("from", "scratch").stdout.strip()
    try:
        buildah("add", container, str(tarball), "/", timeout=600)
        buildah("config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", container)
        buildah("commit", "--quiet", container, BASE_IMAGE, timeout=600)
    finally:
        buildah("rm", container, check=False)
    return BASE_IMAGE


def build_image(log: Path) -> float:
    """Build the Dockerfile on the base; the seconds it took. Fails the test when it does not build."""
    command = ["bud", "--isolation", "chroot", "--format", "docker", "--build-arg", f"BASE={base_image()}", "--tag", IMAGE,
               "--file", str(ROOT / "Dockerfile")]
    if HOST_CA.exists():  # this machine's trust store (a TLS-inspecting proxy's CA) for pip, in the build stage only
        command += ["--volume", f"{HOST_CA}:/run/ca.pem:ro", "--build-arg", "PIP_CERT=/run/ca.pem"]
    started = time.monotonic()
    with log.open("w") as out:
        built = subprocess.run([*BUILDAH, *command, str(ROOT)], stdout=out, stderr=subprocess.STDOUT, timeout=1800,
                               env=_buildah_env())
    seconds = time.monotonic() - started
    if built.returncode != 0:
        pytest.fail(f"the image does not build ({built.returncode}); the end of {log}:\n{log.read_text()[-4000:]}")
    buildah("rmi", "--prune", check=False, timeout=300)  # the image this build replaced
    return seconds


def image_size() -> float:
    """The image's size in bytes (buildah says it in SI units: ``933 MB``)."""
    said = next(image["size"] for image in json.loads(buildah("images", "--json", IMAGE).stdout))
    number, unit = said.split()
    return float(number) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]


def run_in(container: str, *command: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    flags = [f"--env={name}={value}" for name, value in env.items()]
    return buildah("run", "--isolation", "chroot", *flags, container, "--", *command, timeout=timeout, check=False)


def start_in(container: str, *command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """A server in the container, in a process group of its own (stopped as a whole)."""
    flags = [f"--env={name}={value}" for name, value in env.items()]
    with log.open("w") as out:
        return subprocess.Popen([*BUILDAH, "run", "--isolation", "chroot", *flags, container, "--", *command], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, env=_buildah_env())


def _served_by(process: subprocess.Popen) -> list[int]:
    """The processes ``process`` runs in the container: its group but buildah's own (buildah, and
    the chroot runtime it runs from memory)."""
    buildah_executable = os.path.realpath(shutil.which("buildah") or "buildah")
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            group = int(stat.read_text().rsplit(")", 1)[1].split()[2])
            executable = os.readlink(stat.parent / "exe")
            if group == process.pid and executable != buildah_executable and "memfd:buildah" not in executable:
                found.append(int(stat.parent.name))
    return found


def stop(process: subprocess.Popen) -> bool:
    """SIGTERM to the server, as a container stop sends it to the container's process; whether it
    stopped on that within 30 s. SIGKILL to the whole group after, whatever is left."""
    stopped = process.poll() is not None
    if not stopped:
        for pid in _served_by(process):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
            stopped = True
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return stopped


def wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = 180) -> bytes:
    """The body a server answers ``url`` with (status 200), once it does; fails when it stops or never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url}: the server stopped ({process.returncode}) before answering:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return answer.read()
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {seconds:.0f} s:\n{log.read_text()[-3000:]}")


def test_the_image_builds_and_serves_the_app_and_the_api(postgres_url):
    if not shutil.which("buildah") or not shutil.which("debootstrap", path=os.environ.get("PATH", "") + ":/usr/sbin"):
        pytest.fail("buildah and debootstrap are missing: `make test` installs them (scripts/install-system-packages.sh)")
    CACHE.mkdir(parents=True, exist_ok=True)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # One run at a time per cache (several checkouts may test at once): they share the storage.
    with (CACHE / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        build_seconds = build_image(OUTPUT / "build.log")
        size = image_size()
        config = json.loads(buildah("inspect", "--type", "image", IMAGE).stdout)["Docker"]["config"]
        assert config["User"] == "recon:recon"
        assert config["Healthcheck"]["Test"] == ["CMD", ENTRYPOINT, "health"]
        assert config["Entrypoint"] == [ENTRYPOINT] and config["Cmd"] == ["app"]
        assert not [name for name in config.get("Env", []) if name.split("=")[0] in ("DATABASE_URL", "PIP_CERT")]

        container = f"recon-image-test-{os.getpid()}"
        env = {"DATABASE_URL": _new_postgres_database(postgres_url)}
        servers: list[subprocess.Popen] = []
        try:
            buildah("from", "--name", container, IMAGE, timeout=600)
            inside = run_in(container, "sh", "-c", "id -u; python3 -V; tesseract --version 2>&1 | head -1; ls -A /app", env=env)
            assert inside.returncode == 0, inside.stderr
            uid, python, tesseract, *listing = inside.stdout.split("\n")
            assert uid == "10001" and python.startswith("Python 3.11.") and tesseract.startswith("tesseract ")
            assert "Home.py" in listing and not {".git", ".venv", "tests", "data", "test-output"} & set(listing)

            migrated = run_in(container, ENTRYPOINT, "migrate", env=env)
            assert migrated.returncode == 0, migrated.stderr
            assert migrated.stdout.strip() == f"store (postgresql) at revision {head_revision()}, the newest"
            demo = run_in(container, "python", "-m", "core", "demo", "--if-empty", env=env)
            assert demo.returncode == 0, demo.stderr
            assert "demo users: viewer, analyst, analyst2, approver, admin" in demo.stdout

            app_port, api_port = _free_port(), _free_port()
            app_log, api_log = OUTPUT / "app.log", OUTPUT / "api.log"
            servers.append(start_in(container, ENTRYPOINT, "app", "--server.address", "127.0.0.1", "--server.port", str(app_port),
                                    env=env, log=app_log))
            servers.append(start_in(container, ENTRYPOINT, "api", "--host", "127.0.0.1", "--port", str(api_port), env=env, log=api_log))
            assert wait_for(f"http://127.0.0.1:{app_port}/_stcore/health", servers[0], app_log) == b"ok"
            assert json.loads(wait_for(f"http://127.0.0.1:{api_port}/api/v1/health", servers[1], api_log)) == {"status": "ok"}
            store = json.loads(wait_for(f"http://127.0.0.1:{api_port}/api/v1/health/db", servers[1], api_log))
            assert store == {"status": "ok", "database": "postgresql", "revision": head_revision()}
            healthy = run_in(container, ENTRYPOINT, "health", env=env)
            assert healthy.returncode == 0, healthy.stderr

            assert [stop(server) for server in servers] == [True, True], "a server did not stop on SIGTERM within 30 s"
            assert "Finished server process" in api_log.read_text()  # uvicorn's graceful shutdown
            stopped = run_in(container, ENTRYPOINT, "health", env=env)
            assert stopped.returncode == 1 and "does not answer" in stopped.stderr
        finally:
            for server in servers:
                stop(server)
            buildah("rm", container, check=False)
        assert not _mounts_under(STORAGE), "mounts left behind"
        assert container not in buildah("containers", "--all", "--format", "{{.ContainerName}}").stdout
    figures = f"image {IMAGE}: {size / 1e6:.0f} MB, built in {build_seconds:.0f} s; test {time.monotonic() - started:.0f} s\n"
    (OUTPUT / "figures.txt").write_text(figures)
    print(figures)
    assert size < 1_100_000_000, f"the image grew to {size / 1e6:.0f} MB"
