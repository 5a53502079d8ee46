"""Regression losses: l1_loss, mse_loss, smooth_l1_loss, huber_loss.

Each is a pointwise loss of the difference ``d = input - target``: a block kernel that writes
the loss and its slope ∂l/∂x, and the same slope written with lossgrad ops (from which autograd
gives the second derivatives, torch's kinks included). The target's gradient is the negated
slope. l1 follows torch's composite ``abs(input - target)`` (its ``grad_fn`` is named after the
last op: ``AbsBackward0``, ``MeanBackward0`` or ``SumBackward0``; the slope ``sgn(d)`` is 0 at
``d = 0`` in both).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _parallel
from lossgrad._backend import clip as _clip
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.nn.functional._checks import scalar_type_name as _tn
from lossgrad.nn.functional._pointwise import Pointwise, by_reduction, scratch
from lossgrad.nn.functional._pointwise import apply as _pointwise
from lossgrad.ops._common import promote, sgn_into
from lossgrad.ops.pointwise import abs as _abs
from lossgrad.ops.pointwise import lt, ne, sgn, sub, where


def _l1_block(x: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray) -> np.ndarray:
    """``|x - y|`` into ``loss``, its slope ``sgn(x - y)`` into ``dldx``."""
    diff = np.subtract(x, y, out=loss)
    sgn_into(diff, dldx)
    return np.abs(diff, out=diff)


def _l1_sum(x: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray) -> Any:
    """The block's sum of ``|d|`` as the dot product ``d . sgn(d)`` (NaN where ``d`` is)."""
    diff = np.subtract(x, y, out=loss)
    return _parallel.total(diff, sgn_into(diff, dldx))


def _sign_keeping_nan(diff: Tensor) -> Tensor:
    """``sgn(diff)``, but NaN where ``diff`` is (the slope of torch's huber and smooth_l1
    kernels); its derivative is 0 everywhere."""
    return where(ne(diff, diff), diff.detach(), sgn(diff))


def _antisymmetric(slope: Tensor) -> tuple[Tensor, Tensor]:
    """The derivatives ``(slope, -slope)`` of a loss of ``x - y``."""
    return slope, -slope


_L1 = Pointwise(
    node=by_reduction("AbsBackward0"),
    block=_l1_block,
    block_sum=_l1_sum,
    derivatives=lambda x, y: _antisymmetric(sgn(x - y)),  # torch's slope: 0 at NaN
    antisymmetric=True,
)


def _mse_block(x: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray) -> np.ndarray:
    """``(x - y)^2`` into ``loss``; ``dldx`` gets ``x - y`` (the factor 2 is the driver's)."""
    diff = np.subtract(x, y, out=dldx)
    return np.multiply(diff, diff, out=loss)


def _mse_sum(x: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray) -> Any:
    diff = np.subtract(x, y, out=dldx)
    return _parallel.total(diff, diff)  # one dot product, no squared temporary


def _mse_gradients(
    upstream: Tensor, divisor: int | None, x: Tensor, y: Tensor
) -> tuple[Tensor, Tensor]:
    """torch's ``mse_loss_backward``: ``norm (x - y) g`` with ``norm = 2 / n`` for a mean
    (else 2) applied to the difference first, so it overflows only where the gradient does."""
    norm = 2.0 if divisor is None else 2.0 / divisor if divisor else math.nan
    return (x - y) * norm * upstream, (y - x) * norm * upstream


_MSE = Pointwise(
    node="MseLossBackward0",
    block=_mse_block,
    block_sum=_mse_sum,
    gradients=_mse_gradients,
    antisymmetric=True,
    dldx_factor=lambda: 2.0,
)


