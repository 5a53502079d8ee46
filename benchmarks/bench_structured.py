"""Forward+backward time of the sparse, Poly-1, ranking and RNN-T losses against the libraries
that define them, in one process (ratio below 1.0: lossgrad is faster).

Run: ``python benchmarks/bench_structured.py``. References: the entmax package and timm (torch
composites), rax under ``jax.jit`` (the gradient compiled once, outside the timing), and
warprnnt-numba (compiled loops, its log-softmax in torch). Also prints the peak memory that
lossgrad's NumPy arrays reach in each case (``tracemalloc``).
"""

from __future__ import annotations

import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import entmax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import rax  # noqa: E402
import torch  # noqa: E402
from warprnnt_numba.rnnt_loss.rnnt_pytorch import rnnt_loss as warprnnt_loss  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
import lossgrad  # noqa: E402
import lossgrad.nn.functional as F  # noqa: E402
from _harness import Row, compare  # noqa: E402
from oracles import load_submodule  # noqa: E402

rng = np.random.default_rng(0)


def _torch_pair(loss_lg: Any, loss_th: Any, x: np.ndarray, *rest: Any) -> tuple[Any, Any]:
    ours, theirs = lossgrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    rest_lg = [lossgrad.tensor(r) for r in rest]
    rest_th = [torch.tensor(r) for r in rest]

    def run_lg() -> None:
        ours.grad = None
        loss_lg(ours, *rest_lg).backward()

    def run_th() -> None:
        theirs.grad = None
        loss_th(theirs, *rest_th).backward()

    return run_lg, run_th


def _classification_rows() -> list[Row]:
    timm_loss = load_submodule("timm.loss")
    rows = []
    for n, c in ((256, 100), (1024, 1000)):
        x = rng.normal(size=(n, c)).astype(np.float32) * 3
        y = rng.integers(0, c, n)
        for name, ours, theirs in (
            ("sparsemax_loss", F.sparsemax_loss, lambda s, t: entmax.sparsemax_loss(s, t).mean()),
            ("entmax15_loss", F.entmax15_loss, lambda s, t: entmax.entmax15_loss(s, t).mean()),
            (
                "entmax_bisect_loss a=1.3",
                lambda s, t: F.entmax_bisect_loss(s, t, alpha=1.3),
                lambda s, t: entmax.entmax_bisect_loss(s, t, 1.3).mean(),
            ),
            ("poly1 (timm)", F.poly1_cross_entropy, timm_loss.PolyCrossEntropy()),
        ):
            rows.append((f"{name} N={n} C={c}", *_torch_pair(ours, theirs, x, y)))
    return rows


def _ranking_rows() -> list[Row]:
    rows = []
    for lists, items in ((64, 32), (512, 128)):
        scores = rng.normal(size=(lists, items)).astype(np.float32)
        labels = rng.integers(0, 4, (lists, items)).astype(np.float32)
        for name, ours, theirs in (
            ("softmax_ranking", F.softmax_ranking_loss, rax.softmax_loss),
            ("listmle", F.listmle_loss, rax.listmle_loss),
            ("pairwise_logistic", F.pairwise_logistic_loss, rax.pairwise_logistic_loss),
        ):
            jax_labels = jnp.asarray(labels)
            gradient = jax.jit(jax.value_and_grad(lambda s, f=theirs, y=jax_labels: f(s, y)))
            jax_scores = jnp.asarray(scores)
            ours_scores = lossgrad.tensor(scores, requires_grad=True)
            ours_labels = lossgrad.tensor(labels)

            def run_lg(fn=ours, s=ours_scores, y=ours_labels) -> None:
                s.grad = None
                fn(s, y).backward()

            def run_jax(g=gradient, s=jax_scores) -> None:
                jax.block_until_ready(g(s))

            rows.append((f"{name} lists={lists} n={items} (rax, jit)", run_lg, run_jax))
    return rows


def _rnnt_rows() -> list[Row]:
    rows = []
    for batch, frames, labels, vocabulary in ((4, 50, 10, 32), (8, 150, 30, 64)):
        logits = rng.normal(size=(batch, frames, labels + 1, vocabulary)).astype(np.float32)
        targets = rng.integers(0, vocabulary - 1, (batch, labels)).astype(np.int32)
        frame_counts = np.full(batch, frames, np.int32)
        label_counts = np.full(batch, labels, np.int32)
        run_lg, run_th = _torch_pair(
            F.rnnt_loss,
            lambda x, t, a, b, v=vocabulary: warprnnt_loss(x, t, a, b, blank=v - 1).sum(),
            logits,
            targets,
            frame_counts,
            label_counts,
        )
        rows.append((f"rnnt_loss B={batch} T={frames} U={labels} V={vocabulary}", run_lg, run_th))
    return rows


def _peak_memory(run: Any) -> float:
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    rows = _classification_rows() + _ranking_rows() + _rnnt_rows()
    compare(rows, repeats=5)
    print("\npeak memory of lossgrad's arrays per forward+backward (MiB)")
    for name, run_lg, _ in rows:
        print(f"  {name:<52} {_peak_memory(run_lg):8.2f}")


if __name__ == "__main__":
    main()
