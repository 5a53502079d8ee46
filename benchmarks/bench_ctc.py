"""Forward+backward time of ctc_loss, lossgrad vs torch's CPU kernel (float32).

Run: ``python benchmarks/bench_ctc.py`` (``--float64`` for double precision).
Inputs follow the tutorial: log_softmax of random logits, random labels in [1, C), full input
lengths and target lengths between S/2 and S. Prints one row per (T, N, C, S) with the ratio
lossgrad/torch (below 1.0: lossgrad is faster).
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
#: (T, N, C, S): input length, batch, classes, longest target (``--quick``: the first).
SIZES = [(50, 16, 20, 30), (200, 32, 50, 60), (500, 64, 100, 100), (1000, 16, 30, 200)]


def _case(lib: Any, lp: np.ndarray, targets: np.ndarray, tl: np.ndarray) -> Any:
    T, N, _ = lp.shape
    x = lib.tensor(lp).requires_grad_()
    tg, il, tlt = lib.tensor(targets), lib.tensor(np.full(N, T)), lib.tensor(tl)
    ctc = lib.nn.CTCLoss()

    def run() -> None:
        x.grad = None
        ctc(x, tg, il, tlt).backward()

    return run


def _make(T: int, N: int, C: int, S: int, dtype: Any) -> Make:
    def make() -> tuple[Callable[[], None], Callable[[], None]]:
        rng = np.random.default_rng(0)
        logits = rng.standard_normal((T, N, C))
        lp = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(dtype)
        targets = rng.integers(1, C, (N, S))
        tl = rng.integers(S // 2, S + 1, N)
        return _case(lossgrad, lp, targets, tl), _case(torch, lp, targets, tl)

    return make


def rows(quick: bool = False, dtype: Any = np.float32) -> list[tuple[str, Make]]:
    """One row per size: ``(name, make)``, ``make()`` building the inputs."""
    return [
        (f"ctc_loss T={T} N={N} C={C} S={S}", _make(T, N, C, S, dtype))
        for T, N, C, S in (SIZES[:1] if quick else SIZES)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--float64", action="store_true", help="time float64 instead of float32")
    args = parser.parse_args()
    compare(made(rows(dtype=np.float64 if args.float64 else np.float32)))


if __name__ == "__main__":
    main()
