"""The model a training run logs: MLflow's Keras flavor, whose ``python_function`` flavor loads through
:mod:`trainlab.mlflow_loader` with trainlab's model code shipped beside it (``code/trainlab``), so
``mlflow models serve -m models:/NAME@champion`` serves custom layers, ensembles and calibrated models
wherever MLflow and TensorFlow are installed.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import mlflow
from mlflow.models import Model

import trainlab

LOADER = "trainlab.mlflow_loader"
CODE = "code"


def save_model(model, path: str, mlflow_model: Model | None = None, **kwargs) -> None:
    """``mlflow.keras.save_model``, then trainlab's code copied in and the pyfunc loader pointed at it
    (the ``flavor`` protocol of :meth:`mlflow.models.Model.log`)."""
    mlflow_model = mlflow_model or Model()
    mlflow.keras.save_model(model, path, mlflow_model=mlflow_model, **kwargs)
    ship_code(Path(path) / CODE)
    pyfunc = mlflow_model.flavors["python_function"]
    pyfunc.update(loader_module=LOADER, code=CODE)
    mlflow_model.save(os.path.join(path, "MLmodel"))


def ship_code(target: Path) -> None:
    """The parts of trainlab a loaded model needs: the top package and its models and augment packages."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    top = target / "trainlab"
    top.mkdir(parents=True)
    for file in Path(trainlab.__file__).parent.glob("*.py"):
        shutil.copy2(file, top / file.name)
    for package in ("trainlab.models", "trainlab.augment"):  # found, not imported: the registry needs no Keras
        folder = Path(importlib.util.find_spec(package).origin).parent
        shutil.copytree(folder, top / package.rsplit(".", 1)[1], ignore=ignore)
