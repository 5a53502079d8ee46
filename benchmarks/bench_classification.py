"""Forward+backward time of the classification losses, lossgrad vs torch (float32).

Run: ``python benchmarks/bench_classification.py`` (optionally ``--only cross_entropy``).
Prints one row per case with the ratio lossgrad/torch (below 1.0: lossgrad is faster).
torch has no focal loss: its rows time the tutorial's formula composed of torch ops
(``sigmoid_focal_loss``: torchvision's formula, also composed of torch ops).
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


def _torch_focal(F: Any, x: Any, t: Any, gamma: float = 2.0) -> Any:
    ce = F.cross_entropy(x, t, reduction="none")
    return ((1 - torch.exp(-ce)) ** gamma * ce).mean()


def _torch_sigmoid_focal(F: Any, x: Any, y: Any, alpha: float = 0.25, gamma: float = 2.0) -> Any:
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    return ((alpha * y + (1 - alpha) * (1 - y)) * ce * (1 - p_t) ** gamma).mean()


def _ce(F: Any, x: Any, t: Any) -> Any:
    return F.cross_entropy(x, t)


def _ce_smooth(F: Any, x: Any, t: Any) -> Any:
    return F.cross_entropy(x, t, label_smoothing=0.1)


def _nll(F: Any, x: Any, t: Any) -> Any:
    return F.nll_loss(x, t)


def _focal(F: Any, x: Any, t: Any) -> Any:
    if F is torch.nn.functional:
        return _torch_focal(F, x, t)
    return F.focal_loss(x, t, gamma=2.0)


def _sigmoid_focal(F: Any, x: Any, y: Any) -> Any:
    if F is torch.nn.functional:
        return _torch_sigmoid_focal(F, x, y)
    return F.sigmoid_focal_loss(x, y, reduction="mean")


# name, call, shape of the logits ((N, C) or (N, C, d1, d2)), target kind ("index" or "binary")
CASES: list[tuple[str, Callable[..., Any], tuple[int, ...], str]] = [
    ("cross_entropy", _ce, (16, 10), "index"),
    ("cross_entropy", _ce, (4096, 100), "index"),
    ("cross_entropy", _ce, (4096, 1000), "index"),
    ("cross_entropy", _ce, (1024, 10000), "index"),
    ("cross_entropy", _ce, (512, 32000), "index"),
    ("cross_entropy", _ce, (16, 4, 128, 128), "index"),
    ("cross_entropy ls=0.1", _ce_smooth, (4096, 1000), "index"),
    ("nll_loss", _nll, (16, 10), "index"),
    ("nll_loss", _nll, (4096, 100), "index"),
    ("nll_loss", _nll, (4096, 1000), "index"),
    ("nll_loss", _nll, (1024, 10000), "index"),
    ("nll_loss", _nll, (16, 4, 128, 128), "index"),
    ("focal_loss", _focal, (16, 10), "index"),
    ("focal_loss", _focal, (4096, 1000), "index"),
    ("sigmoid_focal_loss", _sigmoid_focal, (16, 10), "binary"),
    ("sigmoid_focal_loss", _sigmoid_focal, (4096, 1000), "binary"),
]
#: ``--quick`` keeps the cases with at most this many logits.
QUICK = 20_000


def _runner(lib: Any, call: Callable[..., Any], x: np.ndarray, t: np.ndarray) -> Callable[[], None]:
    xt = lib.tensor(x, requires_grad=True)
    tt = lib.tensor(t)
    F = lib.nn.functional

    def run() -> None:
        xt.grad = None
        call(F, xt, tt).backward()

    return run


def _make(call: Callable[..., Any], shape: tuple[int, ...], kind: str) -> Make:
    def make() -> tuple[Callable[[], None], Callable[[], None]]:
        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape).astype(np.float32)
        if kind == "index":
            t = rng.integers(0, shape[1], (shape[0], *shape[2:])).astype(np.int64)
        else:
            t = rng.integers(0, 2, shape).astype(np.float32)
        return _runner(lossgrad, call, x, t), _runner(torch, call, x, t)

    return make


def rows(quick: bool = False, only: str | None = None) -> list[tuple[str, Make]]:
    """One row per case: ``(name, make)``, ``make()`` building the inputs."""
    return [
        (f"{name} N={shape[0]} C={shape[1]}{_spatial(shape)}", _make(call, shape, kind))
        for name, call, shape, kind in CASES
        if (not only or only in name) and (not quick or np.prod(shape) <= QUICK)
    ]


def _spatial(shape: tuple[int, ...]) -> str:
    """`` d1xd2`` for the positions of an ``(N, C, d1, d2)`` case, else nothing."""
    return " " + "x".join(map(str, shape[2:])) if len(shape) > 2 else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run only the cases whose name contains this")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: torch's own choice)",
    )
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    compare(made(rows(only=args.only)), repeats=args.repeats)


if __name__ == "__main__":
    main()
