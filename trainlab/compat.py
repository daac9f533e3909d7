"""Every private API of a third-party library that trainlab relies on, in one place.

Each is used because the library has no public name for it (the versions pinned in setup.cfg); each has
a test in ``tests/test_compat.py`` that fails loudly when a version bump moves or renames it. Imports
are lazy: this module loads nothing until a function is called.
"""
from __future__ import annotations

# Keras 3 optimizers keep the EMA of the weights (``use_ema``) in this list, one entry per trainable
# variable, and update it in this hook every step; trainlab overrides the hook to warm the decay up.
KERAS_EMA_VARIABLES = "_model_variables_moving_average"
KERAS_EMA_UPDATE = "_update_model_variables_moving_average"


def ema_averages(optimizer) -> dict[int, object]:
    """``id(variable) -> its moving average`` for a Keras optimizer built with ``use_ema``."""
    return {id(v): a for v, a in zip(optimizer._trainable_variables, getattr(optimizer, KERAS_EMA_VARIABLES))}


def variable_index(optimizer, variable) -> int:
    """The position of ``variable`` (a Keras variable, or the backend's under it) among those a Keras
    optimizer was built with: how its own ``update_step`` finds the variable's slots."""
    return optimizer._get_variable_index(variable)


def op_determinism_enabled() -> bool:
    """Whether TF op determinism is on; TF 2.21 exports no public query for it."""
    from tensorflow.python.framework import config  # private: fails the call, not the import
    return config.is_op_determinism_enabled()


def disable_op_determinism() -> None:
    """Switch TF op determinism off again; TF 2.21 has no public name for the switch back."""
    from tensorflow.python.framework import config  # private: fails the call, not the import
    config.disable_op_determinism()


def numpy_reconstruct():
    """``numpy._core.multiarray._reconstruct``: what a pickled ndarray names to rebuild itself."""
    from numpy._core import multiarray  # private: fails the call, not the import
    return multiarray._reconstruct


def forget_active_run() -> None:
    """Drop MLflow's active run from its stack when ``end_run`` itself failed (the store went away):
    MLflow keeps the run active then, and the next ``start_run`` would nest under it."""
    from mlflow.tracking import fluent  # private: fails the call, not the import
    stack = fluent._active_run_stack.get()
    if stack:
        stack.pop()


def optuna_trial_id(trial) -> int:
    """The storage id of an Optuna trial: what another process needs to report to the same trial."""
    return trial._trial_id


def optuna_trial(study, trial_id: int):
    """The trial with storage id ``trial_id`` of ``study``, to report to and ask from (another process's)."""
    import optuna  # the search extra
    return optuna.trial.Trial(study, trial_id)


def keras_applications_downloader():
    """``keras.src.utils.file_utils``: the module whose ``get_file`` every keras.applications constructor calls
    (looked up there at call time) for its ImageNet weights; ``models.backbones.weights_file`` catches that call
    to learn the file, URL and hash Keras would fetch."""
    from keras.src.utils import file_utils  # private: fails the call, not the import
    return file_utils


def node_tensors(layer, kind: str):
    """The symbolic ``kind`` ("input" or "output") tensor of ``layer``'s first call in the model that holds it:
    for a nested model, the tensor in the outer graph (its own ``output`` is its inner graph's). Keras 3 keeps
    a layer's calls only in ``_inbound_nodes``."""
    node = layer._inbound_nodes[0]
    return (node.input_tensors if kind == "input" else node.output_tensors)[0]
