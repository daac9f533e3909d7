"""The data stage: named sources and a user's own files (sources, paths, folders, cifar, readers), the
Dataset they all return (dataset), the validation carve-out (splits) and the tf.data input (inputs).

Imports run one way: dataset <- readers, cifar, splits <- folders <- paths <- sources <- inputs.
"""