def _huber_block(
    x: np.ndarray,
    y: np.ndarray,
    delta: float,
    loss: np.ndarray,
    dldx: np.ndarray,
    scale: float | None = None,
) -> np.ndarray:
    """Huber's loss of ``d = x - y`` into ``loss`` (times ``scale``), branch-free: with
    ``q = clamp(d, -delta, delta)`` (into ``dldx``: the slope) it is ``q (d - q / 2)``, which
    is ``d^2 / 2`` inside and ``delta |d| - delta^2 / 2`` outside. ``scale`` multiplies
    ``q`` (then within ``[-1, 1]`` for smooth_l1's ``1 / beta``), never ``d - q / 2``, whose
    product with a large scale (a tiny beta) would overflow though the loss is finite."""
    diff = np.subtract(x, y, out=loss)
    clamped = _clip(diff, -delta, delta, out=dldx)
    half_step = np.multiply(clamped, x.dtype.type(-0.5), out=scratch(x, 1))
    half_step += diff
    if scale is not None:
        clamped = np.multiply(clamped, x.dtype.type(scale), out=scratch(x, 2))
    return np.multiply(half_step, clamped, out=diff)


def _huber_sum(
    x: np.ndarray,
    y: np.ndarray,
    delta: float,
    loss: np.ndarray,
    dldx: np.ndarray,
    scale: float | None = None,
) -> Any:
    """The block's sum of `_huber_block` as ``q.d - q.q / 2``: two dot products (no
    cancellation: elementwise ``0 <= q q <= q d``, as ``|q| <= |d|`` with the same sign).
    A ``scale`` above 1e4 or below 1 multiplies ``q`` first, so that the total overflows only
    when the loss does (and no product underflows where the scaled one would not); between
    them it multiplies the total, a pass fewer."""
    diff = np.subtract(x, y, out=loss)
    clamped = _clip(diff, -delta, delta, out=dldx)
    by_total = scale is not None and 1.0 <= scale <= 1e4
    slope = (
        clamped
        if scale is None or by_total
        else np.multiply(clamped, x.dtype.type(scale), out=scratch(x, 2))
    )
    total = _parallel.total(slope, diff) - x.dtype.type(0.5) * _parallel.total(slope, clamped)
    return total * x.dtype.type(scale) if by_total else total


def _huber_slope(x: Tensor, y: Tensor, delta: float, scale: float = 1.0) -> tuple[Tensor, Tensor]:
    """``clamp(d, -delta, delta) * scale``, with torch's strict ``|d| < delta`` for the
    quadratic branch (so the second derivative is 0 at the kink, as torch's); NaN where ``d``
    is NaN, as torch's kernel."""
    diff = x - y
    slope = where(lt(_abs(diff), delta), diff * scale, _sign_keeping_nan(diff) * (delta * scale))
    return _antisymmetric(slope)


_HUBER = Pointwise(
    node="HuberLossBackward0",
    block=_huber_block,
    block_sum=_huber_sum,
    derivatives=_huber_slope,
    antisymmetric=True,
)

_SMOOTH_L1 = Pointwise(
    node="SmoothL1LossBackward0",
    block=lambda x, y, beta, loss, dldx: _huber_block(x, y, beta, loss, dldx, 1.0 / beta),
    block_sum=lambda x, y, beta, loss, dldx: _huber_sum(x, y, beta, loss, dldx, 1.0 / beta),
    derivatives=lambda x, y, beta: _huber_slope(x, y, beta, 1.0 / beta),
    antisymmetric=True,
    dldx_factor=lambda beta: 1.0 / beta,  # clamp(d / beta, -1, 1) = clamp(d, -beta, beta) / beta
)


