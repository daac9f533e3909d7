"""The model registry: versions, and the `champion` alias that moves only to a better model, judged
on the same validation images, one decision at a time for every client of the store (:mod:`.decisions`)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Callable

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import trainlab

from ..errors import TrackingError
from . import decisions
from .decisions import decision
from .runs import CARD, run_model_uri, run_text
from .store import one_line, quiet

CHAMPION = "champion"
SELECTION_METRIC = "best_val_accuracy"  # higher is better; chosen on validation, never on test
TIE_METRIC = "best_val_loss"  # the validation loss of that epoch: of two equal accuracies, the lower wins
VALIDATION_TAG = "trainlab.validation"  # digest of the validation images and labels the metric was measured on


def outranks(accuracy: float, loss: float | None, best: float, best_loss: float | None) -> bool:
    """Whether a validation ``(accuracy, loss)`` beats the best so far: higher accuracy, or the same accuracy
    and a lower loss (an unknown loss breaks no tie). The best epoch, early stopping and the champion all
    compare this way."""
    if accuracy != best:
        return accuracy > best
    return loss is not None and best_loss is not None and loss < best_loss


def champion(name: str) -> tuple[str, str, float] | None:
    """``(version, run_id, selection metric)`` of the current champion, or None."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    metric = client.get_run(version.run_id).data.metrics.get(SELECTION_METRIC, -math.inf)
    return str(version.version), version.run_id, metric


def champion_uri(name: str) -> str:
    if champion(name) is None:
        raise TrackingError(f"registered model {name!r} has no champion yet: run trainlab train --register "
                            "(or trainlab run) first, or pass --model-uri")
    return f"models:/{name}@{CHAMPION}"


@dataclass
class Registration:
    version: str
    promoted: bool
    message: str


def register(run_id: str, name: str, rescore: Callable[[str], float] | None = None) -> Registration:
    """Register the run's model; move `champion` to it only if it beats the champion on validation.

    Scores are compared only when both runs measured them on the same validation images (their
    ``trainlab.validation`` digests agree). Otherwise the champion is re-scored on the candidate's
    validation split first: ``rescore(model_uri)`` returns that ``(accuracy, loss)`` (None: the champion stays,
    the two are not comparable). Decisions on one store are queued in the registry itself
    (:mod:`.decisions`), so clients finishing together, on any machines, get consecutive versions and the
    alias ends on the best of them.

    Raises:
        TrackingError: the run is unknown, did not finish, or logged no model/selection metric.
    """
    client = MlflowClient()
    try:
        run_info = client.get_run(run_id)
    except MlflowException:
        raise TrackingError(f"no run with id {run_id!r} in {mlflow.get_tracking_uri()}") from None
    if run_info.info.status != "FINISHED":
        raise TrackingError(f"run {run_id} is {run_info.info.status}, not FINISHED: only finished runs "
                            "are registered")
    score = run_info.data.metrics.get(SELECTION_METRIC)
    if score is None:
        raise TrackingError(f"run {run_id} has no {SELECTION_METRIC} metric: it is not a trainlab training run")
    with decision(name, run_id) as ticket:
        current = champion(name)
        version = _registered_version(name, run_id)
        if version is None:
            with quiet():
                version = str(mlflow.register_model(run_model_uri(run_id), name, tags=_version_tags(run_info)).version)
            _describe_version(name, version, run_info)
        against, how = (None, "") if current is None else _champion_score(current, run_info, name, rescore)
        mine = (score, run_info.data.metrics.get(TIE_METRIC))
        if against is not None and how and rescore and against[0] == score:  # a tie re-scored: the same measure
            mine = (score, (rescore(run_model_uri(run_id)) or (score, None))[1])
        if current is not None and (against is None or not outranks(*mine, *against)):
            why = how if against is None else f"{_shown(against, mine)}{how}"
            ticket.close(f"version {version} registered, champion stays version {current[0]}")
            return Registration(version, False, f"registered {name} version {version} ({SELECTION_METRIC} "
                                f"{score:.4f}); champion stays version {current[0]} ({why})")
        if not ticket.valid():  # a waiter may have taken this client for dead: the alias is not its to move
            return Registration(version, False, f"registered {name} version {version} ({SELECTION_METRIC} "
                                f"{score:.4f}); the decision took longer than its lease "
                                f"({decisions.lease_seconds():.0f} s): champion unchanged, register it again")
        client.set_registered_model_alias(name, CHAMPION, version)
        ticket.close(f"version {version} champion")
    was = f" (was version {current[0]}, {_shown(against, mine)}{how})" if current else ""
    return Registration(version, True, f"registered {name} version {version} as {CHAMPION} "
                        f"({SELECTION_METRIC} {score:.4f}){was}")


