"""trainlab: train image classifiers with every technique of the "Training Neural Networks" lecture
as a switch, every run tracked in MLflow.

The repository keeps its parts as top-level folders (``pipeline/``, ``models/``, ``augment/``); they
install and import as ``trainlab.pipeline``, ``trainlab.models`` and ``trainlab.augment`` (see
``package_dir`` in setup.cfg), so no generic top-level name is ever installed or shadowed.
"""
__version__ = "0.2.0"
