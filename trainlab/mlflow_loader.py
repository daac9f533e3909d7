"""MLflow's ``python_function`` loader for the Keras models trainlab logs (the ``loader_module`` of their
MLmodel), so ``mlflow models serve`` and ``mlflow.pyfunc.load_model`` work for every model trainlab can
train: it imports trainlab's layers (maxout, fractional pooling, ensembles, temperature scaling, test-time
augmentation), which registers them with Keras, then loads the model as MLflow's Keras flavor does. The
logged model ships this package under ``code/`` (pipeline/tracking/logged_model.py), so it needs no
trainlab installed where it is served.
"""


def _load_pyfunc(path):
    from mlflow.keras.load import _load_pyfunc as load_keras  # MLflow's own Keras wrapper: same predictions

    import trainlab.augment  # noqa: F401  registers the test-time augmentation layer
    import trainlab.models  # noqa: F401  registers trainlab's custom layers

    return load_keras(path)