def _shown(score: tuple, versus: tuple) -> str:
    """The champion's accuracy, and on a tie the validation losses that broke it."""
    if score[0] != versus[0] or score[1] is None or versus[1] is None:
        return f"{score[0]:.4f}"
    return f"{score[0]:.4f}, tied: validation loss {score[1]:.4f} against this run's {versus[1]:.4f}"


def _version_tags(run) -> dict[str, str]:
    """The searchable tags a version gets from its run (set when it is registered, in the same call)."""
    tags, metrics, params = run.data.tags, run.data.metrics, run.data.params
    training = [d.dataset for d in run.inputs.dataset_inputs
                if any(t.key == "mlflow.data.context" and t.value == "training" for t in d.tags)]
    described = {"dataset": tags.get("trainlab.dataset"), "dataset_digest": training[0].digest if training else None,
                 "validation_accuracy": metrics.get(SELECTION_METRIC), "test_accuracy": metrics.get("test_accuracy"),
                 "test_macro_f1": metrics.get("test_macro_f1"), "model": tags.get("trainlab.model"),
                 "parameters": params.get("model.parameters"), "trainlab_version": trainlab.__version__,
                 "git_commit": tags.get("trainlab.git_commit"), "validation_split": tags.get(VALIDATION_TAG),
                 "pretrained": tags.get("trainlab.pretrained")}
    return {key: f"{value:.4f}" if isinstance(value, float) else str(value)
            for key, value in described.items() if value is not None}


def _describe_version(name: str, version: str, run) -> None:
    """What the registry page says about a version: the run's summary and where its card is."""
    summary = run.data.tags.get("mlflow.note.content", "")
    card = f"the model card: model_card.md in run {run.info.run_id}" if run_text(run.info.run_id, CARD) else ""
    description = " ".join(filter(None, [summary, card and f"See {card}."]))
    if description:
        MlflowClient().update_model_version(name, version, description=description)


def _champion_score(current, candidate, name: str, rescore) -> tuple[tuple | None, str]:
    """The champion's validation ``(accuracy, loss)`` on the candidate's validation images, and how it was had."""
    version, champion_run, metric = current
    mine = candidate.data.tags.get(VALIDATION_TAG)
    logged = MlflowClient().get_run(champion_run).data
    if mine and mine == logged.tags.get(VALIDATION_TAG):
        return (metric, logged.metrics.get(TIE_METRIC)), ""
    if rescore is None:
        return None, "not comparable: measured on other validation images"
    value = rescore(f"models:/{name}/{version}")
    if value is None:
        return None, "not comparable: it takes other images or classes"
    return value, ", re-scored on this run's validation images"


def _registered_version(name: str, run_id: str) -> str | None:
    """The version a run's model already has under ``name``: registering twice adds no version."""
    try:
        versions = MlflowClient().search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    except MlflowException:
        return None
    return min((str(v.version) for v in versions), key=int, default=None)


def version_of(uri: str, name: str) -> str | None:
    """The registry version a ``models:/NAME@alias`` or ``models:/NAME/V`` URI points to."""
    if not uri.startswith(f"models:/{name}"):
        return None
    rest = uri[len(f"models:/{name}"):]
    client = MlflowClient()
    try:
        if rest.startswith("@"):
            return str(client.get_model_version_by_alias(name, rest[1:]).version)
        if rest.startswith("/"):
            return str(client.get_model_version(name, rest[1:]).version)
    except MlflowException as e:
        raise TrackingError(f"cannot resolve {uri}: {one_line(e)}") from None
    return None


def class_names_of(tags: dict) -> list[str] | None:
    """A run's class names: a JSON list in its ``trainlab.class_names`` tag (runs before it was one joined
    them with commas, which cut any name holding one)."""
    text = tags.get("trainlab.class_names")
    if not text:
        return None
    try:
        names = json.loads(text)
    except ValueError:
        return text.split(",")
    return [str(n) for n in names] if isinstance(names, list) else text.split(",")


def run_id_of(uri: str) -> str | None:
    """The id of the run that logged the model at ``uri``; None for a model no run logged (a file)."""
    try:
        return mlflow.models.get_model_info(uri).run_id
    except Exception:  # MLflow raises several types for a URI it cannot resolve
        return None


def model_metadata(uri: str) -> dict:
    """What an export should carry about its source: the URI, run id, class names and normalization."""
    meta: dict = {"source_uri": uri}
    run_id = run_id_of(uri)
    try:
        run = MlflowClient().get_run(run_id)
    except Exception:
        return meta
    params, tags = run.data.params, run.data.tags
    meta.update(run_id=run_id, dataset=tags.get("trainlab.dataset"),
                class_names=class_names_of(tags),
                normalization={k.split(".", 1)[1]: params[k] for k in params if k.startswith("normalization.")},
                resize=params.get("data.resize", "squash"))
    return meta
