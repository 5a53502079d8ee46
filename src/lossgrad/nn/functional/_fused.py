"""A reduced loss as one NumPy kernel that writes its value and its gradient in one pass.

The kernel is the fast path; the loss's composite definition in lossgrad ops (its ``'none'``
path) stays the definition that a recorded backward differentiates (``create_graph=True``), so
second derivatives are those of the formula. Used by the ranking losses and Poly-1;
``fused_inputs`` is the same for a loss of several same-shaped inputs (the preference losses of
per-sequence log-probabilities).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd import grad
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _kept, _reduction


class KernelLoss(ArrayFunction):
    """A reduced loss computed by a NumPy kernel over its ``(rows, n)`` scores that also
    writes the gradient (already divided by the reduction's count) into the array it is given,
    kept for the first-order backward. The loss's composite definition (the ``'none'`` path, in
    lossgrad ops) is what a recorded backward differentiates, so second derivatives are those
    of the formula."""

    node_name = "KernelLossBackward"

    @staticmethod
    def forward(ctx: Any, scores: np.ndarray, functions: tuple[Any, Any]) -> np.ndarray:
        kernel, composite = functions  # one operand: the engine's two-operand fast path
        rows = scores
        if scores.ndim != 2 or not scores.flags.c_contiguous:
            rows = np.ascontiguousarray(scores.reshape(-1, scores.shape[-1]))
        # the gradient array itself is kept (not a view), so the engine can hand it out as .grad
        gradient = np.empty(scores.shape, scores.dtype) if ctx.needs_input_grad[0] else None
        total = kernel(rows, None if gradient is None else gradient.reshape(rows.shape))
        ctx.save_for_backward(scores)
        ctx.composite, ctx.kept = composite, gradient
        return total

    @staticmethod
    def backward_array(ctx: Any, upstream: np.ndarray) -> tuple[Any, ...]:
        gradient = _kept.take(ctx)
        return _kept.times_upstream(gradient, upstream, reduced=True), None

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Any, ...]:
        (scores,) = ctx.saved_tensors
        (gradient,) = grad(ctx.composite(scores), scores, upstream, create_graph=True)
        return gradient, None


def fused(scores: Tensor, kernel: Any, composite: Any, reduction: str) -> Tensor:
    """The reduced loss through ``kernel(rows, gradient_or_None) -> value``; ``'none'`` (and
    empty inputs) through ``composite(scores)``."""
    if reduction == "none" or scores._data.size == 0:
        return composite(scores)
    return KernelLoss.apply(scores, (kernel, composite))


class KernelLossOfInputs(ArrayFunction):
    """``KernelLoss`` of several inputs of one shape: ``kernel(*inputs) -> (losses, slopes)``
    gives the elementwise losses and, per input, their derivative by it; the forward reduces
    the losses and keeps the slopes (times the reduction's scale) of the inputs that need a
    gradient, for the first-order backward. A recorded backward differentiates
    ``composite(*inputs)``, the reduced loss in lossgrad ops."""

    node_name = "KernelLossBackward"

    @staticmethod
    def forward(ctx: Any, kernel: Any, composite: Any, reduction: str, *inputs: np.ndarray) -> Any:
        losses, slopes = kernel(*inputs)
        scale = _reduction.element_scale(reduction, losses.size)
        ctx.save_for_backward(*inputs)
        ctx.composite = composite
        ctx.kept = [
            np.multiply(slope, scale, dtype=losses.dtype) if need else None
            for slope, need in zip(slopes, ctx.needs_input_grad[3:])
        ]
        return _reduction.reduce_array(losses, reduction)

    @staticmethod
    def backward_array(ctx: Any, upstream: np.ndarray) -> tuple[Any, ...]:
        ctx._saved_arrays()  # torch's errors for a freed graph or an input modified in place
        slopes = ctx.kept if ctx.last_use else [None if s is None else s.copy() for s in ctx.kept]
        gradients = [
            None if slope is None else _kept.times_upstream(slope, upstream, reduced=True)
            for slope in slopes
        ]
        return None, None, None, *gradients

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Any, ...]:
        inputs = ctx.saved_tensors
        needs = ctx.needs_input_grad[3:]
        return (
            None,
            None,
            None,
            *_kept.definition_grads(ctx.composite(*inputs), inputs, needs, upstream),
        )


def fused_inputs(inputs: tuple[Any, ...], kernel: Any, composite: Any, reduction: str) -> Tensor:
    """The reduced loss of same-shaped floating ``inputs`` through ``kernel(*arrays) -> (losses,
    slopes)``; ``'none'``, empty inputs and inputs of mixed shapes or dtypes (broadcast,
    promoted) through ``composite(*inputs)``."""
    first = inputs[0]
    if (
        reduction == "none"
        or not all(isinstance(x, Tensor) for x in inputs)
        or first._data.size == 0
        or first._data.dtype.kind != "f"
        or any(
            x._data.shape != first._data.shape or x._data.dtype != first._data.dtype for x in inputs
        )
    ):
        return composite(*inputs)
    return KernelLossOfInputs.apply(kernel, composite, reduction, *inputs)


@functools.lru_cache(maxsize=256)
def _exponent_limit(dtype: np.dtype, n: int) -> float:
    return 0.5 * (math.log(float(np.finfo(dtype).max)) - math.log(max(n, 1)))


def needs_no_shift(scores: np.ndarray, terms: int | None = None) -> bool:
    """Whether ``exp`` of ``(rows, n)`` scores can go unshifted by each row's maximum (a row-wise
    max costs more than the whole exp pass): every score within ``±limit``, so that each
    exponential stays finite and normal and each row's sum of ``n`` of them finite. ``terms``:
    the number of exponentials in each sum when it is not the last axis's length (a softmax over
    another axis)."""
    limit = _exponent_limit(scores.dtype, scores.shape[-1] if terms is None else terms)
    if not scores.flags.c_contiguous:  # a strided view: reductions, where a flat view copies
        return bool(-limit <= scores.min() and scores.max() <= limit)  # NaN: False
    flat = scores.reshape(-1)  # the extremes by index (NaN included): faster than reductions
    return bool(-limit <= flat[flat.argmin()] and flat[flat.argmax()] <= limit)


@functools.lru_cache(maxsize=16)
def _smallest_exact_sum(dtype: np.dtype) -> float:
    info = np.finfo(dtype)
    return float(info.tiny / info.eps)


def unshifted_sums_fit(value: float, sums: np.ndarray) -> bool:
    """Whether per-row sums of exponentials of unshifted scores, and a ``value`` computed from
    their logarithms, stand as they are (the check after the pass, where `needs_no_shift` is
    the check before it): ``value`` finite (no sum overflowed to inf, no NaN) and every sum at
    least ``tiny / eps`` (none underflowed to 0, and the exponentials that fell below the normal
    range weigh less than one rounding of their row's sum)."""
    return math.isfinite(value) and bool(sums[sums.argmin()] >= _smallest_exact_sum(sums.dtype))
