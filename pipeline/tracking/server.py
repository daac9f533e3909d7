"""What ``trainlab server`` starts: MLflow's tracking server on a database, serving the artifacts it
stores, with MLflow's own logins (``--app-name basic-auth``) when it is reachable from other machines.

Logins: MLflow reads its auth settings from an ini file (``MLFLOW_AUTH_CONFIG_PATH``), which this module
writes into the server's auth folder with the users' database and the permission new users get; the
admin's password comes only from ``MLFLOW_AUTH_ADMIN_PASSWORD`` at the first start (MLflow ships no
default and refuses to create the admin without one; the file never holds it). The session secret that
MLflow's CSRF protection needs is made once and kept beside the ini, readable by its owner only, so every
worker and every restart uses the same one.
"""
from __future__ import annotations

import importlib.util
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MIN_PASSWORD = 12  # MLflow's password rule (mlflow.server.auth)
# A checked password is trusted this long per worker: MLflow's PBKDF2 check costs ~0.2 s of a core per
# request without it (a registration makes ~30); a changed password or removed user takes effect after it.
AUTH_CACHE_SECONDS = 30
DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql"}  # SQLAlchemy 2.1's default driver of each database


@dataclass(frozen=True)
class ServerSettings:
    backend_store_uri: str
    artifacts_destination: str
    host: str
    port: int
    workers: int = 1
    jobs: bool = False
    auth: bool | None = None            # None: on unless the server binds a loopback address only
    auth_dir: str = "."                 # the users' database (default), the ini and the secret
    auth_database_uri: str | None = None
    default_permission: str = "EDIT"

    @property
    def logins(self) -> bool:
        return self.auth if self.auth is not None else self.host not in LOOPBACK


def check_driver(uri: str, what: str) -> None:
    """A database URI whose driver is not installed is one line naming the extra that installs it."""
    scheme, _, driver = uri.split(":", 1)[0].partition("+")  # postgresql+psycopg2:// names its driver
    module = driver or DRIVERS.get(scheme)
    if module and importlib.util.find_spec(module) is None:
        fix = "pip install 'trainlab[postgres]'" if module == "psycopg" else f"install the {module} package"
        raise ConfigError(f"{what} {uri.split('@')[-1]}: the {scheme} driver ({module}) is not installed: {fix}")


def command(s: ServerSettings, environ: dict | None = None) -> tuple[list[str], dict]:
    """``(argv, environment)`` of the MLflow server for ``s``, its folders made and its settings checked.

    Raises:
        ConfigError: a missing driver or folder, logins off on a non-loopback address without ``auth=False``
            said outright, or a first start with logins and no admin password.
    """
    env = dict(os.environ if environ is None else environ)
    check_driver(s.backend_store_uri, "--backend-store-uri")
    if s.backend_store_uri.startswith("sqlite:///"):
        folder = Path(s.backend_store_uri[len("sqlite:///"):]).parent
        if not folder.is_dir():
            raise ConfigError(f"--backend-store-uri: folder {folder} does not exist")
    if "://" not in s.artifacts_destination:
        Path(s.artifacts_destination).mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", s.backend_store_uri,
            "--artifacts-destination", s.artifacts_destination, "--serve-artifacts",
            "--host", s.host, "--port", str(s.port), "--workers", str(s.workers)]
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")  # mlflow execs uvicorn
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "true" if s.jobs else "false"
    if s.logins:
        env.update(_auth_environment(s, env))
        argv += ["--app-name", "basic-auth"]
    return argv, env


def _auth_environment(s: ServerSettings, env: dict) -> dict:
    """The ini MLflow's auth app reads, written; the secret made once; the first start's password checked."""
    if importlib.util.find_spec("flask_wtf") is None:
        raise ConfigError("logins need MLflow's auth app (Flask-WTF): pip install 'trainlab[auth]'")
    if s.default_permission not in PERMISSIONS:
        raise ConfigError(f"--default-permission must be one of {', '.join(PERMISSIONS)}; got {s.default_permission}")
    folder = Path(s.auth_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    database = s.auth_database_uri or f"sqlite:///{folder / 'mlflow-auth.db'}"
    check_driver(database, "--auth-database-uri")
    first = database.startswith("sqlite:///") and not Path(database[len("sqlite:///"):]).exists()
    if first and not env.get("MLFLOW_AUTH_ADMIN_PASSWORD"):
        raise ConfigError("the first start with logins creates the admin user: set MLFLOW_AUTH_ADMIN_PASSWORD to its "
                          "password (MLflow has no default one; later starts do not need it)")
    if first and len(env["MLFLOW_AUTH_ADMIN_PASSWORD"]) < MIN_PASSWORD:
        raise ConfigError(f"MLFLOW_AUTH_ADMIN_PASSWORD must have at least {MIN_PASSWORD} characters (MLflow's rule)")
    ini = folder / "mlflow-auth.ini"
    ini.write_text("[mlflow]\n"
                   f"default_permission = {s.default_permission}\n"
                   f"database_uri = {database}\n"
                   f"admin_username = {env.get('MLFLOW_AUTH_ADMIN_USERNAME') or 'admin'}\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                   f"auth_cache_ttl_seconds = {AUTH_CACHE_SECONDS}\n")
    return {"MLFLOW_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": env.get("MLFLOW_FLASK_SERVER_SECRET_KEY") or _secret(folder)}


def _secret(folder: Path) -> str:
    path = folder / "mlflow-auth.secret"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()