def _smooth_l1_zero_beta_block(
    x: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """torch's smooth_l1 kernel with a beta that rounds to 0 in the dtype: ``|d| - 0``, slope
    ``sgn(d)``, but NaN where ``d`` is NaN."""
    loss = _l1_block(x, y, loss, dldx)
    np.copyto(dldx, loss, where=np.isnan(loss))
    return loss


_SMOOTH_L1_ZERO_BETA = Pointwise(
    node="SmoothL1LossBackward0",
    block=_smooth_l1_zero_beta_block,
    derivatives=lambda x, y: _antisymmetric(_sign_keeping_nan(x - y)),
    antisymmetric=True,
)


def _difference_operands(name: str, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Promote and broadcast (torch's ``broadcast_tensors``) the operands of a difference loss;
    NotImplementedError, as torch's kernel, for integer ones."""
    # broadcast first, as torch's broadcast_tensors: a 0-d operand expanded against a
    # dimensioned one then takes part in type promotion as a dimensioned tensor
    _, (x, y) = promote(*_checks.broadcast_pair(input, target))
    if x._data.dtype.kind != "f":
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{_tn(x._data.dtype)}'")
    return x, y


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean absolute error.

    Unreduced: ``l_n = |x_n - y_n|``; gradient ``dl/dx = sgn(x - y)`` (0 where ``x == y``) and
    ``-sgn(x - y)`` for the target.

    Args:
        input: any shape ``(*)``.
        target: the same shape (broadcastable, with torch's warning).
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: functional-only elementwise weights of exactly ``input.size()`` (ValueError
            otherwise); ``'mean'`` is then ``sum(w * l) / sum(w)``.

    Returns:
        The loss: a scalar, or the broadcast shape for ``reduction='none'``.

    Note:
        One fused pass forward and one backward (torch composes ``abs(input - target)`` and a
        reduction; the values, dtypes and the subgradient 0 at ``d = 0`` are the same, only
        ``grad_fn`` is named after torch's last op: ``AbsBackward0``, ``MeanBackward0``,
        ``SumBackward0``). The second derivative is 0.

    Example:
        >>> import lossgrad as torch
        >>> torch.nn.functional.l1_loss(torch.tensor([1., -2.]), torch.tensor([0., 0.]))
        tensor(1.5000)
    """
    _checks.warn_if_broadcast(input, target)
    reduction = _reduction.legacy(reduction, size_average, reduce)
    if np.bool_ in (input._data.dtype, target._data.dtype):  # torch's ``input - target``
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    if promote(input, target)[0].kind != "f":  # integer tensors: torch's composite and its errors
        x, y = _checks.broadcast_pair(input, target)
        return _reduction.apply(_abs(sub(x, y)), _reduction.resolve(reduction))
    if weight is not None:
        _checks.check_weight_size(weight, input)
        loss = _pointwise(_L1, _difference_operands("l1", input, target), "none")
        return _reduction.apply_weighted(loss, weight, reduction, weighted_mean=True)
    operands = _difference_operands("l1", input, target)  # torch broadcasts before the reduction
    return _pointwise(_L1, operands, _reduction.resolve(reduction))


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error.

    Unreduced: ``l_n = (x_n - y_n)^2``; gradient ``dl/dx = 2 (x - y)`` (and ``-2 (x - y)`` for
    the target, which is differentiable too); second derivative ``2``.

    Args:
        input: any shape ``(*)``.
        target: the same shape (broadcastable, with torch's warning).
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        weight: functional-only elementwise weights of exactly ``input.size()`` (ValueError
            otherwise); ``'mean'`` is then ``sum(w * l) / sum(w)``.

    Returns:
        The loss: a scalar, or the broadcast shape for ``reduction='none'``.

    Note:
        Empty input gives NaN for ``'mean'``, as in torch. A float input with an integer target is
        promoted; two integer tensors raise NotImplementedError, as in torch. One fused pass
        forward and one backward; second derivatives are supported.

    Example:
        >>> import lossgrad as torch
        >>> torch.nn.functional.mse_loss(torch.tensor([1., 2.]), torch.tensor([0., 0.]))
        tensor(2.5000)
    """
    _checks.warn_if_broadcast(input, target)
    reduction = _reduction.legacy(reduction, size_average, reduce)
    if weight is not None:
        x, y = _checks.broadcast_pair(input, target)
        _checks.check_weight_size(weight, input)
        return _reduction.apply_weighted(sub(x, y) ** 2, weight, reduction, weighted_mean=True)
    operands = _difference_operands("mse", input, target)
    return _pointwise(_MSE, operands, _reduction.resolve(reduction))


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """Smooth L1 loss: quadratic near zero, linear beyond ``beta``.

    Unreduced, with ``d = x - y``: ``l = 0.5 d^2 / beta`` if ``|d| < beta`` else
    ``|d| - 0.5 beta``. Gradient ``dl/dx = clamp(d / beta, -1, 1)`` (``-`` that for the target);
    second derivative ``1/beta`` where ``|d| < beta``, else 0.

    Args:
        input: any shape ``(*)``.
        target: the same shape (broadcastable, with torch's warning).
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        beta: where the loss turns from quadratic to linear; ``>= 0``. Default 1.0.

    Returns:
        The loss: a scalar, or the broadcast shape for ``reduction='none'``.

    Note:
        As in torch: ``beta == 0`` is exactly ``l1_loss``; ``beta < 0`` raises RuntimeError;
        at ``|d| == beta`` the linear branch is taken. Equals ``huber_loss(delta=beta) / beta``.
        Second derivatives are supported.

    Example:
        >>> import lossgrad as torch
        >>> torch.nn.functional.smooth_l1_loss(torch.tensor([0.5, 3.]), torch.tensor([0., 0.]))
        tensor(1.3125)
    """
    _checks.warn_if_broadcast(input, target)
    reduction = _reduction.legacy(reduction, size_average, reduce)
    beta = _checks.check_float(beta, "smooth_l1_loss", "beta", 4)
    if beta == 0.0:
        return l1_loss(*_checks.broadcast_pair(input, target), reduction=reduction)
    input, target = _checks.broadcast_pair(input, target)  # before the reduction, as torch
    reduction = _reduction.resolve(reduction)
    _checks.check_threshold(beta, "smooth_l1_loss", "beta", zero_allowed=True)
    operands = _difference_operands("smooth_l1", input, target)
    if operands[0]._data.dtype.type(beta) == 0:  # beta underflows the dtype (1e-30 in float16)
        return _pointwise(_SMOOTH_L1_ZERO_BETA, operands, reduction)
    return _pointwise(_SMOOTH_L1, operands, reduction, (beta,))


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """Huber loss: quadratic near zero, linear with slope ``delta`` beyond it.

    Unreduced, with ``d = x - y``: ``l = 0.5 d^2`` if ``|d| < delta`` else
    ``delta (|d| - 0.5 delta)``. Gradient ``dl/dx = clamp(d, -delta, delta)`` (``-`` that for the
    target); second derivative 1 where ``|d| < delta``, else 0.

    Args:
        input: any shape ``(*)``.
        target: the same shape (broadcastable, with torch's warning).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``. (No legacy flags.)
        delta: the threshold, ``> 0``. Default 1.0.
        weight: functional-only elementwise weights of exactly ``input.size()`` (ValueError
            otherwise). Unlike l1/mse, ``'mean'`` then stays ``mean(w * l)`` (÷ numel), as in torch.

    Returns:
        The loss: a scalar, or the broadcast shape for ``reduction='none'``.

    Note:
        ``delta <= 0`` raises RuntimeError and a non-number ``delta`` TypeError, as in torch.
        Second derivatives are supported.

    Example:
        >>> import lossgrad as torch
        >>> torch.nn.functional.huber_loss(torch.tensor([0.5, 3.]), torch.tensor([0., 0.]))
        tensor(1.3125)
    """
    _checks.warn_if_broadcast(input, target)
    delta = _checks.check_float(delta, "huber_loss", "delta", 4)
    _checks.check_threshold(delta, "huber_loss", "delta", zero_allowed=False)
    if input._data.dtype.kind == "f" and target._data.dtype != input._data.dtype:
        target = target.to(input.dtype)  # torch's huber keeps the input's dtype
    elif input._data.dtype.kind != "f" and target._data.dtype.kind == "f":
        raise RuntimeError(
            f"result type {_tn(target._data.dtype)} can't be cast to the desired "
            f"output type {_tn(input._data.dtype)}"
        )
    operands = _difference_operands("huber", input, target)
    if weight is None:
        return _pointwise(_HUBER, operands, _reduction.resolve(reduction), (delta,))
    _checks.check_weight_size(weight, input)
    loss = _pointwise(_HUBER, operands, "none", (delta,))
    return _reduction.apply_weighted(loss, weight, reduction, weighted_mean=False)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
