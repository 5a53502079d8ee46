"""Engine overhead, side by side with torch: a small MLP training step, a 200-op chain, and the
loop shapes of tutorial programs (a dynamic net, a custom autograd.Function, bigram counting).

All cases are dominated by per-op Python overhead (the arrays are small), so they measure
``Function.apply``, ``Tensor._make``, promotion, indexing with Python ints, in-place ops,
``item()`` and the backward walk rather than NumPy. torch runs at its default thread count,
then at one thread (its fastest setting at these sizes).

    python benchmarks/engine.py
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import torch

import lossgrad
from _harness import Make, compare

REFERENCE = "torch"


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


def _dynamic_net(lib, seed: int = 0):  # noqa: ANN001, ANN202
    """One step of the tutorial "control flow + weight sharing" net: a polynomial of degree 3 to
    5 (drawn each step) in ``x`` of 2000 points, summed-MSE loss, SGD with momentum, and the
    ``loss.item()`` a training loop prints. The tutorial runs 30,000 of these."""
    rng = np.random.default_rng(seed)
    coefficients = rng.standard_normal(5).astype(np.float32)

    class DynamicNet(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c, self.d, self.e = (
                lib.nn.Parameter(lib.tensor(value)) for value in coefficients
            )

        def forward(self, x):  # noqa: ANN001, ANN202
            y = self.a + self.b * x + self.c * x**2 + self.d * x**3
            for exp in range(4, draws.randint(4, 6)):
                y = y + self.e * x**exp
            return y

    draws = random.Random(seed)
    x = lib.linspace(-math.pi, math.pi, 2000)
    y = lib.sin(x)
    model = DynamicNet()
    criterion = lib.nn.MSELoss(reduction="sum")
    optimizer = lib.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)

    def step() -> None:
        loss = criterion(model(x), y)
        loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def _custom_function(lib, seed: int = 0):  # noqa: ANN001, ANN202
    """One step of the tutorial "defining new autograd functions" loop: ``a + b P3(c + d x)``
    with a user-written Legendre-polynomial Function, sum-of-squares loss, and a manual SGD
    update of four scalar parameters under no_grad."""

    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):  # noqa: ANN001, ANN205
            ctx.save_for_backward(input)
            return 0.5 * (5 * input**3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):  # noqa: ANN001, ANN205
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input**2 - 1)

    x = lib.linspace(-math.pi, math.pi, 2000)
    y = lib.sin(x)
    a = lib.full((), 0.0, requires_grad=True)
    b = lib.full((), -1.0, requires_grad=True)
    c = lib.full((), 0.0, requires_grad=True)
    d = lib.full((), 0.3, requires_grad=True)
    learning_rate = 5e-6

    def step() -> None:
        y_pred = a + b * LegendrePolynomial3.apply(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with lib.no_grad():
            for parameter in (a, b, c, d):
                parameter -= learning_rate * parameter.grad
                parameter.grad = None

    return step


def _bigram_counts(lib, pairs: int = 1000, seed: int = 0):  # noqa: ANN001, ANN202
    """``N[i, j] += 1`` for ``pairs`` character pairs given as Python ints: the counting loop of a
    bigram language model (one scalar index, one in-place add per pair)."""
    rng = np.random.default_rng(seed)
    firsts = rng.integers(0, 27, pairs).tolist()
    seconds = rng.integers(0, 27, pairs).tolist()
    counts = lib.zeros((27, 27), dtype=lib.int32)

    def run() -> None:
        for first, second in zip(firsts, seconds):
            counts[first, second] += 1

    return run


def _make(step: Any) -> Make:
    return lambda: (step(lossgrad), step(torch))


def rows(quick: bool = False) -> list[tuple[str, Make]]:
    """The training rows of ``benchmarks/suite.py``: whole steps of small programs, where the
    engine's per-call cost decides."""
    return [
        ("MLP step 32x64->128->10 (MSE, SGD)", _make(_mlp_step)),
        ("dynamic net step (x of 2000, SGD momentum)", _make(_dynamic_net)),
        ("custom autograd.Function step (Legendre P3)", _make(_custom_function)),
        ("bigram counting, 1000 x N[i, j] += 1", _make(_bigram_counts)),
    ]


def main() -> None:
    rows = [
        ("MLP step 32x64->128->10, MSE, SGD", _mlp_step(lossgrad), _mlp_step(torch)),
        ("200-op elementwise chain + backward", _chain(lossgrad), _chain(torch)),
        ("200-op elementwise chain, no_grad", _chain_no_grad(lossgrad), _chain_no_grad(torch)),
        ("backward walk only, 200 pass-through nodes", _walk_only(lossgrad), _walk_only(torch)),
        ("dynamic net step (x of 2000, SGD momentum)", _dynamic_net(lossgrad), _dynamic_net(torch)),
        (
            "custom autograd.Function step (Legendre P3)",
            _custom_function(lossgrad),
            _custom_function(torch),
        ),
        ("bigram counting, 1000 x N[i, j] += 1", _bigram_counts(lossgrad), _bigram_counts(torch)),
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
