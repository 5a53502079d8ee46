"""The pair driver: a metric-learning loss of a batch of embeddings and their labels, computed
on one ``(N, N)`` matrix of similarities (or distances) between the normalized rows.

A loss states its math twice, in the two forms the two backward paths need:

* ``kernel(unit, pairs, *params) -> (value, unit_gradient)``, on NumPy arrays: ``unit`` holds the
  normalized embeddings, ``pairs`` the label bookkeeping (`PairLabels`). The kernel computes the
  ``(N, N)`` matrix once (`cosine_similarities`, `EuclideanDistances`), walks it in blocks of
  rows (`map_row_blocks`, label masks made per block by `same_label`), writes the loss's
  derivative by each entry into the same buffer and returns the loss and a function giving
  ∂l/∂unit from it (`similarity_gradient`, `distance_gradient`; `pair_distance_gradient` for a
  loss whose gradient lives on ``O(N)`` pairs, which keeps no ``(N, N)`` buffer at all);
* ``composite(embeddings, labels, *params)``, the loss written with lossgrad ops: the
  differentiable definition. Under ``create_graph=True`` the backward differentiates it, so
  second and higher derivatives come from autograd. It also serves dtypes other than
  float32/float64.

The driver owns the rest: the normalization ``x / max(|x|, 1e-12)`` (torch's ``F.normalize``)
and its backward, keeping the kernel's gradient until the backward, and the two paths. A loss's
peak memory is the one ``(N, N)`` buffer plus a few blocks of rows (label masks are never made
for the whole batch); its first-order backward is two matrix products with that buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lossgrad import _parallel
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops.cdist import direct_distances, euclidean_operands

NORMALIZE_EPS = 1e-12  # torch's F.normalize default
_DIRECT_ROWS = 25  # cdist's matrix-product path starts above this many rows

Kernel = Callable[..., tuple[Any, Callable[[np.ndarray], np.ndarray]]]


class PairLabels:
    """The pair structure of a batch's labels, in ``O(N + pairs)`` memory (no ``(N, N)`` mask).

    Attributes:
        labels: ``(N,)``, as given.
        class_size: ``(N,)``, how many rows share each row's label (itself included).
        anchors, positives: the positive pairs ``(i, j)`` (same label, ``i != j``) in row-major
            order, as ``np.nonzero`` of the positive mask gives them.
    """

    def __init__(self, labels: np.ndarray) -> None:
        size = labels.shape[0]
        _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        self.labels, self.class_size = labels, counts[inverse]
        members = np.argsort(inverse, kind="stable")  # each class's rows, ascending
        class_start = np.cumsum(counts) - counts
        per_row = self.class_size
        anchors = np.repeat(np.arange(size), per_row)
        offsets = np.arange(anchors.size) - np.repeat(np.cumsum(per_row) - per_row, per_row)
        partners = members[np.repeat(class_start[inverse], per_row) + offsets]
        distinct = partners != anchors
        self.anchors, self.positives = anchors[distinct], partners[distinct]

    @property
    def positives_per_row(self) -> np.ndarray:
        return self.class_size - 1

    @property
    def has_negative(self) -> np.ndarray:
        return self.class_size < self.labels.shape[0]

    def in_rows(self, start: int, stop: int) -> slice:
        """The slice of the pair arrays whose anchors lie in rows ``start:stop``."""
        lo, hi = np.searchsorted(self.anchors, (start, stop))
        return slice(int(lo), int(hi))

    def in_block(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The pairs whose anchors lie in rows ``start:stop``: their anchors as rows of that
        block (``anchor - start``) and their positives."""
        pairs = self.in_rows(start, stop)
        return self.anchors[pairs] - start, self.positives[pairs]


def same_label(pairs: PairLabels, start: int, stop: int) -> np.ndarray:
    """``labels[start:stop, None] == labels[None, :]``, a per-thread buffer."""
    labels = pairs.labels
    out = _parallel.scratch((stop - start) * labels.shape[0], np.bool_, 1)
    out = out.reshape(stop - start, labels.shape[0])
    return np.equal(labels[start:stop, None], labels[None, :], out=out)


