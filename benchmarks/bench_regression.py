"""Forward+backward time of the regression and probability losses, lossgrad vs torch (float32).

Run: ``python benchmarks/bench_regression.py`` (optionally ``--sizes 1000``, ``--only mse``, or
``--threads 1`` to compare single-threaded on a busy machine).
Prints one row per loss and size with the ratio lossgrad/torch (below 1.0: lossgrad is faster).
``rows()`` gives the cases to ``benchmarks/suite.py``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import lossgrad  # noqa: E402
from _harness import Make, compare, made  # noqa: E402

REFERENCE = "torch"
#: Element counts of the suite's rows (``--quick``: the first only).
SIZES = (1000, 300_000, 1_000_000, 3_000_000)


def _inputs(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    c = 10
    return {
        "x": rng.standard_normal(n).astype(np.float32),
        "y": rng.standard_normal(n).astype(np.float32),
        "p": rng.uniform(0.01, 0.99, n).astype(np.float32),
        "t": rng.uniform(0.0, 1.0, n).astype(np.float32),
        "s": np.where(rng.random(n) < 0.5, -1.0, 1.0).astype(np.float32),
        "v": rng.uniform(0.1, 2.0, n).astype(np.float32),
        "k": rng.integers(0, 5, n).astype(np.float32),
        "x2": rng.standard_normal((n // c, c)).astype(np.float32),
        "t2": rng.uniform(0.0, 1.0, (n // c, c)).astype(np.float32),
    }


# name -> (first argument's key, the other arguments' keys, the call)
CASES: dict[str, tuple[str, tuple[str, ...], Callable[..., Any]]] = {
    "l1_loss": ("x", ("y",), lambda F, a, b: F.l1_loss(a, b)),
    "mse_loss": ("x", ("y",), lambda F, a, b: F.mse_loss(a, b)),
    "smooth_l1_loss": ("x", ("y",), lambda F, a, b: F.smooth_l1_loss(a, b, beta=0.5)),
    "huber_loss": ("x", ("y",), lambda F, a, b: F.huber_loss(a, b, delta=0.5)),
    "poisson_nll_loss": ("x", ("k",), lambda F, a, b: F.poisson_nll_loss(a, b)),
    "gaussian_nll_loss": ("x", ("y", "v"), lambda F, a, b, v: F.gaussian_nll_loss(a, b, v)),
    "kl_div": ("x", ("t",), lambda F, a, b: F.kl_div(a, b, reduction="batchmean")),
    "binary_cross_entropy": ("p", ("t",), lambda F, a, b: F.binary_cross_entropy(a, b)),
    "binary_cross_entropy_with_logits": (
        "x",
        ("t",),
        lambda F, a, b: F.binary_cross_entropy_with_logits(a, b),
    ),
    "soft_margin_loss": ("x", ("s",), lambda F, a, b: F.soft_margin_loss(a, b)),
    "multilabel_soft_margin_loss": (
        "x2",
        ("t2",),
        lambda F, a, b: F.multilabel_soft_margin_loss(a, b),
    ),
}


def _runner(
    lib: Any, call: Callable[..., Any], first: np.ndarray, rest: list[np.ndarray]
) -> Callable[[], None]:
    x = lib.tensor(first, requires_grad=True)
    others = [lib.tensor(r) for r in rest]
    F = lib.nn.functional

    def run() -> None:
        x.grad = None
        call(F, x, *others).backward()

    return run


def arrays_moved(name: str) -> int:
    """The roofline's count of n-element arrays of a row: every input read in the forward and
    again in the backward, the input's gradient written once."""
    return 2 * (1 + len(CASES[name.split()[0]][1])) + 1


def _make(n: int, name: str) -> Make:
    first, rest, call = CASES[name]

    def make() -> tuple[Callable[[], None], Callable[[], None]]:
        data = _inputs(n)
        args = [data[k] for k in rest]
        return _runner(lossgrad, call, data[first], args), _runner(torch, call, data[first], args)

    return make


def rows(
    quick: bool = False, sizes: tuple[int, ...] | list[int] | None = None, only: str | None = None
) -> list[tuple[str, Make]]:
    """One row per loss and size: ``(name, make)``, ``make()`` building the inputs."""
    sizes = sizes or (SIZES[:1] if quick else SIZES)
    return [
        (f"{name} n={n:.0e}", _make(n, name))
        for n in sizes
        for name in CASES
        if not only or only in name
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--only", default=None, help="run the losses whose name contains this")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch's intra-op threads (lossgrad uses one)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    compare(made(rows(sizes=args.sizes, only=args.only)), repeats=args.repeats)


if __name__ == "__main__":
    main()
