"""The ``trainlab`` command line: one thin command per stage.

Each command parses its options into config overrides, loads the one typed config and calls a
stage function. Problems a user can fix print one line and exit with status 2.
"""
from . import experiments, serving, stages, tools  # noqa: F401  (register the commands)
from .options import cli


def main():
    cli(prog_name="trainlab")


__all__ = ["cli", "main"]