def scratch_rows(count: int, size: int, dtype: Any, slot: int) -> np.ndarray:
    """A per-thread ``(count, size)`` buffer (contents undefined); slots from 2 (1 is
    `same_label`'s)."""
    return _parallel.scratch(count * size, dtype, slot).reshape(count, size)


def map_row_blocks(fn: Callable[[int, int], Any], size: int) -> None:
    """``fn(start, stop)`` over blocks of rows of an ``(size, size)`` matrix, over the pool."""
    _parallel.map_rows(fn, size, size)


def group_sum(values: np.ndarray, anchors: np.ndarray, size: int) -> np.ndarray:
    """``out_i = sum of values over the pairs anchored at i``, in ``values``' dtype."""
    return np.bincount(anchors, values, size).astype(values.dtype, copy=False)


def group_max(values: np.ndarray, anchors: np.ndarray, size: int, empty: float) -> np.ndarray:
    """``out_i = max of values over the pairs anchored at i`` (``empty`` for rows without);
    ``anchors`` sorted."""
    out = np.full(size, empty, values.dtype)
    if values.size:
        starts = np.flatnonzero(np.r_[True, anchors[1:] != anchors[:-1]])
        out[anchors[starts]] = np.maximum.reduceat(values, starts)
    return out


def log1p_exp(values: np.ndarray) -> np.ndarray:
    """``log(1 + e^x)`` exactly for every ``x``: ``max(x, 0) + log1p(e^{-|x|})``."""
    return np.maximum(values, 0) + np.log1p(np.exp(-np.abs(values)))


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-values))


# ------------------------------------------------------------------ the (N, N) matrix


def cosine_similarities(unit: np.ndarray) -> np.ndarray:
    """``unit @ unit.T``: the one ``(N, N)`` buffer of a cosine loss."""
    return unit @ unit.T


