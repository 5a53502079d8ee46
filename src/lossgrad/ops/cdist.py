"""``cdist``: p-norm distances between every row of ``x1`` and every row of ``x2`` (torch's
``torch.cdist``), the building block of the metric-learning losses.

torch has two algorithms and picks one as its ``compute_mode`` says:

* the **matrix-product path** (p = 2 only; taken by ``'use_mm_for_euclid_dist'``, and by the
  default ``'use_mm_for_euclid_dist_if_necessary'`` when either input has more than 25 rows):
  ``d_ij = sqrt(max(|x1_i|^2 - 2 x1_i . x2_j + |x2_j|^2, 0))`` through one matrix product. Its
  gradient is ``dd/dx1_i = sum_j (g_ij / d_ij) (x1_i - x2_j)`` with the ratio ``g / d`` set to 0
  where ``d == 0`` (torch's ``_euclidean_dist_backward``);
* the **direct path** (every other case): ``d_ij = (sum_k |x1_ik - x2_jk|^p)^(1/p)``, with p = 0
  counting the non-zero differences and p = inf their largest magnitude. Its gradient is torch's
  ``_cdist_backward``: with ``u = x1_i - x2_j``, ``sgn(u) |u|^(p-1) / d^(p-1)`` per pair, zero
  where ``d == 0`` (and where ``u == 0`` for p < 1), ``sgn(u)`` for p = 1, zero for p = 0, and
  ``sgn(u)`` on every entry tied for the largest ``|u|`` for p = inf.

Values and first derivatives follow torch on both paths. Second derivatives: torch supports them
on the matrix-product path only (``_cdist_backward`` raises NotImplementedError when
differentiated); lossgrad writes both backwards with differentiable ops, so they are twice
differentiable on every path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossgrad._dtype import scalar_type_name
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.ops._common import sum_to_shape
from lossgrad.ops.pointwise import abs as _abs
from lossgrad.ops.pointwise import eq, logical_or, mul, pow, sign, sub, where
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import transpose, unsqueeze

_COMPUTE_MODES = {
    "use_mm_for_euclid_dist_if_necessary": 0,
    "use_mm_for_euclid_dist": 1,
    "donot_use_mm_for_euclid_dist": 2,
}
_ROWS_PER_BLOCK_ELEMENTS = 1 << 22  # direct path: at most this many pair differences at once


def direct_distances(x1: np.ndarray, x2: np.ndarray, p: float) -> np.ndarray:
    """``(sum_k |x1_ik - x2_jk|^p)^(1/p)`` for every pair, in blocks of rows of ``x1``."""
    batch = np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    rows, cols, width = x1.shape[-2], x2.shape[-2], x1.shape[-1]
    x1 = np.broadcast_to(x1, (*batch, rows, width))
    x2 = np.broadcast_to(x2, (*batch, cols, width))
    out = np.empty((*batch, rows, cols), x1.dtype)
    step = max(1, _ROWS_PER_BLOCK_ELEMENTS // max(1, cols * width * max(1, int(np.prod(batch)))))
    for start in range(0, rows, step):
        block = slice(start, start + step)
        diff = np.abs(x1[..., block, None, :] - x2[..., None, :, :])
        if p == 0:
            dist = np.count_nonzero(diff, axis=-1).astype(x1.dtype)
        elif p == 1:
            dist = diff.sum(-1)
        elif p == 2:
            dist = np.sqrt(np.einsum("...k,...k->...", diff, diff))
        elif p == np.inf:
            dist = diff.max(-1, initial=0)
        else:
            dist = np.power(np.power(diff, p).sum(-1), 1.0 / p)
        out[..., block, :] = dist
    return out


def _pair_differences(x1: Tensor, x2: Tensor) -> Tensor:
    """``u[..., i, j, :] = x1[..., i, :] - x2[..., j, :]`` (differentiable)."""
    return sub(unsqueeze(x1, -2), unsqueeze(x2, -3))


def _direct_backward(grad: Tensor, x1: Tensor, x2: Tensor, p: float, dist: Tensor) -> Tensor:
    """torch's ``_cdist_backward`` for ``x1``, written with ops so it can be differentiated."""
    diff = _pair_differences(x1, x2)
    dist = unsqueeze(dist, -1)
    grad = unsqueeze(grad, -1)
    if p == 0:
        return mul(x1, 0.0)
    if p == 1:
        pair_grad = mul(grad, sign(diff))
    elif p == np.inf:
        pair_grad = mul(mul(grad, sign(diff)), eq(_abs(diff), dist))
    else:
        # Masked entries get a finite placeholder first, so no inf * 0 reaches the derivative.
        masked = eq(dist, 0.0)
        if p < 1:
            masked = logical_or(masked, eq(diff, 0.0))
        safe_dist = where(eq(dist, 0.0), 1.0, dist)
        if p == 2:
            ratio = diff / safe_dist
        else:
            safe_diff = where(eq(diff, 0.0), 1.0, diff) if p < 2 else diff
            ratio = sign(diff) * pow(_abs(safe_diff), p - 1) / pow(safe_dist, p - 1)
        pair_grad = where(masked, 0.0, mul(grad, ratio))
    return _sum(pair_grad, -2)


