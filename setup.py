"""The package list, derived: every folder with an ``__init__.py`` under a folder that setup.cfg's
``package_dir`` maps (``pipeline/`` -> ``trainlab.pipeline``, ...), so a new subpackage cannot be left out
of the wheel. Everything else about the distribution is in setup.cfg."""
import configparser
from pathlib import Path

from setuptools import setup


def mapped_packages(setup_cfg: str = "setup.cfg") -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(setup_cfg)
    packages = []
    for line in cfg["options"]["package_dir"].strip().splitlines():
        name, folder = (part.strip() for part in line.split("=", 1))
        for init in sorted(Path(folder).rglob("__init__.py")):
            packages.append(".".join([name, *init.parent.relative_to(folder).parts]))
    return packages


setup(packages=mapped_packages())
