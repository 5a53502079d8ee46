"""Forward+backward time of the sparse, Poly-1, label-smoothed BCE, ranking and RNN-T losses
against the libraries that define them, in one process (ratio below 1.0: lossgrad is faster).

Run: ``python benchmarks/bench_structured.py`` (``--quick``: the small cases only). References:
the entmax package, timm, segmentation_models_pytorch and Keras on its torch backend (torch's
autograd), rax under ``jax.jit`` (compiled and warmed up when the case is built, its result
waited for with ``block_until_ready``), and warprnnt-numba (compiled loops, its log-softmax in
torch). Both sides of every case run once when it is built (compilation, lazy imports and
first-touched code stay out of the timings and of the suite's memory probe).

Suite interface: ``REFERENCE`` names the reference libraries; ``rows(quick)`` gives
``(name, make)`` per case, where ``make()`` builds the inputs and returns
``(lossgrad_fn, reference_fn)``, each one forward+backward.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
import lossgrad  # noqa: E402
import lossgrad.nn.functional as F  # noqa: E402
from _harness import compare  # noqa: E402

REFERENCE = (
    "entmax 1.3, timm 1.0.31, segmentation_models_pytorch 0.6.0 (torch), "
    "Keras 3.15.1 (torch backend), rax 0.4.0 (JAX 0.10.2, jit), warprnnt-numba 0.4.1"
)

Fn = Callable[[], object]
Make = Callable[[], tuple[Fn, Fn]]


def _torch_pair(loss_lg: Any, loss_th: Any, x: np.ndarray, *rest: Any) -> tuple[Fn, Fn]:
    """One forward+backward of each side on the same inputs (the first one differentiated)."""
    ours, theirs = lossgrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    rest_lg = [lossgrad.tensor(r) for r in rest]
    rest_th = [torch.tensor(r) for r in rest]

    def run_lg() -> None:
        ours.grad = None
        loss_lg(ours, *rest_lg).backward()

    def run_th() -> None:
        theirs.grad = None
        loss_th(theirs, *rest_th).backward()

    run_lg(), run_th()  # warmed up (code paths, lazy imports, compiled kernels) like the others
    return run_lg, run_th


# -- sparse mappings and Poly-1 (torch references) ---------------------------------------------


def _entmax_losses() -> dict[str, tuple[Any, Any, str]]:
    import entmax

    from oracles import load_submodule

    timm_loss = load_submodule("timm.loss")
    return {
        "sparsemax_loss": (
            F.sparsemax_loss,
            lambda s, t: entmax.sparsemax_loss(s, t).mean(),
            "entmax",
        ),
        "entmax15_loss": (
            F.entmax15_loss,
            lambda s, t: entmax.entmax15_loss(s, t).mean(),
            "entmax",
        ),
        "entmax_bisect_loss(alpha=1.3)": (
            lambda s, t: F.entmax_bisect_loss(s, t, alpha=1.3),
            lambda s, t: entmax.entmax_bisect_loss(s, t, 1.3).mean(),
            "entmax",
        ),
        "poly1_cross_entropy": (F.poly1_cross_entropy, timm_loss.PolyCrossEntropy(), "timm"),
    }


def _classification_make(name: str, n: int, c: int) -> Make:
    def make() -> tuple[Fn, Fn]:
        ours, theirs, _ = _entmax_losses()[name]
        rng = np.random.default_rng(0)
        x = rng.normal(size=(n, c)).astype(np.float32) * 3
        y = rng.integers(0, c, n)
        return _torch_pair(ours, theirs, x, y)

    return make


def _smoothed_bce_make(shape: tuple[int, ...]) -> Make:
    """Keras's label smoothing 0.1 against smp's ``SoftBCEWithLogitsLoss(smooth_factor=0.2)``
    (smp's factor is twice Keras's: the same loss)."""

    def make() -> tuple[Fn, Fn]:
        from oracles import load_submodule

        soft_bce = load_submodule("segmentation_models_pytorch.losses.soft_bce")
        rng = np.random.default_rng(0)
        logits = rng.normal(size=shape).astype(np.float32) * 2
        target = (rng.random(shape) > 0.5).astype(np.float32)
        return _torch_pair(
            lambda x, t: F.binary_cross_entropy_with_logits(x, t, label_smoothing=0.1),
            soft_bce.SoftBCEWithLogitsLoss(smooth_factor=0.2),
            logits,
            target,
        )

    return make


def _keras_bce_make(shape: tuple[int, ...], from_logits: bool) -> Make:
    """Keras's ``BinaryCrossentropy(label_smoothing=0.1)`` on its torch backend (torch's
    autograd differentiates it) against lossgrad's ``label_smoothing=0.1``, on logits or on
    probabilities."""

    def make() -> tuple[Fn, Fn]:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras

        if keras.backend.backend() != "torch":
            raise RuntimeError(f"Keras runs on {keras.backend.backend()!r}, not torch")
        keras_loss = keras.losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=0.1)
        rng = np.random.default_rng(0)
        scores = rng.normal(size=shape).astype(np.float32) * 2
        if not from_logits:
            scores = 1 / (1 + np.exp(-scores))
        target = (rng.random(shape) > 0.5).astype(np.float32)
        ours = F.binary_cross_entropy_with_logits if from_logits else F.binary_cross_entropy
        return _torch_pair(
            lambda x, t: ours(x, t, label_smoothing=0.1),
            lambda x, t: keras_loss(t, x),
            scores,
            target,
        )

    return make


# -- ranking (rax under jax.jit) ---------------------------------------------------------------

_RANKING = {
    "softmax_ranking_loss": ("softmax_ranking_loss", "softmax_loss", True),
    "listmle_loss": ("listmle_loss", "listmle_loss", False),
    "pairwise_logistic_loss": ("pairwise_logistic_loss", "pairwise_logistic_loss", True),
    "pairwise_hinge_loss": ("pairwise_hinge_loss", "pairwise_hinge_loss", True),
}


def _ranking_make(name: str, lists: int, items: int, masked: bool) -> Make:
    """``masked``: a ``where`` mask with about 20% invalid items, and per-item weights where the
    loss takes them."""

    def make() -> tuple[Fn, Fn]:
        import jax
        import jax.numpy as jnp
        import rax

        ours_name, rax_name, takes_weights = _RANKING[name]
        ours, theirs = getattr(F, ours_name), getattr(rax, rax_name)
        rng = np.random.default_rng(0)
        scores = rng.normal(size=(lists, items)).astype(np.float32)
        labels = rng.integers(0, 4, (lists, items)).astype(np.float32)
        options: dict[str, np.ndarray] = {}
        if masked:
            options["where"] = rng.random((lists, items)) > 0.2
            if takes_weights:
                options["weights"] = rng.random((lists, items)).astype(np.float32)
        jax_options = {key: jnp.asarray(value) for key, value in options.items()}
        jax_labels, jax_scores = jnp.asarray(labels), jnp.asarray(scores)
        gradient = jax.jit(jax.value_and_grad(lambda s: theirs(s, jax_labels, **jax_options)))
        jax.block_until_ready(gradient(jax_scores))  # compiled and warmed up here

        ours_scores, ours_labels = (
            lossgrad.tensor(scores, requires_grad=True),
            lossgrad.tensor(labels),
        )
        ours_options = {key: lossgrad.tensor(value) for key, value in options.items()}

        def run_lg() -> None:
            ours_scores.grad = None
            ours(ours_scores, ours_labels, **ours_options).backward()

        def run_rax() -> None:
            jax.block_until_ready(gradient(jax_scores))

        run_lg()
        return run_lg, run_rax

    return make


# -- RNN-T (warprnnt-numba) --------------------------------------------------------------------


def _rnnt_make(batch: int, frames: int, labels: int, vocabulary: int) -> Make:
    def make() -> tuple[Fn, Fn]:
        from warprnnt_numba.rnnt_loss.rnnt_pytorch import rnnt_loss as warprnnt_loss

        rng = np.random.default_rng(0)
        logits = rng.normal(size=(batch, frames, labels + 1, vocabulary)).astype(np.float32)
        targets = rng.integers(0, vocabulary - 1, (batch, labels)).astype(np.int32)
        frame_counts = np.full(batch, frames, np.int32)
        label_counts = np.full(batch, labels, np.int32)
        run_lg, run_th = _torch_pair(
            F.rnnt_loss,
            lambda x, t, a, b: warprnnt_loss(x, t, a, b, blank=vocabulary - 1).sum(),
            logits,
            targets,
            frame_counts,
            label_counts,
        )
        return run_lg, run_th

    return make


def rows(quick: bool = False) -> list[tuple[str, Make]]:
    """``(name, make)`` per case (see the module docstring); ``quick``: the small cases only."""
    out: list[tuple[str, Make]] = []
    references = {name: ref for name, (_, _, ref) in _entmax_losses().items()}
    for n, c in ((256, 100),) if quick else ((256, 100), (1024, 1000)):
        for name, ref in references.items():
            out.append((f"{name} N={n} C={c} vs {ref}", _classification_make(name, n, c)))
    for shape in ((16, 64),) if quick else ((16, 64), (16, 1, 256, 256)):
        sizes = "x".join(map(str, shape))
        out.append((f"bce_with_logits label_smoothing {sizes} vs smp", _smoothed_bce_make(shape)))
        for name, from_logits in (("bce_with_logits", True), ("binary_cross_entropy", False)):
            out.append(
                (
                    f"{name} label_smoothing {sizes} vs Keras (torch backend)",
                    _keras_bce_make(shape, from_logits),
                )
            )
    for lists, items in ((64, 32),) if quick else ((64, 32), (512, 128), (64, 1024)):
        for name in _RANKING:
            for masked in (False, True):
                label = f"{name}{' where+weights' if masked else ''} N={lists} n={items}"
                out.append((f"{label} vs rax (jit)", _ranking_make(name, lists, items, masked)))
    for case in ((4, 50, 10, 32),) if quick else ((4, 50, 10, 32), (8, 150, 30, 64)):
        batch, frames, labels, vocabulary = case
        out.append(
            (
                f"rnnt_loss N={batch} T={frames} U={labels} C={vocabulary} vs warprnnt-numba",
                _rnnt_make(*case),
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small cases only")
    parser.add_argument("--only", help="the rows whose name contains this")
    args = parser.parse_args()
    cases = [(name, make) for name, make in rows(args.quick) if not args.only or args.only in name]
    compare([(name, *make()) for name, make in cases], repeats=5)


if __name__ == "__main__":
    main()