def _euclidean_backward(grad: Tensor, x1: Tensor, x2: Tensor, dist: Tensor) -> Tensor:
    """torch's ``_euclidean_dist_backward`` for ``x1``: ``x1 * sum_j r_ij - r @ x2`` with
    ``r = g / d`` (0 where ``d == 0``)."""
    ratio = where(eq(dist, 0.0), 0.0, grad / where(eq(dist, 0.0), 1.0, dist))
    return x1 * _sum(ratio, -1, keepdim=True) - ratio @ x2


def euclidean_operands(x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """torch's operands of the matrix-product path: ``[-2 x1, |x1|^2, 1]`` and
    ``[x2, 1, |x2|^2]``, whose product (``left @ right^T``) is the squared distances."""
    ones1 = np.ones((*x1.shape[:-1], 1), x1.dtype)
    ones2 = np.ones((*x2.shape[:-1], 1), x2.dtype)
    sq1 = np.einsum("...k,...k->...", x1, x1)[..., None]
    sq2 = np.einsum("...k,...k->...", x2, x2)[..., None]
    return np.concatenate([-2 * x1, sq1, ones1], -1), np.concatenate([x2, ones2, sq2], -1)


class _Cdist(ArrayFunction):
    """All-pairs distances; ``use_mm`` picks torch's matrix-product path (p = 2)."""

    node_name = "CdistBackward0"

    @staticmethod
    def forward(ctx: Any, x1: np.ndarray, x2: np.ndarray, cfg: tuple[float, bool]) -> np.ndarray:
        p, use_mm = cfg
        ctx.cfg = cfg
        if use_mm:
            left, right = euclidean_operands(x1, x2)
            squared = np.matmul(left, np.swapaxes(right, -1, -2))
            dist = np.sqrt(np.maximum(squared, 0, out=squared), out=squared)
        else:
            dist = direct_distances(x1, x2, p)
        ctx.save_for_backward(x1, x2, dist)
        return dist

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        x1, x2, dist = ctx.saved_tensors
        p, use_mm = ctx.cfg
        grad_t, dist_t = transpose(grad, -1, -2), transpose(dist, -1, -2)
        grad1 = grad2 = None
        if use_mm:
            if ctx.needs_input_grad[0]:
                grad1 = _euclidean_backward(grad, x1, x2, dist)
            if ctx.needs_input_grad[1]:
                grad2 = _euclidean_backward(grad_t, x2, x1, dist_t)
        else:
            if ctx.needs_input_grad[0]:
                grad1 = _direct_backward(grad, x1, x2, p, dist)
            if ctx.needs_input_grad[1]:
                grad2 = _direct_backward(grad_t, x2, x1, p, dist_t)
        if grad1 is not None:
            grad1 = sum_to_shape(grad1, x1.shape)
        if grad2 is not None:
            grad2 = sum_to_shape(grad2, x2.shape)
        return grad1, grad2, None


def _check_inputs(x1: Tensor, x2: Tensor, p: float) -> None:
    for name, x in (("X1", x1), ("X2", x2)):
        if x.dim() < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {x.dim()}D")
    for name, x in (("X1", x1), ("X2", x2)):
        if x._data.dtype.kind != "f":
            raise RuntimeError(
                f"cdist only supports floating-point dtypes, {name} got: "
                f"{scalar_type_name(x._data.dtype)}"
            )
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(
            f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}"
        )
    if x1._data.dtype != x2._data.dtype:
        raise RuntimeError(
            f"expected scalar type {scalar_type_name(x1._data.dtype)} but found "
            f"{scalar_type_name(x2._data.dtype)}"
        )
    if not p >= 0:
        raise RuntimeError("cdist only supports non-negative p values")


