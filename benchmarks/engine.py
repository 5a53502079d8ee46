"""Engine overhead, side by side with torch: a small MLP training step and a 200-op chain.

Both cases are dominated by per-op Python overhead (the arrays are small), so they measure
``Function.apply``, ``Tensor._make``, promotion and the backward walk rather than NumPy. torch
runs at its default thread count, then at one thread (its fastest setting at these sizes).

    python benchmarks/engine.py
"""

from __future__ import annotations

import numpy as np
import torch

import lossgrad
from _harness import compare


def _mlp_step(lib, seed: int = 0):  # noqa: ANN001, ANN202 - lib is either module
    """One SGD step of a 64->128->10 MLP with ReLU on a batch of 32, MSE loss."""
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal((32, 64)).astype(np.float32))
    y = lib.tensor(rng.standard_normal((32, 10)).astype(np.float32))
    model = lib.nn.Sequential(lib.nn.Linear(64, 128), lib.nn.ReLU(), lib.nn.Linear(128, 10))
    opt = lib.optim.SGD(model.parameters(), lr=1e-3)
    mse = lib.nn.functional.mse_loss

    def step() -> None:
        opt.zero_grad()
        loss = mse(model(x), y)
        loss.backward()
        opt.step()

    return step


def _chain(lib, n_ops: int = 200, size: int = 16, seed: int = 0):  # noqa: ANN001, ANN202
    """``n_ops`` small elementwise ops (mul, add, tanh, sub in turn), sum, backward."""
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal(size).astype(np.float32), requires_grad=True)
    w = lib.tensor(rng.standard_normal(size).astype(np.float32), requires_grad=True)

    def run() -> None:
        h = x
        for _i in range(n_ops // 4):
            h = h * w
            h = h + 0.5
            h = lib.tanh(h)
            h = h - x
        h.sum().backward()
        x.grad = None
        w.grad = None

    return run


def _chain_no_grad(lib, n_ops: int = 200, size: int = 16, seed: int = 0):  # noqa: ANN001, ANN202
    """The same chain without recording (forward only): the cost of one op call."""
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal(size).astype(np.float32))
    w = lib.tensor(rng.standard_normal(size).astype(np.float32))

    def run() -> None:
        with lib.no_grad():
            h = x
            for _ in range(n_ops // 4):
                h = lib.tanh(h * w + 0.5) - x

    return run


def _walk_only(lib, n_nodes: int = 200):  # noqa: ANN001, ANN202
    """Backward through ``n_nodes`` nodes whose backward returns its gradient unchanged: the
    engine's own cost per node (lossgrad: an identity ArrayFunction with an array backward, as
    built-in ops have; torch: clone)."""
    x = lib.ones(16, requires_grad=True)
    h = x
    for _ in range(n_nodes):
        h = _Identity.apply(h) if lib is lossgrad else h.clone()
    y = h.sum()

    def run() -> None:
        y.backward(retain_graph=True)

    return run


class _Identity(lossgrad.autograd.function.ArrayFunction):
    @staticmethod
    def forward(ctx, a):  # noqa: ANN001, ANN205
        return a.copy()

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001, ANN205
        return g

    @staticmethod
    def backward_array(ctx, g):  # noqa: ANN001, ANN205 - what the engine runs without create_graph
        return g


def main() -> None:
    rows = [
        ("MLP step 32x64->128->10, MSE, SGD", _mlp_step(lossgrad), _mlp_step(torch)),
        ("200-op elementwise chain + backward", _chain(lossgrad), _chain(torch)),
        ("200-op elementwise chain, no_grad", _chain_no_grad(lossgrad), _chain_no_grad(torch)),
        ("backward walk only, 200 pass-through nodes", _walk_only(lossgrad), _walk_only(torch)),
    ]
    # torch at its default thread count, then at one thread: at these sizes its intra-op pool
    # only adds synchronisation, so one thread is its fastest setting (NumPy's calls here are
    # single-threaded too). Many interleaved repeats: the per-call times are microseconds.
    default_threads = torch.get_num_threads()
    for threads in (default_threads, 1):
        torch.set_num_threads(threads)
        print(f"torch threads: {threads}")
        compare(rows, repeats=31)
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
