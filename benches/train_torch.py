"""Training throughput, PyTorch (CPU) next to zelos, for the same network, data and batches.

Network 6 -> 4 x 128 -> 100 tanh, mean squared error, Adam (lr 1e-3; PyTorch's fused
implementation, its fastest on CPU), shuffled mini-batches
of 128 and 512, on 1 and 2 threads (torch.set_num_threads; zelos ``threads``). Both train on
the same float32 arrays in the same process; the numbers are training samples per second,
validation excluded (zelos reports its own; the PyTorch loop is timed around its steps,
shuffling and batch gathering included, as zelos' figure includes them).

Run (after ``maturin develop --release``; torch only for this benchmark):

    .venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    .venv/bin/python benches/train_torch.py [--points 16384] [--epochs 5] [--repeats 5]

Prints one Markdown table.
"""

import argparse
import os
import platform
import time

import numpy as np
import torch

from zelos import _zelos


def data(n, rng):
    """6 inputs in [-1, 1], 100 smooth outputs (the same map as benches/train.rs)."""
    p = rng.uniform(-1.0, 1.0, (n, 6))
    t = np.arange(100) / 100.0
    y = (
        np.sin(p[:, :1] + 0.5 * p[:, 1:2] * t) * np.exp(-t * (1.0 + 0.3 * p[:, 2:3]))
        + 0.2 * p[:, 3:4] * p[:, 4:5] * t
        + 0.1 * p[:, 5:6]
    )
    return p.astype(np.float32), y.astype(np.float32)


def torch_samples_per_second(x, y, batch, threads, epochs):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    layers, width = [], 6
    for _ in range(4):
        layers += [torch.nn.Linear(width, 128), torch.nn.Tanh()]
        width = 128
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 100))
    try:
        # The fused kernel is PyTorch's fastest Adam on CPU (~10-30% over the default here).
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    except (RuntimeError, TypeError):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    n = len(xt)

    def epoch():
        perm = torch.randperm(n)
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    epoch()  # warm-up: allocator, Adam state
    t0 = time.perf_counter()
    for _ in range(epochs):
        epoch()
    return epochs * n / (time.perf_counter() - t0)


def zelos_samples_per_second(x, y, xv, yv, batch, threads, epochs):
    config = {
        "widths": [128] * 4,
        "activation": "tanh",
        "epochs": epochs,
        "batch_size": batch,
        "lr_initial": 1e-3,
        "lr_final": 1e-3,
        "schedule": "constant",
        "patience": None,
        "seed": 1,
        "threads": threads,
    }
    return _zelos.train_mlp(x, y, xv, yv, config)["samples_per_second"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=16384)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5, help="best of this many runs per cell")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    x, y = data(args.points, rng)
    xv, yv = data(512, rng)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(
        f"6 -> 4 x 128 -> 100 tanh, {args.points} points, best of {args.repeats} runs of {args.epochs} epochs; "
        f"{cpu}, {os.cpu_count()} logical CPUs; torch {torch.__version__}\n"
    )
    print("| batch | threads | PyTorch samples/s | zelos samples/s | zelos / PyTorch |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for batch in (128, 512):
        for threads in (1, 2):
            # Alternating runs, best of each: a burst of other work on the machine then spoils
            # one run of each rather than every run of one.
            t = z = 0.0
            for _ in range(args.repeats):
                t = max(t, torch_samples_per_second(x, y, batch, threads, args.epochs))
                z = max(z, zelos_samples_per_second(x, y, xv, yv, batch, threads, args.epochs))
            print(f"| {batch} | {threads} | {t:,.0f} | {z:,.0f} | {z / t:.2f} |", flush=True)


if __name__ == "__main__":
    main()
