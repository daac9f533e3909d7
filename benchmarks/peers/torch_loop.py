"""The same network and optimizer as the Keras example, as a plain PyTorch CPU training loop.

    pip install '.[bench]'   # torch==2.13.0
    python benchmarks/peers/torch_loop.py [--epochs 15]

Same split as the example's validation_split=0.1 (the last 10% of the training images held out,
evaluated each epoch), Adam with Keras' defaults (lr 1e-3, eps 1e-7), batch 128, shuffled.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from common import mnist, report
from torch import nn


def build() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(64 * 5 * 5, 10),
    )


@torch.no_grad()
def accuracy(model, x, y, batch=1000) -> float:
    model.eval()
    correct = sum((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item() for i in range(0, len(x), batch))
    return correct / len(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(1)
    x_train, y_train, x_test, y_test = mnist()
    to_tensor = lambda x: torch.from_numpy(x.astype(np.float32)[:, None] / 255)  # noqa: E731
    split = int(len(x_train) * 0.9)
    x, y = to_tensor(x_train[:split]), torch.from_numpy(y_train[:split]).long()
    x_val, y_val = to_tensor(x_train[split:]), torch.from_numpy(y_train[split:]).long()
    x_te, y_te = to_tensor(x_test), torch.from_numpy(y_test).long()
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    seconds, test_accuracy = [], []
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = order[i:i + 128]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x[idx]), y[idx]).backward()
            optimizer.step()
        accuracy(model, x_val, y_val)  # the validation pass the Keras example makes every epoch
        seconds.append(time.perf_counter() - start)
        test_accuracy.append(accuracy(model, x_te, y_te))
    report("pytorch loop", split, seconds, test_accuracy)


if __name__ == "__main__":
    main()