class EuclideanDistances:
    """Blocks of rows of ``cdist(unit, unit)`` as torch computes it: the matrix-product path
    ``sqrt(max(|u_i|^2 - 2 u_i . u_j + |u_j|^2, 0))`` for more than 25 rows, the direct
    differences below (torch's ``'use_mm_for_euclid_dist_if_necessary'``)."""

    def __init__(self, unit: np.ndarray) -> None:
        self.unit = unit
        self.direct = unit.shape[0] <= _DIRECT_ROWS
        if not self.direct:
            self.left, self.right = euclidean_operands(unit, unit)

    def rows(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Rows ``start:stop`` written into ``out`` (``(stop - start, N)``), returned."""
        if self.direct:
            out[...] = direct_distances(self.unit[start:stop], self.unit, 2.0)
            return out
        np.matmul(self.left[start:stop], self.right.T, out=out)
        return np.sqrt(np.maximum(out, 0, out=out), out=out)

    def pairs(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """The distances of the listed pairs ``(first[k], second[k])``."""
        if self.direct:
            return direct_distances(self.unit, self.unit, 2.0)[first, second]
        squared = np.einsum("ij,ij->i", self.left[first], self.right[second])
        return np.sqrt(np.maximum(squared, 0, out=squared), out=squared)


def similarity_gradient(gradient: np.ndarray, scale: float) -> Callable[..., np.ndarray]:
    """∂l/∂unit for a loss of ``S = unit unit^T`` with ``∂l/∂S = scale * gradient``."""

    def unit_gradient(unit: np.ndarray) -> np.ndarray:
        out = gradient @ unit
        out += gradient.T @ unit
        out *= scale
        return out

    return unit_gradient


def distance_gradient(ratio: np.ndarray, scale: float) -> Callable[..., np.ndarray]:
    """∂l/∂unit for a loss of the distances ``d = cdist(unit, unit)`` with
    ``(∂l/∂d) / d = scale * ratio`` (``ratio`` 0 where ``d == 0``, torch's subgradient):
    ``u_i (sum_j r_ij + sum_j r_ji) - (r u)_i - (r^T u)_i``."""

    def unit_gradient(unit: np.ndarray) -> np.ndarray:
        ones = _parallel.ones(ratio.shape[0], ratio.dtype)
        out = unit * (ratio @ ones + ones @ ratio)[:, None]
        out -= ratio @ unit
        out -= ratio.T @ unit
        out *= scale
        return out

    return unit_gradient


def pair_distance_gradient(
    first: np.ndarray, second: np.ndarray, slope: np.ndarray, distances: np.ndarray, unit: Any
) -> np.ndarray:
    """∂l/∂unit for a loss of the listed distances ``d_k = |u_first[k] - u_second[k]|`` with
    ``∂l/∂d_k = slope[k]`` (0 where ``d_k == 0``)."""
    ratio = np.divide(slope, distances, out=np.zeros_like(slope), where=distances != 0)
    step = (unit[first] - unit[second]) * ratio[:, None]
    return _sum_rows_by_index(np.concatenate([first, second]), np.concatenate([step, -step]), unit)


def _sum_rows_by_index(index: np.ndarray, rows: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``out[index[k]] += rows[k]`` into zeros like ``like``, as one flat ``np.add.at`` (which
    runs its fast loop on 1-d operands only)."""
    out = np.zeros_like(like)
    width = like.shape[1]
    flat_index = (index[:, None] * width + np.arange(width)).reshape(-1)
    np.add.at(out.reshape(-1), flat_index, rows.reshape(-1))
    return out


# ------------------------------------------------------------------------------ the op


def _normalize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x / max(|x|, eps), |x|)`` by rows."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    return x / np.maximum(norms, NORMALIZE_EPS)[:, None], norms


def _normalize_backward(grad: np.ndarray, unit: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """The gradient of ``x / max(|x|, eps)`` (torch's): ``(g - u (g . u)) / |x|`` where
    ``|x| >= eps``, ``g / eps`` below (the clamp passes no gradient to the norm)."""
    along = np.einsum("ij,ij->i", grad, unit)
    along *= norms >= NORMALIZE_EPS
    grad -= unit * along[:, None]
    grad /= np.maximum(norms, NORMALIZE_EPS)[:, None]
    return grad


class _PairLoss(ArrayFunction):
    """``apply(embeddings, kernel, composite, pairs, params)``: see the module docstring."""

    @staticmethod
    def forward(ctx: Any, embeddings: np.ndarray, *args: Any) -> np.ndarray:
        kernel, composite, pairs, params = args
        ctx.save_for_backward(embeddings)
        ctx.composite, ctx.pairs, ctx.params = composite, pairs, params
        unit, norms = _normalize(np.ascontiguousarray(embeddings))
        value, unit_gradient = kernel(unit, pairs, *params)
        ctx.kept = (unit, norms, unit_gradient)
        return np.asarray(value, embeddings.dtype)

    @staticmethod
    def backward_array(ctx: Any, upstream: np.ndarray) -> tuple[Any, ...]:
        """The first-order backward: the kernel's gradient, through the normalization."""
        ctx._saved_arrays()  # torch's errors for a freed graph or a modified input
        unit, norms, unit_gradient = ctx.kept
        if ctx.last_use:
            ctx.kept = None
        grad = _normalize_backward(unit_gradient(unit), unit, norms)
        grad *= upstream
        return (grad, None, None, None, None)

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Any, ...]:
        """The composite definition differentiated by autograd (recorded under create_graph)."""
        from lossgrad.autograd import grad

        (embeddings,) = ctx.saved_tensors
        value = ctx.composite(embeddings, ctx.pairs.labels, *ctx.params)
        (gradient,) = grad(value, embeddings, upstream, create_graph=True)
        return (gradient, None, None, None, None)


_CLASSES: dict[str, type[ArrayFunction]] = {}


def apply(
    node: str,
    embeddings: Tensor,
    pairs: PairLabels,
    kernel: Kernel,
    composite: Callable[..., Tensor],
    params: tuple[Any, ...] = (),
) -> Tensor:
    """The loss ``kernel`` / ``composite`` of ``embeddings`` ``(N, D)`` and ``pairs``, with
    ``grad_fn`` named ``node``; dtypes other than float32/float64 take the composite."""
    if embeddings._data.dtype.char not in "fd":
        return composite(embeddings, pairs.labels, *params)
    cls = _CLASSES.get(node)
    if cls is None:
        cls = _CLASSES[node] = type(f"_Pair_{node}", (_PairLoss,), {"node_name": node})
    return cls.apply(embeddings, kernel, composite, pairs, params)
