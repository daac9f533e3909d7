"""One installable namespace: the top-level folders install as trainlab.*, nothing generic is installed
or shadowed, and importing trainlab changes nothing global; commands start quietly."""
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import trainlab

ROOT = Path(__file__).resolve().parents[1]
TRAINLAB = str(Path(sys.executable).parent / "trainlab")  # the installed console script


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the tracked sources (the checkout itself is left untouched)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for part in ("pipeline", "models", "augment", "trainlab"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("setup.cfg", "setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, src / part)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = (tmp / "dist").glob("trainlab-*.whl")
    return path


def test_the_wheel_installs_only_the_trainlab_package_with_every_module(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"trainlab", f"trainlab-{trainlab.__version__}.dist-info"}
    # every module of the checkout, found here by walking the folders (not from setup.py's list)
    expected = {f"trainlab/{py.relative_to(ROOT / folder).as_posix()}" if folder == "trainlab"
                else f"trainlab/{folder}/{py.relative_to(ROOT / folder).as_posix()}"
                for folder in ("trainlab", "pipeline", "models", "augment") for py in (ROOT / folder).rglob("*.py")}
    assert len(expected) > 100 and not expected - names, sorted(expected - names)
    assert "trainlab/pipeline/serving/page/index.html" in names
    entry = zipfile.ZipFile(wheel).read(f"trainlab-{trainlab.__version__}.dist-info/entry_points.txt").decode()
    assert "trainlab = trainlab.pipeline.cli:main" in entry


def test_installed_wheel_imports_as_trainlab_and_offers_no_generic_names(wheel, tmp_path):
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = textwrap.dedent("""
        import importlib.util, trainlab, trainlab.pipeline.config.schema, trainlab.augment.registry
        assert trainlab.__file__.startswith(SITE), trainlab.__file__
        print([n for n in ("models", "pipeline", "augment") if importlib.util.find_spec(n) is not None])
    """).replace("SITE", repr(str(site)))
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_importing_trainlab_changes_nothing_global():
    """A notebook imports trainlab: no matplotlib backend, environment or logger changes."""
    probe = textwrap.dedent("""
        import logging, os, sys
        import keras, matplotlib, mlflow, tensorflow  # their own import-time settings are not trainlab's
        before = (dict(os.environ), logging.getLogger("mlflow").level, logging.getLogger("alembic").level,
                  matplotlib.rcParams._get("backend"))
        import trainlab.pipeline.evaluation.plots, trainlab.pipeline.tracking, trainlab.pipeline.training.stage
        import trainlab.pipeline.cli
        after = (dict(os.environ), logging.getLogger("mlflow").level, logging.getLogger("alembic").level,
                 matplotlib.rcParams._get("backend"))
        changed = {k for k in set(before[0]) | set(after[0]) if before[0].get(k) != after[0].get(k)}
        assert before[1:] == after[1:] and not changed, (before[1:], after[1:], changed)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPL")}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_figures_render_without_pyplot(tmp_path):
    from trainlab.pipeline.evaluation import plots
    fig = plots.learning_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]}, 1)
    plots.save(fig, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _tensorflow_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:5] in ("I0000", "E0000", "W0000")
            or "absl::InitializeLog" in line]


@pytest.mark.slow
def test_commands_start_without_tensorflow_start_up_lines(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TRAINLAB_VERBOSE")}
    quiet = subprocess.run([TRAINLAB, "models"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "cnn_deep" in quiet.stdout
    assert _tensorflow_lines(quiet.stdout + quiet.stderr) == []
    # The lines are TensorFlow's to print: --verbose shows them, so the quiet run above hid real lines.
    verbose = subprocess.run([TRAINLAB, "--verbose", "models"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=300)
    assert verbose.returncode == 0 and _tensorflow_lines(verbose.stderr)


@pytest.mark.slow
def test_a_wheel_install_runs_the_job_and_a_sweep_in_worker_processes_beside_a_users_decoys(wheel, tmp_path):
    """The wheel installed (not editable) runs `trainlab run`, predict and a sweep whose points run in worker
    processes; a working directory with its own models.py, augment.py and pipeline/ shadows
    nothing (python -m puts the working directory first in the workers)."""
    import tensorflow as tf
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    work = tmp_path / "work"
    decoy = "raise SystemExit('the decoy {} was imported instead of trainlab.{}')\n"
    (work / "pipeline" / "experiments").mkdir(parents=True)
    (work / "models.py").write_text(decoy.format("models.py", "models"))
    (work / "augment.py").write_text(decoy.format("augment.py", "augment"))
    (work / "pipeline" / "__init__.py").write_text(decoy.format("pipeline/", "pipeline"))
    (work / "pipeline" / "experiments" / "__init__.py").write_text(decoy.format("pipeline/experiments", "pipeline"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/decoy.db", "PYTHONPATH": str(site)}

    def trainlab_cli(*args):
        done = subprocess.run([sys.executable, "-m", "trainlab", *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=400)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        return done.stdout

    where = subprocess.run([sys.executable, "-c", "import trainlab.pipeline.cli as c; print(c.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, timeout=300)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    assert "exported to exports/trainlab-mnist/1" in trainlab_cli("run", "--preset", "smoke")
    digit = np.zeros((28, 28, 1), np.uint8)
    digit[6:22, 13:16] = 255  # a "1"
    (work / "one.png").write_bytes(tf.io.encode_png(digit).numpy())
    assert "one.png" in trainlab_cli("predict", "one.png")
    # a sweep's points run in two worker processes (python -m ... in the decoys' directory), as a study's do
    # (studies are sweeps: tests/experiments/test_studies.py runs them in-process)
    (work / "grid.yml").write_text("name: decoys\npreset: smoke\nbase: {data.limit_train: 1000}\n"
                                   "grid: {train.learning_rate: [0.001, 0.003]}\n")
    out = trainlab_cli("sweep", "grid.yml", "--workers", "2")
    assert out.count(": FINISHED in ") == 2, out
