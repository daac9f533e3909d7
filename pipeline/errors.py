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


def shown(name) -> str:
    """A file name as a message can print it: bytes that are not UTF-8 as ``\\xNN``, control characters
    (a newline in a name) escaped, so a hostile or foreign name never breaks or forges a line of output."""
    text = str(name).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def shown_list(names, first: int = 5) -> str:
    """The first ``first`` of ``names``, each :func:`shown`, comma-separated."""
    return ", ".join(shown(n) for n in list(names)[:first])
