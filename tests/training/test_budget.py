"""Training to a time budget: durations, the stretched schedule, the plan on a fast and a slowed-down
machine, a resumed run counting the time it already trained, and a whole training run."""
import keras
import numpy as np
import pytest

from trainlab.pipeline.config.sizes import parse_duration
from trainlab.pipeline.errors import ConfigError
from trainlab.pipeline.training.budget import Stretched, TimeBudget
from trainlab.pipeline.training.optim import OneCycle, WarmupCosine


@pytest.mark.parametrize("text, seconds", [("90", 90), (90, 90), ("90s", 90), ("15m", 900), ("1h30m", 5400),
                                           ("2.5m", 150), ("1h", 3600), (" 45 ", 45)])
def test_durations_read_as_people_write_them(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["x", "0", "0s", "-1", "15 m", "m", True, "1d"])
def test_a_bad_duration_is_one_clear_error(text):
    with pytest.raises(ConfigError, match="train.time_budget must be"):
        parse_duration(text)


@pytest.mark.parametrize("inner", [WarmupCosine(0.1, 100, warmup=10), OneCycle(0.1, 100)], ids=["cosine", "one_cycle"])
def test_a_stretched_schedule_reads_the_whole_schedule_over_the_planned_steps(inner):
    stretched = Stretched(inner, ratio=100 / 40)  # 40 steps instead of 100
    for step in (0, 4, 20, 39, 40):
        assert float(stretched(step)) == pytest.approx(float(inner(step * 2.5)), rel=1e-6, abs=1e-9)
    assert float(stretched(40)) == pytest.approx(float(inner(100)), abs=1e-9)  # the planned final rate
    again = Stretched.from_config(stretched.get_config())
    assert float(again(17)) == pytest.approx(float(stretched(17)))


class Work(keras.callbacks.Callback):
    """The budget's clock, counting work instead of reading the wall: every training step costs ``step``
    seconds, every validation batch a third of that (a forward pass); ``tracing``: one-time seconds before the
    first training step and the first validation batch of the first epoch. The plan is then exact."""

    def __init__(self, step: float, tracing: tuple[float, float] = (0.0, 0.0)):
        super().__init__()
        self.step, self.tracing, self.now, self.epoch = step, tracing, 0.0, 0

    def __call__(self) -> float:
        return self.now

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.now += self.tracing[0] if (self.epoch, batch) == (0, 0) else 0.0

    def on_train_batch_end(self, batch, logs=None):
        self.now += self.step

    def on_test_batch_begin(self, batch, logs=None):
        self.now += self.tracing[1] if (self.epoch, batch) == (0, 0) else 0.0

    def on_test_batch_end(self, batch, logs=None):
        self.now += self.step / 3


EPOCH = 20 + 2 / 3  # steps' worth of work in an epoch: 20 training steps and 2 validation batches


def fit_to_budget(seconds: float, work: Work, spent: float = 0.0, planned=None):
    """A tiny classifier trained to a budget of ``seconds`` of ``work``: (its budget callback, its history, the
    schedule, the optimizer)."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(640, 8)).astype("float32")
    y = keras.utils.to_categorical(np.arange(640) % 3, 3)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    schedule = Stretched(WarmupCosine(0.01, total=5 * 20))  # built for 5 epochs of 20 steps
    optimizer = keras.optimizers.SGD(schedule)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    budget = TimeBudget(seconds, nominal_epochs=5, steps_per_epoch=20, val_steps=2, schedule=schedule, spent=spent,
                        planned=planned, clock=work)
    history = model.fit(x, y, batch_size=32, validation_data=(x[:64], y[:64]), epochs=TimeBudget.MAX_EPOCHS,
                        callbacks=[work, budget], verbose=0)  # the work counted before the budget reads it
    return budget, history.history, schedule, optimizer


def test_the_budget_plans_fewer_epochs_on_a_slower_machine_and_ends_the_schedule():
    """(Whether whole runs end inside their budget is wall-clock time, measured by benchmarks/recipe_seeds.py;
    here: the plan, which the budget draws from the epochs' own times, on a clock that counts the work.)"""
    fast, fast_history, schedule, optimizer = fit_to_budget(4.0, Work(0.01))
    slow, slow_history, _, _ = fit_to_budget(4.0, Work(0.02))
    assert (fast.planned, slow.planned) == (4.0 // (EPOCH * 0.01), 4.0 // (EPOCH * 0.02)) == (19, 9)
    assert len(fast_history["loss"]) == fast.planned and len(slow_history["loss"]) == slow.planned
    assert fast_history["budget_epochs"] == [19.0] * 19  # logged each epoch
    # the optimizer stopped exactly where the schedule ends: its final rate (cosine: 0)
    assert int(optimizer.iterations) == fast.planned * 20
    assert float(schedule(optimizer.iterations)) == pytest.approx(0.0, abs=1e-7)


def test_the_first_epochs_tracing_is_not_taken_for_the_cost_of_every_epoch():
    """3 s of one-time work in the first epoch of an 8 s budget: counted as every epoch's cost it would leave
    room for one more epoch; left out, the 5 s left hold 48 epochs of 0.1 s."""
    budget, history, *_ = fit_to_budget(8.0, Work(0.005, tracing=(2.0, 1.0)))
    assert history["budget_epoch_seconds"][0] == pytest.approx(EPOCH * 0.005)  # the epoch's own steps only
    assert len(history["loss"]) == budget.planned == 1 + int((8.0 - 3.0 - EPOCH * 0.005) // (EPOCH * 0.005))


def test_a_resumed_run_counts_the_time_it_already_trained():
    fresh, *_ = fit_to_budget(3.0, Work(0.01), planned=None)
    resumed, history, *_ = fit_to_budget(3.0, Work(0.01), spent=2.5, planned=fresh.planned)
    assert fresh.planned == 14 and resumed.planned == len(history["loss"]) == int(0.5 // (EPOCH * 0.01)) == 2


def test_a_run_trains_to_its_budget_and_logs_the_plan(tmp_path):
    """The training stage with train.time_budget: the epochs come from the budget, not train.epochs."""
    import mlflow

    from tests.conftest import smoke_config
    from trainlab.pipeline.plan import resolve_plan
    from trainlab.pipeline.training.stage import train
    # short epochs (400 images): even a loaded machine fits several in 8 s (the smoke preset's 1,500 once fit one)
    cfg = smoke_config(tmp_path, **{"train.time_budget": "8s", "train.epochs": 1, "data.limit_train": 600,
                                    "data.validation_size": 200, "data.limit_test": 200})
    result = train(resolve_plan(cfg), echo=lambda _: None)
    run = mlflow.get_run(result.run_id)
    assert run.data.params["train.time_budget"] == "8s"
    planned = run.data.metrics["budget_epochs"]
    assert planned > 1 and len(result.history["loss"]) == planned  # more than train.epochs: what 8 s hold
