"""Forward+backward time of the margin and embedding losses and the distances, lossgrad vs torch.

Run as a script: ``python benchmarks/bench_margin.py``. Each loss is timed at a small size
(per-call overhead decides) and a large one (memory passes decide); ratios below 1.0 mean
lossgrad is faster.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lossgrad  # noqa: E402
from _harness import compare  # noqa: E402

rng = np.random.default_rng(0)


def _pair(arrays: list[np.ndarray], grad: tuple[int, ...]) -> tuple[list[Any], list[Any]]:
    lg = [lossgrad.tensor(a, requires_grad=i in grad) for i, a in enumerate(arrays)]
    th = [torch.tensor(a, requires_grad=i in grad) for i, a in enumerate(arrays)]
    return lg, th


def _row(
    name: str,
    fn: Callable[[Any, list[Any]], Any],
    arrays: list[np.ndarray],
    grad: tuple[int, ...] = (0,),
) -> tuple[str, Callable[[], object], Callable[[], object]]:
    lg, th = _pair(arrays, grad)

    def run(lib: Any, xs: list[Any]) -> Callable[[], object]:
        def step() -> object:
            for i in grad:
                xs[i].grad = None
            out = fn(lib, xs)
            (out if out.dim() == 0 else out.sum()).backward()
            return out

        return step

    return name, run(lossgrad, lg), run(torch, th)


def rows() -> list[tuple[str, Callable[[], object], Callable[[], object]]]:
    out = []
    for n, c in ((16, 10), (4096, 1000)):
        x = rng.standard_normal((n, c)).astype(np.float32)
        y = rng.integers(0, c, n)
        out.append(
            _row(
                f"multi_margin p=1 N={n} C={c}",
                lambda lib, v: lib.nn.functional.multi_margin_loss(v[0], v[1]),
                [x, y],
            )
        )
        out.append(
            _row(
                f"multi_margin p=2 N={n} C={c}",
                lambda lib, v: lib.nn.functional.multi_margin_loss(v[0], v[1], p=2),
                [x, y],
            )
        )
        t = np.where(rng.random((n, c)) < 0.5, rng.integers(0, c, (n, c)), -1)
        t[:, 4:] = -1  # up to 4 labels per sample
        out.append(
            _row(
                f"multilabel_margin N={n} C={c}",
                lambda lib, v: lib.nn.functional.multilabel_margin_loss(v[0], v[1]),
                [x, t],
            )
        )
    for n in (16, 1 << 20):
        a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
        s = rng.choice([-1.0, 1.0], n).astype(np.float32)
        out.append(
            _row(
                f"margin_ranking N={n}",
                lambda lib, v: lib.nn.functional.margin_ranking_loss(v[0], v[1], v[2], 0.1),
                [a, b, s],
                (0, 1),
            )
        )
        out.append(
            _row(
                f"hinge_embedding N={n}",
                lambda lib, v: lib.nn.functional.hinge_embedding_loss(v[0], v[1]),
                [a, s],
            )
        )
    for n, d in ((16, 10), (4096, 512)):
        a, p, q = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
        s = rng.choice([-1.0, 1.0], n).astype(np.float32)
        out.append(
            _row(
                f"cosine_embedding N={n} D={d}",
                lambda lib, v: lib.nn.functional.cosine_embedding_loss(v[0], v[1], v[2]),
                [a, p, s],
                (0, 1),
            )
        )
        out.append(
            _row(
                f"triplet_margin N={n} D={d}",
                lambda lib, v: lib.nn.functional.triplet_margin_loss(v[0], v[1], v[2]),
                [a, p, q],
                (0, 1, 2),
            )
        )
        out.append(
            _row(
                f"triplet_margin swap N={n} D={d}",
                lambda lib, v: lib.nn.functional.triplet_margin_loss(v[0], v[1], v[2], swap=True),
                [a, p, q],
                (0, 1, 2),
            )
        )
        out.append(
            _row(
                f"triplet_with_distance N={n} D={d}",
                lambda lib, v: lib.nn.functional.triplet_margin_with_distance_loss(
                    v[0], v[1], v[2]
                ),
                [a, p, q],
                (0, 1, 2),
            )
        )
        out.append(
            _row(
                f"pairwise_distance N={n} D={d}",
                lambda lib, v: lib.nn.functional.pairwise_distance(v[0], v[1]),
                [a, p],
                (0, 1),
            )
        )
        out.append(
            _row(
                f"pairwise_distance p=1 N={n} D={d}",
                lambda lib, v: lib.nn.functional.pairwise_distance(v[0], v[1], 1),
                [a, p],
                (0, 1),
            )
        )
        out.append(
            _row(
                f"cosine_similarity N={n} D={d}",
                lambda lib, v: lib.nn.functional.cosine_similarity(v[0], v[1]),
                [a, p],
                (0, 1),
            )
        )
    return out


if __name__ == "__main__":
    compare(rows())
