"""A throwaway PostgreSQL cluster for the team-server tests: ``initdb`` in a temporary folder, a free
loopback port, run by a user who is not root (PostgreSQL refuses root), stopped by its process group."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

USER = "trainlab"  # the database role the tests connect as (trusted on 127.0.0.1 only)


def binaries() -> Path | None:
    """The folder of ``initdb`` and ``postgres``: on PATH, or where Debian's postgresql package puts them."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def unavailable() -> str | None:
    """Why no cluster can be started here, or None."""
    if binaries() is None:
        return "PostgreSQL is not installed (make test installs Debian's postgresql where it runs as root)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "PostgreSQL will not run as root and runuser is missing"
    try:
        import psycopg  # noqa: F401  SQLAlchemy's driver for postgresql:// URIs: the postgres extra
    except ImportError:
        return "psycopg is not installed (pip install 'trainlab[postgres]')"
    return None


def _as_owner(argv: list[str]) -> list[str]:
    """``argv`` as the postgres system user when running as root, else as it is."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class Cluster:
    folder: Path
    port: int
    process: subprocess.Popen

    def uri(self, database: str = "mlflow") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        subprocess.run(_as_owner([str(binaries() / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER,
                                  name]), check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start(root: Path) -> Cluster:
    """A new cluster in ``root/data``, listening on 127.0.0.1 only, its socket in ``root/socket`` (``root``: a
    folder of its own, outside pytest's, which only their owner may enter: as root, the postgres user owns it)."""
    data, sockets = root / "data", root / "socket"
    for folder in (data, sockets):
        folder.mkdir(parents=True)
    if os.geteuid() == 0:  # the folders belong to the user who runs the cluster
        shutil.chown(root, "postgres")
        for folder in (data, sockets):
            shutil.chown(folder, "postgres")
    subprocess.run(_as_owner([str(binaries() / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
                              "--encoding=UTF8", "--no-sync"]), check=True, capture_output=True, timeout=120)
    port = free_port()
    process = subprocess.Popen(_as_owner([str(binaries() / "postgres"), "-D", str(data), "-p", str(port),
                                          "-h", "127.0.0.1", "-k", str(sockets), "-c", "fsync=off"]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    cluster = Cluster(root, port, process)
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited: {process.stderr.read().decode()[-2000:]}")
        ready = subprocess.run([str(binaries() / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                               capture_output=True)
        if ready.returncode == 0:
            return cluster
        time.sleep(0.2)
    cluster.stop()
    raise RuntimeError("postgres did not accept connections within 60 s")