def cdist(
    x1: Tensor,
    x2: Tensor,
    p: float = 2.0,
    compute_mode: str = "use_mm_for_euclid_dist_if_necessary",
) -> Tensor:
    """p-norm distance between each row of ``x1`` and each row of ``x2`` (``torch.cdist``).

    Formula: ``d[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p``; p = 0 counts the non-zero
    differences, p = inf takes the largest. For p = 2 torch computes it through one matrix
    product, ``sqrt(max(|x1_i|^2 - 2 x1_i . x2_j + |x2_j|^2, 0))``, when ``compute_mode`` is
    ``'use_mm_for_euclid_dist'``, or ``'use_mm_for_euclid_dist_if_necessary'`` (the default) and
    either input has more than 25 rows; lossgrad takes the same path in the same cases, so the
    rounding (a small non-zero distance between equal rows is possible) follows torch.

    Gradient: ``dd_ij/dx1_i = sgn(u) |u|^(p-1) / d_ij^(p-1)`` with ``u = x1_i - x2_j``
    (``u / d_ij`` for p = 2), and ``-`` that for ``x2_j``. At ``d_ij == 0`` the pair contributes
    nothing (torch's subgradient 0); p = inf gives ``sgn(u)`` to every tied largest entry.

    Args:
        x1: ``(*B, P, D)``.
        x2: ``(*B, R, D)``; the batch dimensions ``B`` broadcast.
        p: the norm degree, ``>= 0`` (``inf`` allowed). Default 2.
        compute_mode: ``'use_mm_for_euclid_dist_if_necessary'``, ``'use_mm_for_euclid_dist'``
            or ``'donot_use_mm_for_euclid_dist'``.

    Returns:
        ``(*B, P, R)`` distances in the inputs' dtype.

    Note:
        Same errors as torch (RuntimeError for 1-D inputs, integer dtypes, different widths,
        ``p < 0``; ValueError for an unknown ``compute_mode``). Second derivatives work on every
        path; torch raises NotImplementedError for them off the matrix-product path.

    Example:
        >>> import lossgrad as torch
        >>> torch.cdist(torch.tensor([[0., 0.], [3., 4.]]), torch.tensor([[0., 0.]]))
        tensor([[0.],
                [5.]])
    """
    if compute_mode not in _COMPUTE_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    mode = _COMPUTE_MODES[compute_mode]
    p = float(p)
    _check_inputs(x1, x2, p)
    rows1, rows2 = x1.shape[-2], x2.shape[-2]
    empty = x1.numel() == 0 or x2.numel() == 0
    use_mm = p == 2 and not empty and (mode == 1 or (mode == 0 and (rows1 > 25 or rows2 > 25)))
    return _Cdist.apply(x1, x2, (p, use_mm))
