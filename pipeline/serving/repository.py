"""The models one server serves, as TF Serving's model config: names, base paths, version policies and
labels, from a folder of exports or a model config file, re-read while the server runs.

A model config file (``--model-config``) is YAML with TF Serving's fields::

    models:
      - name: trainlab-mnist
        base_path: exports/trainlab-mnist   # relative to the file
        version_policy: latest:2            # all (the default) | latest:N | specific:1,3
        labels: {stable: 1, canary: 2}      # champion follows the registry alias unless given here
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

import yaml

from ..errors import ConfigError, TrackingError, one_line
from .model import ModelVersion, ServedModel, VersionPolicy, version_folders
from .requests import RequestError

ROUTABLE = re.compile(r"[A-Za-z0-9._-]+")  # a model name or label the URL paths of both APIs can name


class ModelRepository:
    """Served models by name. :meth:`refresh` re-reads every base path (and the champion alias when
    ``champion_of`` reads it from a store); :meth:`poll` does so every few seconds in a thread."""

    def __init__(self, models: list[ServedModel], champion_of: Callable[[str], str | None] | None = None):
        if not models:
            raise TrackingError("no model to serve")
        self.models = {m.name: m for m in models}
        self.champion_of = champion_of
        if champion_of:
            self.refresh()

    @property
    def name(self) -> str:
        """The first model's name (the draw-and-predict page's)."""
        return next(iter(self.models))

    def get(self, name: str) -> ServedModel | None:
        return self.models.get(name)

    def find(self, name: str, version: str | None = None,
             label: str | None = None) -> tuple[ServedModel, str, ModelVersion]:
        """The served model ``name``, the version a request names (by number or label, else its latest) and
        that version, loaded: taken from one snapshot, so a version switch meanwhile cannot fail the request."""
        model = self.models.get(name)
        if model is None:
            raise RequestError(f"model '{name}' is not served; this server serves "
                               f"{', '.join(repr(n) for n in self.models)}", 404)
        versions, labels = model.snapshot()  # a refresh may replace them meanwhile
        if label is not None:
            if label not in labels:
                known = ", ".join(sorted(labels)) or "none"
                raise RequestError(f"model '{name}' has no label '{label}'; labels: {known}", 404)
            version = labels[label]
        if version is not None and version not in versions:
            raise RequestError(f"model '{name}' has no version {version}; versions: "
                               f"{', '.join(sorted(versions, key=int))}", 404)
        version = version or max(versions, key=int)
        return model, version, versions[version]

    def describe(self) -> str:
        return "; ".join(f"{m.name} versions {', '.join(sorted(m.versions, key=int))}"
                         + (f" (labels {', '.join(f'{k}={v}' for k, v in sorted(m.labels.items()))})"
                            if m.labels else "") for m in self.models.values())

    def refresh(self) -> list[str]:
        """Load new versions and drop gone ones in every model; one line per change."""
        changes = []
        for model in self.models.values():
            champion = None
            if self.champion_of:
                try:
                    champion = self.champion_of(model.name)
                except Exception:  # noqa: BLE001 - the store is unreachable: the exports' own metadata decides
                    champion = None
            added, removed = model.refresh(champion)
            changes += [f"{model.name}: version {v} loaded" for v in added]
            changes += [f"{model.name}: version {v} unloaded" for v in removed]
            changes += [f"{model.name}: version {v} did not load (tried again at every poll): {why}"
                        for v, why in model.new_failures.items()]
        return changes

    def poll(self, seconds: float, echo: Callable[[str], None] = lambda line: None) -> threading.Event:
        """Refresh every ``seconds`` in a daemon thread until the returned event is set."""
        stop = threading.Event()
        said: set[str] = set()

        def loop():
            while not stop.wait(seconds):
                try:
                    for line in self.refresh():
                        echo(line)
                except Exception as e:  # noqa: BLE001 - a folder or store that fails now may not later: go on
                    cause = f"version poll failed (polling goes on): {one_line(e)}"
                    if cause not in said:  # said once per cause
                        said.add(cause)
                        echo(cause)
        threading.Thread(target=loop, name="trainlab-version-poll", daemon=True).start()
        return stop


def discover(root: str | Path, policy: VersionPolicy = VersionPolicy()) -> list[ServedModel]:
    """The models under ``root``: ``root`` itself when it holds versions (or is one), else every
    subfolder that holds versions (an export folder with several model names)."""
    root = Path(root)
    if (root / "saved_model.pb").is_file() or version_folders(root):
        return [ServedModel(root, policy=policy)]
    names = sorted(p for p in root.iterdir() if version_folders(p)) if root.is_dir() else []
    if not names:
        raise TrackingError(f"no SavedModel under {root}: expected <name>/<version>/saved_model.pb "
                            "(run trainlab export)")
    return [ServedModel(p, policy=policy) for p in names]


def from_config_file(path: str | Path, policy: VersionPolicy = VersionPolicy()) -> list[ServedModel]:
    """The models a model config file names (format: this module's docstring)."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"model config {path}: {str(e).splitlines()[0]}") from None
    entries = spec.get("models") if isinstance(spec, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"model config {path}: expected a 'models' list")
    models = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"name", "base_path"} <= set(entry):
            raise ConfigError(f"model config {path}: models[{i}] needs 'name' and 'base_path'")
        unknown = set(entry) - {"name", "base_path", "version_policy", "labels"}
        if unknown:
            raise ConfigError(f"model config {path}: models[{i}] has unknown field(s) {', '.join(sorted(unknown))}")
        labels = entry.get("labels") or {}
        if not isinstance(labels, dict):
            raise ConfigError(f"model config {path}: models[{i}].labels must map label names to versions")
        for what, text in [("name", entry["name"])] + [("label", k) for k in labels]:
            if not ROUTABLE.fullmatch(str(text)):
                raise ConfigError(f"model config {path}: models[{i}] {what} {str(text)!r} cannot be named in a URL: "
                                  "use letters, digits, '.', '_' and '-' (no '/' or ':')")
        base = Path(entry["base_path"])
        base = base if base.is_absolute() else path.parent / base
        rule = VersionPolicy.parse(entry["version_policy"]) if "version_policy" in entry else policy
        models.append(ServedModel(base, name=str(entry["name"]), policy=rule, labels=labels))
    if len({m.name for m in models}) != len(models):
        raise ConfigError(f"model config {path}: a model name appears twice")
    return models
