"""The model card of a training run: what the model is for, what it was trained on and how, how good it
is (per class), how it fits, and where it will fail. Logged with every run as ``model_card.md``;
registered versions carry its summary, exports a copy."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import trainlab


def source_commit() -> str | None:
    """The git commit of trainlab's own source when it runs from a git checkout, else None."""
    try:
        done = subprocess.run(["git", "-C", str(Path(trainlab.__file__).resolve().parent), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


RESIZED = {"squash": "squashed to that shape whatever their aspect", "pad": "aspect kept, padded with black",
           "center_crop": "aspect kept, the longer side cropped about the centre"}


def _cell(text: str) -> str:
    """``text`` as one markdown table cell: pipes escaped, line breaks as spaces."""
    return " ".join(str(text).replace("|", "\\|").split())


def model_card(plan, ds, splits, report, best, fit, history: dict, summary: str) -> str:
    """The card as markdown. ``summary`` is the run's one-sentence description."""
    cfg, t = plan.config, plan.config.train
    h, w, c = ds.image_shape
    names = json.dumps(list(ds.class_names), ensure_ascii=False)  # as a list: a name may hold a comma
    table = report.per_class()
    rows = "\n".join(f"| {_cell(name)} | {table['precision'][i]:.4f} | {table['recall'][i]:.4f} | "
                     f"{table['f1'][i]:.4f} | {int(table['support'][i])} |" for i, name in enumerate(ds.class_names))
    avg = report.averages()
    ops = ", ".join(op["name"] for op in cfg.augment) if isinstance(cfg.augment, list) and cfg.augment else "none"
    options = ", ".join(f"{k}={v}" for k, v in plan.model_options.items()) or "defaults"
    subset = (f" (a subset: data.limit_train {cfg.data.limit_train})" if cfg.data.limit_train else "")
    commit = source_commit()
    return f"""# {cfg.tracking.registered_model}: {cfg.model.name} on {ds.name}

{summary}

## Intended use
Classifying {h}x{w} {'gray' if c == 1 else 'color'} images into the {ds.num_classes} classes of
{ds.name} ({names}), for learning and experimenting with how image classifiers are trained. Not
evaluated for any decision about people.

## Data
Source: `{ds.source}`. {len(splits.y_train):,} training images{subset}, {len(splits.y_val):,} validation images
(stratified, seed {t.seed}: the epoch and the registry's champion are chosen on them), {len(splits.y_test):,}
test images (reported only).

## Recipe
`{cfg.model.name}` ({plan.parameters:,} parameters; {options}); {len(history.get('loss', []))} of {t.epochs} epochs,
batch {t.batch_size}, {t.optimizer} at {plan.effective_learning_rate:g} with a {t.lr_schedule} schedule,
label smoothing {t.label_smoothing}; augmentation: {ops}; {plan.dtype_policy}. The weights are those of the best
validation epoch ({best.epoch + 1}).{_pretrained(plan)}

## Metrics
| split | accuracy | macro F1 |
|---|---|---|
| validation (selection) | {best.value:.4f} | |
| test | {report.accuracy:.4f} | {avg['macro_f1']:.4f} |

| class | precision | recall | F1 | test images |
|---|---|---|---|---|
{rows}

## Fit
{fit.verdict}: {fit.reason}.

## Known limitations
- It always answers with one of its {ds.num_classes} classes: an image unlike the training data (another
  kind of picture, other framing, colours or backgrounds) still gets a confident-looking class.
- Inputs of another size are resized to {h}x{w} ({RESIZED[cfg.data.resize]}){' and converted to gray' if c == 1 else ''}
  by the serving signatures, as the training images were, which changes what the network sees.
- One training run with one seed: another seed moves test accuracy by a few tenths of a point.
- The weakest class here: {ds.class_names[int(table['f1'].argmin())]} (F1 {table['f1'].min():.4f}).

Made by trainlab {trainlab.__version__}{f' at commit {commit[:12]}' if commit else ''}.
"""


def _pretrained(plan) -> str:
    """The recipe's sentence on a pretrained start: where from, and the fine-tuning phases."""
    if not plan.pretrained:
        return ""
    t = plan.config.train
    if t.freeze_epochs >= t.epochs:
        trained = "the head alone (a linear probe)"
    else:
        blocks = "every block" if t.unfreeze == "all" else f"the last {t.unfreeze} block(s)"
        trained = ((f"the head alone for {t.freeze_epochs} epoch(s), then " if t.freeze_epochs else "")
                   + f"{blocks} of the backbone at {t.backbone_lr_scale:g}x the rate, its batch norm "
                   + ("training" if t.backbone_bn == "train" else "frozen"))
    return f"\nStarted from {plan.pretrained.described}; trained {trained}."
