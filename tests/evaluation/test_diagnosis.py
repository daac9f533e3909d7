import pytest

from trainlab.pipeline.evaluation.diagnosis import diagnose


def history(acc, val_acc, loss, val_loss):
    return {"accuracy": acc, "val_accuracy": val_acc, "loss": loss, "val_loss": val_loss}


@pytest.mark.parametrize("h, best, verdict", [
    # train far above validation: overfitting
    (history([0.95, 0.999], [0.94, 0.95], [0.2, 0.01], [0.25, 0.2]), 1, "overfitting"),
    # validation loss turns up while training loss falls: overfitting
    (history([0.97, 0.98, 0.985], [0.97, 0.975, 0.974], [0.1, 0.06, 0.05], [0.08, 0.07, 0.1]), 1, "overfitting"),
    # low training accuracy: underfitting
    (history([0.6, 0.7], [0.6, 0.71], [1.2, 1.0], [1.2, 1.0]), 1, "underfitting"),
    # still learning fast at the end: underfitting
    (history([0.95, 0.97], [0.95, 0.965], [0.2, 0.1], [0.2, 0.12]), 1, "underfitting"),
    # close curves, settled loss: good fit
    (history([0.98, 0.99, 0.991], [0.985, 0.989, 0.99], [0.05, 0.035, 0.034], [0.05, 0.04, 0.039]), 2, "good fit"),
    # augmentation keeps train accuracy below validation: not overfitting
    (history([0.96, 0.97, 0.971], [0.98, 0.99, 0.99], [0.1, 0.08, 0.079], [0.05, 0.03, 0.03]), 2, "good fit"),
])
def test_verdicts(h, best, verdict):
    result = diagnose(h, best)
    assert result.verdict == verdict, result.reason
    assert result.reason


@pytest.mark.parametrize("h, reason", [
    (history([0.98, 0.99, 0.991], [0.985, 0.989, 0.99], [0.05, 0.035, 0.034], [0.05, 0.04, 0.039]),
     "train accuracy above validation by 0.0010, within 0.02, losses settled"),
    (history([0.96, 0.97, 0.971], [0.98, 0.99, 0.99], [0.1, 0.08, 0.079], [0.05, 0.03, 0.03]),
     "train accuracy 0.9710 at or below validation 0.9900 (measured under augmentation and dropout), losses settled"),
    (history([0.9342], [0.9874], [0.2124], [0.0412]),
     "train accuracy 0.9342 at or below validation 0.9874 (measured under augmentation and dropout); "
     "one epoch, so no loss trend to judge"),
])
def test_good_fit_reason_says_which_side_train_accuracy_is(h, reason):
    result = diagnose(h)
    assert (result.verdict, result.reason) == ("good fit", reason)


# make run's own curves (one-cycle, 8 epochs; the last two): the training loss fell 18% over the last epoch
# because the rate annealed to nothing, while validation accuracy moved by 0.0004
MAKE_RUN_END = history([0.9912, 0.9934], [0.9940, 0.9944], [0.0345, 0.0283], [0.0214, 0.0207])


@pytest.mark.parametrize("schedule, verdict", [("one_cycle", "good fit"), ("cosine", "good fit"),
                                               ("constant", "underfitting"), ("step", "underfitting")])
def test_an_annealed_last_epoch_is_judged_on_validation(schedule, verdict):
    result = diagnose(MAKE_RUN_END, 1, schedule)
    assert result.verdict == verdict, result.reason


def test_validation_still_rising_after_annealing_is_underfitting():
    h = history([0.95, 0.97], [0.95, 0.965], [0.2, 0.1], [0.2, 0.12])
    result = diagnose(h, 1, "one_cycle")
    assert (result.verdict, result.reason) == (
        "underfitting", "validation accuracy still rose 0.0150 over the last epoch > 0.005 although the one_cycle "
                        "schedule had annealed the rate")
