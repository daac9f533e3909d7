"""ImageNet weights of the keras.applications backbones, in Keras's own cache: which are there, a download
checked against Keras's hash before anything is cached, and a file downloaded elsewhere placed where Keras
looks (``trainlab weights import``), so a machine without internet can start from ImageNet too.

The cache is Keras's: ``$KERAS_HOME/models``, else ``~/.keras/models`` (Keras's fallback where that is not
writable: ``/tmp/.keras/models``); a file there with the right hash is what Keras itself would load.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras

from trainlab.models.backbones import BACKBONES, weights_file

from .errors import ConfigError, DataError, one_line


def cache_dir() -> Path:
    """Where Keras keeps downloaded weights, as it decides (at this call: ``KERAS_HOME`` as set now)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    if not os.access(home, os.W_OK) and os.path.isdir(home):
        home = os.path.join(tempfile.gettempdir(), ".keras")
    return Path(home) / "models"


def digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Cached:
    backbone: str
    weights: object   # models.backbones.WeightsFile
    path: Path        # where Keras looks for it
    present: bool     # there, with the hash Keras expects


def status(backbone: str) -> Cached:
    """Whether ``backbone``'s ImageNet weights are in the cache (with the right hash) and where they go."""
    expected = weights_file(backbone)
    path = cache_dir() / expected.name
    present = path.is_file() and digest(path, expected.algorithm) == expected.file_hash
    return Cached(backbone, expected, path, present)


def fetch(backbone: str) -> Path:
    """The cached ImageNet weights of ``backbone``, downloaded first if they are not there: into a temporary
    file beside the cache, checked against Keras's hash, and only then moved into place (a failed or wrong
    download leaves nothing cached).

    Raises:
        ConfigError: the download failed (one line: which file to put where) or its hash is not Keras's.
    """
    cached = status(backbone)
    if cached.present:
        return cached.path
    expected = cached.weights
    cached.path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.path.parent, prefix=".download-") as tmp:
        try:
            got = Path(keras.utils.get_file(expected.name, expected.origin, cache_dir=tmp, cache_subdir="."))
        except Exception as e:  # Keras raises a bare Exception for a failed fetch
            raise ConfigError(f"model.pretrained: imagenet: the weights of {backbone} are not in Keras's cache and "
                              f"could not be downloaded ({one_line(e).rsplit(' -- ', 1)[-1]}); download "
                              f"{expected.origin} elsewhere and run `trainlab weights import "
                              f"{expected.name}` here (or put it into {cached.path.parent}/)") from None
        found = digest(got, expected.algorithm)
        if found != expected.file_hash:
            raise ConfigError(f"model.pretrained: imagenet: {expected.origin} sent a file whose {expected.algorithm} "
                              f"is {found}, not Keras's {expected.file_hash}: nothing cached")
        os.replace(got, cached.path)
    return cached.path


def import_file(path: Path) -> Cached:
    """Place a weights file downloaded elsewhere where Keras looks for it, if its hash is the one Keras expects
    of some backbone's ImageNet weights (copied beside the cache, then moved into place).

    Raises:
        DataError: no such file, or it is no backbone's ImageNet weights file.
    """
    if not path.is_file():
        raise DataError(f"no file {path}")
    digests: dict[str, str] = {}
    for backbone in BACKBONES:
        expected = weights_file(backbone)
        if expected.algorithm not in digests:
            digests[expected.algorithm] = digest(path, expected.algorithm)
        if digests[expected.algorithm] == expected.file_hash:
            target = cache_dir() / expected.name
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent, prefix=".import-") as tmp:
                shutil.copyfile(path, Path(tmp) / expected.name)
                os.replace(Path(tmp) / expected.name, target)
            return Cached(backbone, expected, target, True)
    raise DataError(f"{path} is not the ImageNet weights of any backbone (md5 {digests.get('md5')}): "
                    "`trainlab weights` lists the files Keras expects and where each comes from")
