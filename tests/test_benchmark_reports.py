"""The report code of the benchmarks that compare runs, on results where a run never reaches its target
(without training: the peers' result lines are written here)."""
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def time_to_accuracy(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import time_to_accuracy
    yield time_to_accuracy
    sys.modules.pop("time_to_accuracy", None)


def peer(name: str, accuracy: list[float], seconds=(2.0, 1.5, 1.6), target: float = 0.99) -> dict:
    """A peer's result line as benchmarks/peers/common.py `report` writes it."""
    reached = next((i for i, a in enumerate(accuracy) if a >= target), None)
    return {"name": name, "epoch_seconds": list(seconds), "seconds_per_epoch": sum(seconds) / len(seconds),
            "time_to_target": None if reached is None else sum(seconds[:reached + 1]),
            "epoch_to_target": None if reached is None else reached + 1, "final_accuracy": accuracy[-1]}


def test_time_to_accuracy_reports_runs_that_never_reach_the_target(time_to_accuracy):
    reaches = peer("trainlab fast (cnn) float32", [0.98, 0.991, 0.992])
    never = peer("trainlab fast (cnn) float32", [0.90, 0.95, 0.97])
    keras = peer("keras example", [0.97, 0.99, 0.991], seconds=(20.0, 20.0, 20.0))
    text = time_to_accuracy.report([42, 7], [], {"fast": []}, {"fast": [reaches, never]}, [keras])
    rows = text.splitlines()
    assert rows[3].startswith("trainlab fast (cnn) float32 seed 7"), text
    assert rows[3].split()[-4:] == ["not", "reached", "None", "0.9700"], text
    assert "fast: ratio to the Keras example per seed 0.09x, not reached measured" in text
    assert "final accuracy >= 99.1% on 1 of 2 seeds" in text
    nobody = time_to_accuracy.report([42], [], {"fast": []}, {"fast": [never]}, [peer("keras example", [0.9])])
    assert "the Keras example did not reach 99.0%" in nobody and "Keras example, median" not in nobody
