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


@pytest.fixture
def transfer(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import transfer
    yield transfer
    sys.modules.pop("transfer", None)


def test_transfer_chooses_each_way_on_validation_and_the_target_can_be_missed(transfer):
    # per size: fine-tuned setting 0 wins on validation but setting 1 on test (the report must keep setting 0)
    results = {}
    for n, (fine_test, scratch_test) in {1: (0.60, 0.45), 10: (0.80, 0.75)}.items():
        results[(n, "fine-tuned", 0)] = [(0.9, fine_test), (0.9, fine_test)]
        results[(n, "fine-tuned", 1)] = [(0.5, 0.99), (0.5, 0.99)]
        results[(n, "scratch", 2)] = [(0.7, scratch_test), (0.7, scratch_test - 0.02)]
    text = transfer.report(results, [1, 10], 100, 2)
    assert " 1/class  fine-tuned - scratch: +16.0 points" in text and "10/class  fine-tuned - scratch: +6.0" in text
    assert "target +10 points at 10 images per class or fewer: not met (1/class +16.0, 10/class +6.0)" in text
    assert "test mean 0.9900" not in text  # chosen on validation, never on test
    results[(10, "fine-tuned", 0)] = [(0.9, 0.9), (0.9, 0.9)]
    assert "target +10 points at 10 images per class or fewer: met" in transfer.report(results, [1, 10], 100, 2)


def _trainlab_imports(source: str):
    """``(module, name)`` of every ``from trainlab... import name`` in ``source``, and in the code strings it holds
    (the scripts some benchmarks run in a child process)."""
    import ast
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a string that is not code (a docstring naming an import)
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("trainlab."):
            yield from ((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "from trainlab." in node.value:
            yield from _trainlab_imports(node.value)


@pytest.mark.parametrize("script", sorted(str(p.relative_to(BENCHMARKS)) for p in BENCHMARKS.rglob("*.py")))
def test_every_trainlab_name_a_benchmark_imports_exists(script):
    """A benchmark that runs for minutes must not fail at an import the code has moved away from (the
    determinism benchmark's child imported runtime.setup and config.schema.load_config long after both moved)."""
    import importlib.util
    missing = []
    for module, name in _trainlab_imports((BENCHMARKS / script).read_text()):
        found = importlib.import_module(module)
        if not hasattr(found, name) and importlib.util.find_spec(f"{module}.{name}") is None:
            missing.append(f"{module}.{name}")
    assert not missing, missing
