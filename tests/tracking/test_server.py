"""`trainlab server`'s settings, checked before MLflow starts: logins on a reachable address, the admin's
password only from the environment at the first start, a missing driver named by its extra; each bad one a
single line, exit 2, and nothing started."""
import stat

import pytest
from click.testing import CliRunner

from trainlab.pipeline.cli import cli
from trainlab.pipeline.errors import ConfigError
from trainlab.pipeline.tracking.server import ServerSettings, command

PASSWORD = {"MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-test-passphrase"}


def settings(tmp_path, **changes) -> ServerSettings:
    return ServerSettings(**{"backend_store_uri": f"sqlite:///{tmp_path}/m.db", "artifacts_destination":
                             str(tmp_path / "art"), "host": "127.0.0.1", "port": 5000, "auth_dir": str(tmp_path / "a"),
                             **changes})


def test_logins_are_on_for_a_reachable_address_and_write_an_ini_and_a_private_secret(tmp_path):
    argv, env = command(settings(tmp_path, host="0.0.0.0"), PASSWORD)
    assert argv[-2:] == ["--app-name", "basic-auth"] and "--serve-artifacts" in argv
    ini = (tmp_path / "a" / "mlflow-auth.ini").read_text()
    assert "default_permission = EDIT" in ini and "admin_password" not in ini
    assert PASSWORD["MLFLOW_AUTH_ADMIN_PASSWORD"] not in ini  # the password lives in the environment only
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == str(tmp_path / "a" / "mlflow-auth.ini")
    secret = tmp_path / "a" / "mlflow-auth.secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == secret.read_text()
    assert command(settings(tmp_path, host="0.0.0.0"), PASSWORD)[1]["MLFLOW_FLASK_SERVER_SECRET_KEY"] == \
        secret.read_text()  # made once: every worker and restart the same
    loopback, _ = command(settings(tmp_path), {})
    assert "--app-name" not in loopback


@pytest.mark.parametrize("changes, environ, message", [
    ({"auth": True}, {}, "first start with logins creates the admin user: set MLFLOW_AUTH_ADMIN_PASSWORD"),
    ({"auth": True}, {"MLFLOW_AUTH_ADMIN_PASSWORD": "short"}, "at least 12 characters"),
    ({"backend_store_uri": "postgresql+pg9000://u:secret@db/mlflow"}, {}, r"driver \(pg9000\) is not installed"),
    ({"backend_store_uri": "sqlite:////no/such/folder/m.db"}, {}, "folder /no/such/folder does not exist"),
])
def test_bad_settings_are_one_line_before_anything_starts(tmp_path, changes, environ, message):
    with pytest.raises(ConfigError, match=message) as caught:
        command(settings(tmp_path, **changes), environ)
    assert "secret" not in str(caught.value)  # a database password is never echoed


def test_the_command_refuses_a_first_start_without_a_password_in_one_line(tmp_path):
    done = CliRunner().invoke(cli, ["server", "--host", "0.0.0.0", "--backend-store-uri", f"sqlite:///{tmp_path}/m.db",
                                    "--auth-dir", str(tmp_path / "a")], env={"MLFLOW_AUTH_ADMIN_PASSWORD": None})
    assert done.exit_code == 2 and done.output.count("\n") == 1 and "MLFLOW_AUTH_ADMIN_PASSWORD" in done.output
