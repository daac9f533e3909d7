"""Errors a user can fix. The CLI prints them as one line and exits with status 2."""


def one_line(e: BaseException) -> str:
    """An error as one line of at most 300 characters (MLflow's and Keras's own messages span several)."""
    return " ".join(str(e).split())[:300]


class TrainlabError(Exception):
    """Base class: the message says what is wrong and what to do."""


class ConfigError(TrainlabError):
    """A configuration file, key or value is invalid."""


class DataError(TrainlabError):
    """A dataset is missing, corrupt or malformed."""


class TrackingError(TrainlabError):
    """The MLflow store or registry cannot do what was asked."""


class DivergedError(TrainlabError):
    """Training produced a non-finite loss."""
