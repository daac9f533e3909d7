"""What a study is: a planned sweep over seeds, the lecture's claims checked on its results by stated rules.

A study class gives ``claims`` (its part of the catalogue: claim id -> the lecture's statement and the
quantity that settles it), ``plan(mode)`` (the sweep: base overrides, conditions, seeds, and optionally
a value tuned per condition on validation), ``findings(results)`` (one :class:`Finding` per claim) and
``figures(results)`` (the report's plots). :func:`~.runner.run_study` runs and reports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ... import tracking
from ...evaluation import plots
from ..sweeps import Comparison, Point, Row
from .rules import Stat, Verdict, fact, given, judge

MODES = ("smoke", "default", "full")
SEEDS = {"smoke": (42, 7), "default": (42, 7, 1), "full": (42, 7, 1, 2, 3)}
TUNING_SEED = 1000   # tuning runs on a seed of its own: no measured seed is the one a value was chosen on

STUDIES: dict[str, type] = {}


def register_study(cls):
    """Register a study class under its ``name``; a duplicate name is a programming error."""
    if cls.name in STUDIES:
        raise ValueError(f"study {cls.name!r} is already registered")
    STUDIES[cls.name] = cls
    return cls


@dataclass(frozen=True)
class Claim:
    statement: str      # the lecture's statement, as the study tests it
    quantity: str       # what settles it
    notes: str = ""     # the notes' own words: a key of notes.QUOTES
    setting: str = ""   # the lecture's setting, where the study's differs (said beside the one used)
    construction: str = ""  # why it holds by construction (then shown apart, not counted as evidence)


@dataclass(frozen=True)
class Tuning:
    """A config key chosen per condition on :data:`TUNING_SEED`'s validation split, then every measured
    seed runs at the chosen value. ``metric`` ranks the trials (``lower``: fewer is better; a trial
    without the metric ranks last); where the best value is at an end of the grid, the grid grows past
    that end (geometrically, ``extend`` times at most), so that a chosen value has a tried neighbour
    on each side unless ``extend`` runs out."""

    key: str
    values: tuple
    metric: str = "best_val_accuracy"
    lower: bool = False
    extend: int = 2


@dataclass
class Plan:
    """The sweep a study runs in one mode, and what the report says about its budget."""

    base: dict
    points: list[Point]           # one per condition; the runner repeats each over the seeds
    budget: str
    seeds: tuple = ()             # () -> SEEDS[mode]
    tune: Tuning | None = None
    grow: bool = True             # let a tuned grid grow past its ends (smoke mode: no)
    setting: str = ""             # generated from the resolved config, conditions and probes (setting.py)


@dataclass
class Finding:
    claim: str          # the lecture's statement
    measured: str       # the numbers behind the verdict
    verdict: str        # supported | not supported | inconclusive
    rule: str           # how the verdict follows from the numbers
    claim_id: str = ""
    statistic: str = ""  # the per-seed values the verdict was decided on
    notes: str = ""
    setting: str = ""
    quantity: str = ""
    tests: tuple = ()   # the rule's tests it was decided by (rules.Test): numbers.csv holds them
    construction: str = ""  # why it holds by construction: shown apart, not counted as evidence


# --- results ---------------------------------------------------------------------------------------

@dataclass
class Results:
    """A study's sweep read back, by condition: each seed's row, per-step series and JSON artifacts.

    ``members`` maps a condition to the labels of its rows (one per seed, at the tuned value when the
    study tunes one); ``chosen`` holds the tuned value per condition; ``measured`` holds measurements
    taken without training (``{label: {key: [values]}}``); ``base`` the config keys every run shares.
    """

    comparison: Comparison
    mode: str
    members: dict = field(default_factory=dict)
    chosen: dict = field(default_factory=dict)
    measured: dict = field(default_factory=dict)
    tried: dict = field(default_factory=dict)
    base: dict = field(default_factory=dict)   # the config keys every run shares (the study's base, the command's)
    _series: dict = field(default_factory=dict)

    @property
    def rows(self) -> list[Row]:
        return self.comparison.rows

    def seeds_of(self, label: str) -> list[Row]:
        names = self.members.get(label, [label])
        by_label = {r.label: r for r in self.rows}
        return [by_label[n] for n in names if n in by_label]

    def values(self, label: str, key: str) -> list[float]:
        """``key`` of every seed that has it (a measurement's repeats for ``measured`` labels)."""
        if key in self.measured.get(label, {}):
            return [float(v) for v in self.measured[label].get(key, []) if v is not None]
        return [v for v in (r.metric(key) for r in self.seeds_of(label)) if v is not None]

    def stat(self, label: str, key: str) -> Stat:
        """``key`` over the seeds of ``label``, each value named by its seed (the row label's ``#seed``)."""
        if key in self.measured.get(label, {}):
            return Stat.of(self.values(label, key))
        rows = self.seeds_of(label)
        return Stat.of([r.metric(key) for r in rows], [r.label.rsplit("#", 1)[-1] for r in rows])

    def metric(self, label: str, key: str) -> float | None:
        """Mean over seeds, None where no seed has it."""
        return self.stat(label, key).mean

    def bars(self, labels, key: str, ylabel: str, scale: float = 1.0, **kwargs):
        """A bar per condition: the mean over seeds, the range as an error bar."""
        stats = {label: self.stat(label, key).map(lambda v: v * scale) for label in labels}
        return plots.bars({k: s.mean for k, s in stats.items()}, ylabel, ranges={k: (s.low, s.high) for k, s in
                                                                                stats.items() if s.n > 1}, **kwargs)

    def first(self, label: str) -> Row | None:
        rows = self.seeds_of(label)
        return rows[0] if rows else None

    def series(self, label: str, key: str) -> list[tuple[int, float]]:
        """The first seed's per-step series (plots show one seed; verdicts use every seed)."""
        row = self.first(label)
        return self.series_of(row, key) if row is not None else []

    def series_of(self, row: Row, key: str) -> list[tuple[int, float]]:
        if not row.run_id:
            return []
        if (row.run_id, key) not in self._series:
            self._series[row.run_id, key] = tracking.groups.metric_history(row.run_id, key)
        return self._series[row.run_id, key]

    def artifact(self, label: str, path: str) -> dict | None:
        row = self.first(label)
        return tracking.groups.load_json(row.run_id, path) if row is not None and row.run_id else None

    def underfitting(self, *labels: str) -> tuple[int, int]:
        """``(runs trainlab's fit check calls underfitting, runs)`` among the seeds of ``labels``."""
        runs = [row for label in labels for row in self.seeds_of(label)]
        return sum(row.fit == "underfitting" for row in runs), len(runs)

    def diverged(self, label: str) -> int:
        """How many seeds of ``label`` diverged."""
        return sum(r.fit == "diverged" for r in self.seeds_of(label))


class Study:
    """Base of the registered studies: the catalogue entries and how a finding names its claim."""

    name = ""
    title = ""
    claims: dict[str, Claim] = {}
    unmeasured: dict[str, Claim] = {}   # claims of the lecture the study leaves alone; quantity: why

    def found(self, claim_id: str, measured: str, verdict: Verdict) -> Finding:
        claim = self.claims[claim_id]
        return Finding(claim.statement, measured, verdict.verdict, verdict.rule, claim_id, verdict.statistic,
                       claim.notes, claim.setting, claim.quantity, verdict.tests, claim.construction)

    def trained(self, r: Results, claim_id: str, measured: str, verdict: Verdict, *labels: str) -> Finding:
        """A finding about what training reached: judged only where trainlab's fit check calls every run of
        ``labels`` a good fit or overfitting (an underfitting run leaves it inconclusive: the budget)."""
        short, runs = r.underfitting(*labels)
        budget = judge(fact(f"runs of {', '.join(labels)} the fit check calls underfitting", short, 0))
        if short:
            measured += f"; the fit check calls {short} of these {runs} runs underfitting: inconclusive (budget)"
        return self.found(claim_id, measured, given(verdict, budget))

    def measurements(self, mode: str, overrides: dict) -> dict:
        """Measurements taken without training (timings, fresh networks): ``{label: {key: [values]}}``."""
        return {}


def small_cnn_base(train: int, val: int, epochs: int, width: int) -> dict:
    """The config base of a study that trains a small CNN without dropout and without normalization
    (BatchNorm is itself a regularizer) on ``train`` images, validated on ``val`` carved from them."""
    return {"model.name": "cnn", "model.width": width, "model.dropout": 0.0, "model.normalization": "none",
            "train.epochs": epochs,
            "train.batch_size": 64, "data.limit_train": train + val, "data.validation_size": val}


def convergence_figure(r: Results, labels) -> tuple:
    """The smoothed training accuracy per step of each condition's first seed, overlaid."""
    return ("Smoothed training accuracy per step (first seed, tuned rates)", plots.overlaid(
        {label: r.series(label, "probe.train_accuracy_ema") for label in labels}, "step", "training accuracy (EMA)"))
