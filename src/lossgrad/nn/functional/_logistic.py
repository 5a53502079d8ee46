"""Stable logistic pieces shared by the block kernels of the logistic losses
(binary_cross_entropy_with_logits, multilabel_soft_margin_loss, soft_margin_loss,
sigmoid_focal_loss).

For a margin ``z`` the kernels compute ``u = exp(-z)`` once, clamped below overflow, and take
both the loss (``softplus(-z) = log1p(u)``) and the gradient (``sigmoid(z) = 1 / (1 + u)``) from
it. They are branch-free (``clip`` rather than ``where``/``maximum``): NumPy's ``where`` on a
data-dependent mask costs much more than a SIMD pass.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lossgrad import _parallel
from lossgrad._backend import clip as _clip
from lossgrad.nn.functional._pointwise import scratch

_EXP_MAX: dict[np.dtype, Any] = {}


def _exp_max(dtype: np.dtype) -> Any:
    """The largest integer ``T`` whose ``exp`` is finite in ``dtype`` (88 for float32)."""
    limit = _EXP_MAX.get(dtype)
    if limit is None:
        limit = _EXP_MAX[dtype] = dtype.type(math.floor(math.log(float(np.finfo(dtype).max))))
    return limit


def neg_exp_into(z: np.ndarray, u: np.ndarray, total: bool = False) -> Any:
    """``u = exp(w)``, ``w = min(-z, T)`` (`_exp_max`: never overflows), for one block;
    returns the sum of ``w`` when ``total``.

    ``u`` is ``exp(-z)`` wherever that is finite, so ``softplus(-z) = log1p(u) - z - w`` and
    ``sigmoid(z) = 1 / (1 + u)``, ``sigmoid(-z) = u / (1 + u)`` are torch's formulas; past
    ``T`` the clamp keeps them finite (``sigmoid(z)`` is then below the dtype's smallest normal).
    """
    exponent = np.negative(z, out=u)
    _clip(exponent, z.dtype.type(-np.inf), _exp_max(z.dtype), out=exponent)
    exponent_sum = _parallel.total(exponent) if total else None
    np.exp(exponent, out=exponent)
    return exponent_sum


def softplus_neg_from(z: np.ndarray, u: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = softplus(-z) = log1p(u) + max(-z - T, 0)`` for one block, ``u`` from
    `neg_exp_into` (exact at ``z = +-inf``: 0 and inf). Uses scratch slot 1."""
    excess = np.subtract(-_exp_max(z.dtype), z, out=out)
    _clip(excess, z.dtype.type(0), z.dtype.type(np.inf), out=excess)
    out += np.log1p(u, out=scratch(z, 1))
    return out


def softplus_total(
    z: np.ndarray, x: np.ndarray, y: np.ndarray, spare: np.ndarray, u: np.ndarray
) -> Any:
    """A block's fused total ``sum log1p(u) - sum w - x.y`` (``u``, ``w`` of `neg_exp_into` for
    the margin ``z``, left in ``u``; ``spare`` may be ``z``'s buffer): two dot products in
    place of four elementwise passes. None when it must be recomputed term by term: it is not
    finite (``inf - inf``), or its two subtracted sums are more than 8 times its size, so that
    their rounding would swamp it (one large, correctly classified margin cancels against the
    others: torch sums the elementwise losses, which stay exact)."""
    exponent_sum = neg_exp_into(z, u, total=True)
    linear_sum = _parallel.total(x, y)
    total = _parallel.total(np.log1p(u, out=spare)) - exponent_sum - linear_sum
    if not np.isfinite(total) or abs(exponent_sum) + abs(linear_sum) > 8 * abs(total):
        return None
    return total
