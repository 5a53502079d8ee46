"""Forward+backward time of the margin and embedding losses and the distances, lossgrad vs torch.

Run as a script: ``python benchmarks/bench_margin.py``. Each loss is timed at a small size
(per-call overhead decides) and large ones (memory passes decide); ratios below 1.0 mean
lossgrad is faster. ``rows()`` gives the cases to ``benchmarks/suite.py``.
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
from _harness import Make, compare, made  # noqa: E402

REFERENCE = "torch"


def _class_scores(n: int, c: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal((n, c)).astype(np.float32), rng.integers(0, c, n)]


def _label_lists(n: int, c: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.where(rng.random((n, c)) < 0.5, rng.integers(0, c, (n, c)), -1)
    t[:, 4:] = -1  # up to 4 labels per sample
    return [rng.standard_normal((n, c)).astype(np.float32), t]


def _pairs_and_signs(n: int, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(n).astype(np.float32) for _ in range(count)]
    return [*arrays, rng.choice([-1.0, 1.0], n).astype(np.float32)]


def _embeddings(n: int, d: int, count: int, signs: bool = False) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((n, d)).astype(np.float32) for _ in range(count)]
    return arrays + ([rng.choice([-1.0, 1.0], n).astype(np.float32)] if signs else [])


#: name, the call, the inputs' builder, which inputs get gradients, sizes
CASES: list[
    tuple[
        str,
        Callable[..., Any],
        Callable[..., list[np.ndarray]],
        tuple[int, ...],
        list[tuple[int, ...]],
    ]
] = [
    (
        "multi_margin p=1 N={} C={}",
        lambda F, v: F.multi_margin_loss(v[0], v[1]),
        _class_scores,
        (0,),
        [(16, 10), (4096, 1000)],
    ),
    (
        "multi_margin p=2 N={} C={}",
        lambda F, v: F.multi_margin_loss(v[0], v[1], p=2),
        _class_scores,
        (0,),
        [(16, 10), (4096, 1000)],
    ),
    (
        "multilabel_margin N={} C={}",
        lambda F, v: F.multilabel_margin_loss(v[0], v[1]),
        _label_lists,
        (0,),
        [(16, 10), (4096, 1000)],
    ),
    (
        "margin_ranking N={}",
        lambda F, v: F.margin_ranking_loss(v[0], v[1], v[2], 0.1),
        lambda n: _pairs_and_signs(n, 2),
        (0, 1),
        [(16,), (1 << 20,)],
    ),
    (
        "hinge_embedding N={}",
        lambda F, v: F.hinge_embedding_loss(v[0], v[1]),
        lambda n: _pairs_and_signs(n, 1),
        (0,),
        [(16,), (1 << 20,)],
    ),
    (
        "cosine_embedding N={} D={}",
        lambda F, v: F.cosine_embedding_loss(v[0], v[1], v[2]),
        lambda n, d: _embeddings(n, d, 2, signs=True),
        (0, 1),
        [(16, 10), (4096, 64), (4096, 256), (4096, 1024)],
    ),
    (
        "triplet_margin N={} D={}",
        lambda F, v: F.triplet_margin_loss(v[0], v[1], v[2]),
        lambda n, d: _embeddings(n, d, 3),
        (0, 1, 2),
        [(16, 10), (4096, 64), (4096, 256), (4096, 1024)],
    ),
    (
        "triplet_margin swap N={} D={}",
        lambda F, v: F.triplet_margin_loss(v[0], v[1], v[2], swap=True),
        lambda n, d: _embeddings(n, d, 3),
        (0, 1, 2),
        [(16, 10), (4096, 256)],
    ),
    (
        "triplet_with_distance N={} D={}",
        lambda F, v: F.triplet_margin_with_distance_loss(v[0], v[1], v[2]),
        lambda n, d: _embeddings(n, d, 3),
        (0, 1, 2),
        [(16, 10), (4096, 256)],
    ),
    (
        "pairwise_distance N={} D={}",
        lambda F, v: F.pairwise_distance(v[0], v[1]),
        lambda n, d: _embeddings(n, d, 2),
        (0, 1),
        [(16, 10), (4096, 64), (4096, 256), (4096, 1024)],
    ),
    (
        "pairwise_distance p=1 N={} D={}",
        lambda F, v: F.pairwise_distance(v[0], v[1], 1),
        lambda n, d: _embeddings(n, d, 2),
        (0, 1),
        [(16, 10), (4096, 256)],
    ),
    (
        "cosine_similarity N={} D={}",
        lambda F, v: F.cosine_similarity(v[0], v[1]),
        lambda n, d: _embeddings(n, d, 2),
        (0, 1),
        [(16, 10), (4096, 256)],
    ),
]


def _step(
    lib: Any, call: Callable[..., Any], arrays: list[np.ndarray], grad: tuple[int, ...]
) -> Callable[[], object]:
    xs = [lib.tensor(a, requires_grad=i in grad) for i, a in enumerate(arrays)]
    F = lib.nn.functional

    def step() -> object:
        for i in grad:
            xs[i].grad = None
        out = call(F, xs)
        (out if out.dim() == 0 else out.sum()).backward()
        return out

    return step


def _make(
    call: Callable[..., Any],
    build: Callable[..., list[np.ndarray]],
    grad: tuple[int, ...],
    size: tuple[int, ...],
) -> Make:
    def make() -> tuple[Callable[[], object], Callable[[], object]]:
        arrays = build(*size)
        return _step(lossgrad, call, arrays, grad), _step(torch, call, arrays, grad)

    return make


def rows(quick: bool = False) -> list[tuple[str, Make]]:
    """One row per loss and size: ``(name, make)``, ``make()`` building the inputs
    (``quick``: the smallest size of each loss)."""
    return [
        (name.format(*size), _make(call, build, grad, size))
        for name, call, build, grad, sizes in CASES
        for size in (sizes[:1] if quick else sizes)
    ]


if __name__ == "__main__":
    compare(made(rows()))
