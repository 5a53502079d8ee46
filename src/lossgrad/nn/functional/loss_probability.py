"""Probability losses: binary_cross_entropy(_with_logits), kl_div, poisson_nll_loss,
gaussian_nll_loss, soft_margin_loss, multilabel_soft_margin_loss.

Each is a pointwise loss: a NumPy block kernel that writes the loss and ∂l/∂x, and the same
derivatives written with lossgrad ops, from which autograd gives the second derivatives.
binary_cross_entropy, binary_cross_entropy_with_logits and soft_margin_loss are torch kernels;
kl_div, poisson_nll_loss and gaussian_nll_loss are composites in torch, written here with the
operations of torch's composite in its order (same values, gradients and NaN policy) and named
after its last op. multilabel_soft_margin_loss is binary_cross_entropy_with_logits per element.

The kernels are branch-free (``clip`` rather than ``where``/``maximum``); the logistic ones share
the stable pieces of `_logistic`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _dtype, _parallel
from lossgrad._backend import clip as _clip
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _checks, _logistic, _reduction
from lossgrad.nn.functional._pointwise import Pointwise, by_reduction, scratch, weighted
from lossgrad.nn.functional._pointwise import apply as _pointwise
from lossgrad.nn.functional.distance import _ClampMinStraightThrough
from lossgrad.ops._common import promote, promote_present
from lossgrad.ops.activation import logsigmoid
from lossgrad.ops.elementary import logit, xlogy
from lossgrad.ops.index import masked_fill
from lossgrad.ops.pointwise import (
    clamp_min,
    eq,
    exp,
    le,
    log,
    rsub,
    sigmoid,
    where,
)

# torch's EPSILON in binary_cross_entropy's backward: a float32 constant, in every dtype
_BCE_EPS = float(np.float32(1e-12))


def _not_differentiable(fn: str, **args: Tensor | None) -> None:
    """torch refuses, at call time, a grad-requiring argument its kernel cannot differentiate."""
    if not grad_mode.is_grad_enabled():
        return
    for name, t in args.items():
        if t is not None and t.requires_grad:
            raise RuntimeError(
                f"The function '{fn}' is not differentiable with respect to argument '{name}'. "
                "This input cannot have requires_grad True."
            )


def _broadcast_into(shape: tuple[int, ...], *operands: Tensor | None) -> None:
    """torch multiplies these operands (weights) in place into the loss: each (unless None)
    must broadcast *to* its ``shape``."""
    for t in operands:
        if t is None:
            continue
        try:
            common = np.broadcast_shapes(t._data.shape, shape)
        except ValueError:
            from lossgrad.ops._common import broadcast_error

            raise broadcast_error(shape, t._data.shape) from None
        if common != shape:
            raise RuntimeError(
                f"output with shape {list(shape)} doesn't match the broadcast shape {list(common)}"
            )


# -- binary_cross_entropy --------------------------------------------------------------------------


def _bce_block(x: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray) -> np.ndarray:
    """``l = -[y max(log x, -100) + (1 - y) max(log(1 - x), -100)]`` into ``loss`` and
    ``dl/dx = (x - y) / max(x (1 - x), 1e-12)`` into ``dldx`` (torch's clamps; the weight is
    `weighted`'s)."""
    one, floor, inf = x.dtype.type(1), x.dtype.type(-100), x.dtype.type(np.inf)
    log_term = np.negative(x, out=scratch(x, 1))
    _clip(np.log1p(log_term, out=log_term), floor, inf, out=log_term)  # log(1 - x)
    np.multiply(np.subtract(y, one, out=loss), log_term, out=loss)
    _clip(np.log(x, out=log_term), floor, inf, out=log_term)  # log x
    loss -= np.multiply(log_term, y, out=log_term)
    spread = np.multiply(np.subtract(one, x, out=log_term), x, out=log_term)
    _clip(spread, x.dtype.type(_BCE_EPS), inf, out=spread)  # max(x (1 - x), eps)
    np.divide(np.subtract(x, y, out=dldx), spread, out=dldx)
    return loss


class _BceSlope(ArrayFunction):
    """torch's ``binary_cross_entropy_backward`` as an op: ``(x - y) / max(x (1 - x), 1e-12)``,
    whose own derivatives are torch's (``binary_cross_entropy_double_backward``): in ``x``,
    ``(x^2 - 2 x y + y) / ((x + eps)^2 (1 - x + eps)^2)``, which differs from the derivative of
    the clamped quotient where the clamp is active (at ``x = 0`` or 1)."""

    node_name = "BinaryCrossEntropyBackwardBackward0"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        return np.asarray((x - y) / np.maximum((1 - x) * x, x.dtype.type(_BCE_EPS)))

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Any, ...]:
        x, y = ctx.saved_tensors
        # torch's double backward adds its own eps, 1e-12: a double constant, unlike _BCE_EPS
        curvature = (x * x - 2.0 * x * y + y) / ((x + 1e-12) ** 2 * (rsub(x, 1.0) + 1e-12) ** 2)
        return upstream * curvature, -upstream / clamp_min(rsub(x, 1.0) * x, _BCE_EPS)


_BCE = Pointwise(
    node="BinaryCrossEntropyBackward0",
    # d/dy is -logit(x), one op as torch's: its derivative 1 / (x (1 - x)) is +-inf at 0 and 1
    **weighted(_bce_block, derivatives=lambda x, y: (_BceSlope.apply(x, y), -logit(x))),
)


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    *,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Binary cross entropy between probabilities ``input`` and ``target``.

    Unreduced: ``l = -w [y max(log x, -100) + (1 - y) max(log(1 - x), -100)]``. Gradient
    ``dl/dx = w (x - y) / max(x (1 - x), 1e-12)``; ``dl/dy = -w logit(x)``.

    Args:
        input: probabilities in [0, 1], any shape ``(*)``.
        target: the same shape (ValueError otherwise), values in [0, 1], same float dtype.
        weight: rescaling weight broadcast to the target's shape (not differentiable, as in
            torch). Default None.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        label_smoothing: ``s`` in [0, 1], a lossgrad extension (torch has none): the target
            becomes ``y (1 - s) + s / 2``, Keras's convention (``BinaryCrossentropy(
            label_smoothing=s)``); smp's ``SoftBCEWithLogitsLoss(smooth_factor=f)`` smooths
            twice as much: it is ``s = 2 f``. Default 0.0: torch's loss.

    Returns:
        The loss: a scalar, or ``(*)`` for ``reduction='none'``.

    Note:
        torch's policies: the logs are clamped at -100 (so ``BCE(0, 1) = 100``) and the
        gradient's denominator at 1e-12; values outside [0, 1] (or NaN) raise RuntimeError;
        input and target dtypes must match (RuntimeError). Second derivatives (w.r.t. input and
        target) use torch's double-backward formulas.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.binary_cross_entropy(torch.tensor([0.8, 0.1]), torch.tensor([1., 0.]))
        tensor(0.1643)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.check_same_size(input, target)
    _not_differentiable("binary_cross_entropy", weight=weight)  # torch's autograd, first
    _checks.check_same_dtype(input, target)
    _broadcast_into(target._data.shape, weight)
    weight = weight if weight is None else weight.to(input.dtype)
    _checks.check_float_kernel(input._data.dtype, "binary_cross_entropy")
    _checks.check_unit_interval(input, "input")
    _checks.check_unit_interval(target, "target")
    target = _smoothed_binary_target(target, label_smoothing, "binary_cross_entropy")
    return _pointwise(_BCE, (input, target, weight), reduction)


def _smoothed_binary_target(target: Tensor, label_smoothing: float, fn: str) -> Tensor:
    """``y (1 - s) + s / 2`` (Keras's binary label smoothing); ``target`` itself when ``s = 0``.
    TypeError unless ``s`` is a number, ValueError unless it lies in [0, 1]."""
    label_smoothing = _checks.check_float(label_smoothing, fn, "label_smoothing", None)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if label_smoothing == 0.0:
        return target
    return target * (1.0 - label_smoothing) + label_smoothing / 2


# -- binary_cross_entropy_with_logits --------------------------------------------------------------


def _bce_logits_block(
    x: np.ndarray, y: np.ndarray, pos_weight: np.ndarray | None, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """With ``p`` = pos_weight and ``c = 1 + (p - 1) y`` (1 without it):
    ``l = (1 - y) x + c softplus(-x)`` into ``loss`` and ``dl/dx = c sigmoid(x) - p y``
    (``sigmoid(x) - y`` without p) into ``dldx`` (the weight is `weighted`'s)."""
    one = x.dtype.type(1)
    _logistic.neg_exp_into(x, dldx)
    _logistic.softplus_neg_from(x, dldx, loss)
    sigmoid_x = np.divide(one, np.add(dldx, one, out=dldx), out=dldx)
    if pos_weight is None:
        sigmoid_x -= y
    else:
        log_weight = np.subtract(pos_weight, one, out=scratch(x, 2))
        log_weight *= y
        log_weight += one
        loss *= log_weight
        sigmoid_x *= log_weight
        sigmoid_x -= np.multiply(pos_weight, y, out=log_weight)
    linear = np.subtract(one, y, out=scratch(x, 2))
    loss += np.multiply(linear, x, out=linear)
    return loss


def _bce_logits_sum(
    x: np.ndarray,
    y: np.ndarray,
    pos_weight: np.ndarray | None,
    weight: np.ndarray | None,
    loss: np.ndarray,
    dldx: np.ndarray,
) -> Any:
    """The block's total without weights: `_logistic.softplus_total` of the margin ``x``
    (None, the elementwise sum as torch's, with weights or where that is not accurate)."""
    if weight is not None or pos_weight is not None:
        return None
    total = _logistic.softplus_total(x, x, y, loss, dldx)
    if total is not None:
        one = x.dtype.type(1)
        np.subtract(np.divide(one, np.add(dldx, one, out=dldx), out=dldx), y, out=dldx)
    return total


def _bce_logits_gradients(
    upstream: Tensor,
    divisor: int | None,
    x: Tensor,
    y: Tensor,
    pos_weight: Tensor | None = None,
    weight: Tensor | None = None,
) -> tuple[Any, ...]:
    """torch's backward, in its order: each derivative times the upstream gradient, then the
    weight, then over the count of a mean (so overflows fall where torch's do)."""
    if pos_weight is None:
        grads = ((sigmoid(x) - y) * upstream, -x * upstream)
    else:
        positive = pos_weight * y
        dldx = (positive + 1.0 - y) * sigmoid(x) - positive
        grads = (dldx * upstream, (logsigmoid(-x) - logsigmoid(x) * pos_weight) * upstream)
    grads = grads if weight is None else tuple(g * weight for g in grads)
    return (*(g if divisor is None else g / divisor for g in grads), None, None)


def _bce_logits_half(x: Tensor, y: Tensor, pos_weight: Tensor | None) -> Tensor:
    """torch's float16 sequence ``(1 - y) x - c log_sigmoid(x)``, ``log_sigmoid`` computed
    in float32 and rounded once (its Half kernel)."""
    log_sigmoid = logsigmoid(x.float()).to(x.dtype)
    if pos_weight is not None:
        log_sigmoid = log_sigmoid * ((pos_weight - 1.0) * y + 1.0)
    return (1.0 - y) * x - log_sigmoid


_BCE_WITH_LOGITS = Pointwise(
    node="BinaryCrossEntropyWithLogitsBackward0",
    block_sum=_bce_logits_sum,
    gradients=_bce_logits_gradients,
    work=2.0,  # exponentials and logarithms: two threads pay from 2.6e5 elements
    **weighted(_bce_logits_block, half=_bce_logits_half),
)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
    *,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Binary cross entropy on logits (sigmoid folded in, stably).

    Unreduced, with ``p`` = pos_weight: ``l = w [(1 - y) x - (1 + (p - 1) y) log sigmoid(x)]``.
    Gradient ``dl/dx = w [sigmoid(x) (1 + (p - 1) y) - p y]``; ``dl/dy = -w x`` (without
    pos_weight) or ``w [log sigmoid(-x) - p log sigmoid(x)]``.

    Args:
        input: logits, any shape ``(*)``.
        target: the same shape (ValueError otherwise), float values (usually in [0, 1]).
        weight: rescaling weight, broadcastable to the input's shape. Default None.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        pos_weight: weight of positive examples, broadcast against the target (class dim last:
            ``(C,)`` for ``(N, C)``, ``(C, 1, 1)`` for ``(N, C, H, W)``). Default None.
        label_smoothing: ``s`` in [0, 1], a lossgrad extension (torch has none): the target
            becomes ``y (1 - s) + s / 2``, Keras's convention (``BinaryCrossentropy(
            label_smoothing=s)``); smp's ``SoftBCEWithLogitsLoss(smooth_factor=f)`` smooths
            twice as much: it is ``s = 2 f``. Default 0.0: torch's loss.

    Returns:
        The loss, in the target's dtype (as in torch): a scalar, or ``(*)`` for ``'none'``.

    Note:
        ``log sigmoid(x) = min(x, 0) - log1p(exp(-|x|))`` never overflows: finite at
        ``|x| = 1000``. ``weight`` and ``pos_weight`` are not differentiable (RuntimeError when
        they require grad, as in torch). Second derivatives w.r.t. input and target.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.binary_cross_entropy_with_logits(torch.tensor([1000., -2.]), torch.tensor([1., 0.]))
        tensor(0.0635)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.check_target_size(input, target)
    target = _smoothed_binary_target(target, label_smoothing, "binary_cross_entropy_with_logits")
    _checks.check_float_kernel(input._data.dtype, "log_sigmoid_cpu")
    _not_differentiable("binary_cross_entropy_with_logits", weight=weight, pos_weight=pos_weight)
    _broadcast_into(input._data.shape, pos_weight, weight)
    out_dt = target._data.dtype
    dt, operands = promote_present(input, target, pos_weight, weight)
    _checks.check_float_result(dt, out_dt)
    loss = _pointwise(_BCE_WITH_LOGITS, operands, reduction)
    return loss if dt == out_dt else loss.to(out_dt)


# -- soft_margin_loss ------------------------------------------------------------------------------


def _soft_margin_block(
    x: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """With ``u = exp(-y x)``: ``l = softplus(-y x) = log1p(u)`` into ``loss`` and
    ``dl/dx = -y sigmoid(-y x) = -y u / (1 + u)`` into ``dldx``."""
    margin = np.multiply(y, x, out=scratch(x, 4))
    _logistic.neg_exp_into(margin, dldx)
    _logistic.softplus_neg_from(margin, dldx, loss)
    _soft_margin_slope(dldx, y, margin)
    return loss


def _soft_margin_slope(u: np.ndarray, y: np.ndarray, spare: np.ndarray) -> np.ndarray:
    """``-y u / (1 + u)`` in place in ``u`` (``spare``: a temporary)."""
    minus_one_minus_u = np.subtract(u.dtype.type(-1), u, out=spare)
    np.divide(u, minus_one_minus_u, out=u)
    return np.multiply(u, y, out=u)


def _soft_margin_sum(x: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray) -> Any:
    """The block's total: `_logistic.softplus_total` of the margin ``y x`` (None, the
    elementwise sum, where that is not accurate)."""
    total = _logistic.softplus_total(np.multiply(y, x, out=loss), x, y, loss, dldx)
    if total is not None:
        _soft_margin_slope(dldx, y, loss)
    return total


_SOFT_MARGIN = Pointwise(
    node="SoftMarginLossBackward0",
    block=_soft_margin_block,
    block_sum=_soft_margin_sum,
    derivatives=lambda x, y: (-y * sigmoid(-y * x), None),
    work=2.0,
)


def soft_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Two-class logistic loss on margins ``y x`` (targets are 1 or -1).

    Unreduced: ``l = log(1 + exp(-y x))``; gradient ``dl/dx = -y sigmoid(-y x)``; second
    derivative ``y^2 sigmoid(y x) sigmoid(-y x)``.

    Args:
        input: any shape ``(*)``.
        target: broadcastable to the input's shape (cast to the input's dtype).
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        The loss, in the input's dtype: a scalar, or ``(*)`` for ``reduction='none'``.

    Note:
        A deliberate improvement on torch: computed as ``softplus(-y x)``, so large negative
        margins give the true finite value (torch overflows to inf at ``y x = -1000`` and its
        gradient to NaN). Not differentiable w.r.t. ``target`` (RuntimeError, as in torch).
        Second derivatives w.r.t. input.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> x = torch.tensor([[0.3, 0.7], [0.5, 0.5]])
        >>> F.soft_margin_loss(x, torch.tensor([[-1., 1.], [1., -1.]]))
        tensor(0.6764)
        >>> F.soft_margin_loss(torch.tensor([-1000.]), torch.tensor([1.]))
        tensor(1000.)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.check_tensor_arguments("soft_margin_loss", input=input, target=target)
    _not_differentiable("soft_margin_loss", target=target)
    _broadcast_into(input._data.shape, target)
    dt = input._data.dtype
    _checks.check_float_result(dt, dt)
    y = target if target._data.dtype == dt else target.to(dt)
    return _pointwise(_SOFT_MARGIN, (input, y), reduction)  # the driver expands y


# -- kl_div ----------------------------------------------------------------------------------------


def _kl_div_block(
    x: np.ndarray, y: np.ndarray, log_target: bool, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``l = xlogy(y, y) - y x`` (0 where ``y == 0``, NaN for ``y < 0``) and ``dl/dx = -y``;
    with ``log_target``, ``l = exp(y) (y - x)`` and ``dl/dx = -exp(y)``."""
    if log_target:  # -exp(y) (x - y) is exp(y) (y - x), bit for bit
        np.negative(np.exp(y, out=dldx), out=dldx)
        return np.multiply(dldx, np.subtract(x, y, out=loss), out=loss)
    np.add(y, np.equal(y, 0, out=_parallel.scratch(y.size, np.bool_, 4)), out=loss)
    np.log(loss, out=loss)
    np.subtract(np.multiply(loss, y, out=loss), np.multiply(y, x, out=scratch(x, 1)), out=loss)
    np.negative(y, out=dldx)
    return loss


def _kl_div_gradients(g: Tensor, x: Tensor, y: Tensor, log_target: bool) -> tuple[Tensor, Tensor]:
    """torch's composite's gradients, in its order (so they overflow where torch's do), with
    ``g`` the gradient its reduction hands back: with ``log_target``,
    ``dx = -(g exp(y))`` and ``dy = (g (y - x)) exp(y) + g exp(y)``; else ``dx = (-g) y`` and
    ``dy = xlogy(g, y) + (g y) / y - g x``, the first term 0 where ``y == 0`` (torch's
    derivatives of ``xlogy``)."""
    if log_target:
        target_prob = exp(y)
        return -(g * target_prob), g * (y - x) * target_prob + g * target_prob
    return -g * y, where(eq(y, 0), 0.0, xlogy(g, y)) + g * y / y - g * x


def _kl_div_composite(x: Tensor, y: Tensor, log_target: bool) -> Tensor:
    """torch's composite, op for op."""
    return exp(y) * (y - x) if log_target else xlogy(y, y) - y * x


# torch's kl_div is a composite whose grad_fn is named after its last op
_KL_DIV = Pointwise(
    node=by_reduction(lambda log_target: "MulBackward0" if log_target else "SubBackward0"),
    block=_kl_div_block,
    composite_gradients=_kl_div_gradients,
    composite=_kl_div_composite,
)


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Kullback-Leibler divergence of ``input`` (log-probabilities) from ``target``.

    Unreduced: ``l = y (log y - x)``, taken as 0 where ``y == 0`` (torch's xlogy), or with
    ``log_target=True`` ``l = exp(y) (y - x)``. Gradient ``dl/dx = -y`` (``-exp(y)``);
    ``dl/dy = log y + 1 - x`` (``exp(y) (y - x + 1)``).

    Args:
        input: log-probabilities, any shape ``(*)``.
        target: probabilities (or log-probabilities with ``log_target``), broadcastable.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'batchmean'`` | ``'sum'`` | ``'mean'``. Default ``'mean'``.
        log_target: whether ``target`` is in log space. Default False.

    Returns:
        The loss: a scalar, or the broadcast shape for ``reduction='none'``.

    Note:
        As in torch: ``'mean'`` divides by the number of elements and warns (use ``'batchmean'``
        = sum / input.size(0), the true KL per sample; for 0-d input it is the sum); integer
        tensors raise RuntimeError; ``y < 0`` gives NaN. Second derivatives w.r.t. input and target.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
        >>> y = torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.7, 0.2]])
        >>> torch.nn.functional.kl_div(x.log(), y, reduction="batchmean")
        tensor(0.3553)
    """
    _checks.check_tensor_arguments("kl_div", input=input, target=target)
    reduction, per_batch = _reduction.resolve_kl_div(reduction, size_average, reduce, input, target)
    _checks.check_not_integral("kl_div", input, target)
    # (a broadcast target that needs its gradient takes torch's composite: its own terms,
    # xlogy(y, y) or exp(y), take the upstream summed over the broadcast: NaN at y = -inf for
    # xlogy even when the sum is over nothing; exp(y) = inf times a sum where the fused
    # gradient had inf * 0 = NaN)
    out = _pointwise(_KL_DIV, (input, target), reduction, (log_target,))
    return out / input.size(0) if per_batch else out


# -- poisson_nll_loss ------------------------------------------------------------------------------


def _poisson_nll_block(
    x: np.ndarray, y: np.ndarray, log_input: bool, eps: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``l = exp(x) - y x`` and ``dl/dx = exp(x) - y``; without ``log_input``,
    ``l = x - y log(x + eps)`` and ``dl/dx = 1 - y / (x + eps)`` (torch's composite's order)."""
    if log_input:
        np.subtract(np.exp(x, out=dldx), np.multiply(y, x, out=scratch(x, 1)), out=loss)
        np.subtract(dldx, y, out=dldx)
        return loss
    shifted = np.add(x, x.dtype.type(eps), out=scratch(x, 1))
    np.subtract(x, np.multiply(y, np.log(shifted, out=loss), out=loss), out=loss)
    np.subtract(x.dtype.type(1), np.divide(y, shifted, out=dldx), out=dldx)
    return loss


def _poisson_nll_gradients(
    g: Tensor, x: Tensor, y: Tensor, log_input: bool, eps: float
) -> tuple[Tensor, Tensor]:
    """torch's composite's gradients, in its order (so they overflow where torch's do), with
    ``g`` the gradient its reduction hands back: ``dx = g exp(x) - g y`` and
    ``dy = (-g) x``, or without ``log_input`` ``dx = g + ((-g) y) / (x + eps)`` and
    ``dy = (-g) log(x + eps)``."""
    if log_input:
        return g * exp(x) - g * y, -g * x
    shifted = x + eps
    return g + -g * y / shifted, -g * log(shifted)


def _integer_exact(fn: Any, operand: Tensor, input: Tensor) -> Tensor:
    """``fn(operand)``; for an integer ``input``, computed in float64 and rounded to the float
    dtype torch gives: torch's float32 exp and log of it come out correctly rounded, NumPy's can
    be an ulp off, which a float64 target's loss would show."""
    if input.is_floating_point():
        return fn(operand)
    dtype = operand._data.dtype if operand.is_floating_point() else _dtype.get_default_dtype().np
    return fn(operand.to(np.float64)).to(dtype)


def _poisson_nll_composite(x: Tensor, y: Tensor, log_input: bool, eps: float) -> Tensor:
    """torch's composite, op for op (without ``full``'s Stirling term)."""
    if log_input:
        return _integer_exact(exp, x, x) - y * x
    return x - y * _integer_exact(log, x + eps, x)


_POISSON_NLL = Pointwise(
    node=by_reduction("SubBackward0"),
    block=_poisson_nll_block,
    composite_gradients=_poisson_nll_gradients,
    composite=_poisson_nll_composite,
)


def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of ``target ~ Poisson(rate)``.

    Unreduced: ``l = exp(x) - y x`` (``log_input=True``, x = log rate) or
    ``l = x - y log(x + eps)`` (x = rate); ``full=True`` adds the Stirling term
    ``y log y - y + 0.5 log(2 pi y)`` where ``y > 1`` (0 elsewhere). Gradient ``dl/dx = exp(x) - y``
    or ``1 - y / (x + eps)``; ``dl/dy = -x`` or ``-log(x + eps)`` (plus ``log y + 1/(2y)``).

    Args:
        input: log-rates (or rates), any shape ``(*)``.
        target: counts, broadcastable.
        log_input: whether ``input`` is a log-rate. Default True.
        full: add the Stirling approximation term. Default False.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        eps: added to the rate inside the log when ``log_input=False`` only. Default 1e-8.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        The loss: a scalar, or the broadcast shape for ``reduction='none'``.

    Note:
        torch's composite, op for op: no overflow guard (``exp(x)`` is inf for large x, as in
        torch), and with ``full=True`` the target gradient at ``y = 0`` is NaN, as in torch.
        Second derivatives w.r.t. input and target.

    Example:
        >>> import lossgrad as torch
        >>> torch.nn.functional.poisson_nll_loss(torch.tensor([0., 1.]), torch.tensor([1., 2.]))
        tensor(0.8591)
    """
    reduction = _reduction.resolve(_reduction.legacy(reduction, size_average, reduce), alias=False)
    _checks.check_tensor_arguments("poisson_nll_loss", input=input, target=target)
    if not full:
        return _pointwise(_POISSON_NLL, (input, target), reduction, (log_input, eps))
    loss = _poisson_nll_composite(input, target, log_input, eps)
    stirling = target * log(target) - target + 0.5 * log(2 * math.pi * target)
    return _reduction.apply(loss + masked_fill(stirling, le(target, 1), 0), reduction)


# -- gaussian_nll_loss -----------------------------------------------------------------------------

_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


def _gaussian_nll_block(
    x: np.ndarray, y: np.ndarray, var: np.ndarray, full: bool, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``l = (log v + (x - y)^2 / v) / 2`` (plus ``log(2 pi) / 2`` if ``full``) into ``loss``,
    ``dl/dx = (x - y) (1 / v)`` into ``dldx``, each rounded as torch's composite rounds it
    (its backward's ``(0.5 / v) (2 (x - y))`` at an upstream gradient of 1)."""
    diff = np.subtract(x, y, out=scratch(x, 1))
    np.multiply(np.reciprocal(var, out=dldx), diff, out=dldx)
    squares = np.multiply(diff, diff, out=diff)
    squares /= var
    squares += np.log(var, out=loss)
    np.multiply(squares, x.dtype.type(0.5), out=loss)
    if full:
        loss += x.dtype.type(_HALF_LOG_TWO_PI)
    return loss


def _gaussian_nll_sum(
    x: np.ndarray,
    y: np.ndarray,
    var: np.ndarray,
    full: bool,
    loss: np.ndarray,
    dldx: np.ndarray,
    scale: Any,
) -> Any:
    """The block's total with the squares as one dot product ``(x - y) . s (x - y) / v / s``
    and ``dl/dx`` as ``(x - y) (s / v)`` (``s`` is 1 for None): the scale ``s`` applied before
    the division by the variance, as torch's backward does, so that it overflows only where
    torch's does and rounds as torch's at an upstream gradient of 1. Where that dot product
    overflows (so does some ``(x - y)^2``, unless a variance is above about ``1e31 s`` in
    float32), the total of torch's composite, op for op: infinite where ``(x - y)^2`` is (no
    extra pass for finite losses; an infinite total's gradients are then the composite's,
    `_pointwise`)."""
    diff = np.subtract(x, y, out=scratch(x, 1))
    scale = x.dtype.type(1) if scale is None else scale
    np.multiply(np.divide(scale, var, out=dldx), diff, out=dldx)
    squares = _parallel.total(diff, dldx) / scale
    if not math.isfinite(squares):
        ops = [Tensor._make(a) for a in (x, y, var)]
        return _parallel.total(_gaussian_nll_composite(*ops, full)._data)
    total = x.dtype.type(0.5) * (_parallel.total(np.log(var, out=loss)) + squares)
    return total + x.dtype.type(_HALF_LOG_TWO_PI) * x.dtype.type(x.size) if full else total


def _gaussian_nll_composite(x: Tensor, y: Tensor, var: Tensor, full: bool) -> Tensor:
    """torch's composite, op for op (its float16 and integer arithmetic)."""
    loss = 0.5 * (log(var) + (x - y) ** 2 / var)
    return loss + _HALF_LOG_TWO_PI if full else loss


def _gaussian_nll_gradients(
    g: Tensor, x: Tensor, y: Tensor, var: Tensor, full: bool
) -> tuple[Any, ...]:
    """The backward of torch's composite, op for op: the gradient its reduction hands back,
    halved, divided by ``v`` and only then times ``2 (x - y)`` (``PowBackward0``), so the
    infinities and NaN fall where torch's do; ``v`` gets ``h / v - h ((x - y)^2 / v) / v``
    from the log and the quotient."""
    half = g * 0.5
    diff, half_over_var = x - y, half / var
    gx = half_over_var * (2.0 * diff)
    gy = -gx if y.requires_grad else None  # (the target's and var's only when asked for)
    return gx, gy, half_over_var + -half * (diff**2 / var / var) if var.requires_grad else None


_GAUSSIAN_NLL = Pointwise(
    # torch's composite ends with 0.5 * (...), then + const when full
    node=by_reduction(lambda full: "AddBackward0" if full else "MulBackward0"),
    block=_gaussian_nll_block,
    block_sum=_gaussian_nll_sum,
    sum_applies_scale=True,
    composite_gradients=_gaussian_nll_gradients,
    composite=_gaussian_nll_composite,
    antisymmetric=True,
)


def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Tensor | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of ``target ~ Normal(input, var)``.

    Unreduced: ``l = 0.5 (log v + (x - y)^2 / v)`` with ``v = max(var, eps)``, plus
    ``0.5 log(2 pi)`` if ``full``. Gradient ``dl/dx = (x - y) / v``, ``dl/dy = -(x - y) / v``,
    ``dl/dvar = 0.5 (1/v - (x - y)^2 / v^2)`` (through the clamp, see Note).

    Args:
        input: means, ``(N, *)`` or ``(*)``.
        target: samples, the same shape (or broadcastable with one size-1 dim).
        var: variances: the input's shape, the input's shape without its last dim, the same
            ndim with exactly one mismatched dim of size 1, or a Python float.
        full: add the constant ``0.5 log(2 pi)``. Default False.
        eps: lower clamp of the variance. Default 1e-6.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        The loss: a scalar, or the broadcast shape for ``reduction='none'``.

    Note:
        As in torch: the clamp at ``eps`` is applied under no_grad, so the gradient passes
        straight through it (var = 0 gives d/dvar about -5e11 with eps = 1e-6); any negative
        variance raises ValueError; a var of the wrong size raises ValueError; an int var raises
        TypeError. Second derivatives w.r.t. input, target and var.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> x, y = torch.tensor([0., 1.]), torch.tensor([1., 1.])
        >>> F.gaussian_nll_loss(x, y, torch.tensor([1., 2.]))
        tensor(0.4233)
    """
    target = _checks.number_as_tensor(target, input, "Tensor - {}")
    if isinstance(var, float):
        var = var * Tensor._make(np.ones_like(input._data))
    if (_checks.check_tensor(var, "var")._data < 0).any():
        raise ValueError(f"var has negative entry/entries (min {var._data.min()!r})")
    if var.shape != input.shape and input.shape[:-1] == var.shape:
        var = var.unsqueeze(-1)  # one variance for the last dim
    mismatched = sum(v for i, v in zip(input.shape, var.shape, strict=False) if i != v)
    if var.shape != input.shape and (var.dim() != input.dim() or mismatched != 1):
        raise ValueError(f"var is of incorrect size: {var.size()} for input of size {input.size()}")
    reduction = _reduction.resolve(reduction, alias=False)
    _checks.check_float_result(var._data.dtype, var._data.dtype)  # torch's clamp_ of an int var
    var = _ClampMinStraightThrough.apply(var, eps)  # torch's in-place clamp under no_grad
    # (a broadcast var that requires grad takes torch's composite: it sums the log term's
    # gradient over the broadcast dims before dividing by var)
    return _pointwise(_GAUSSIAN_NLL, (input, target, var), reduction, (full,))


# -- multilabel_soft_margin_loss -------------------------------------------------------------------


def _multilabel_soft_margin_block(
    x: np.ndarray, y: np.ndarray, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """torch's two log-sigmoids ``l = y softplus(-x) + (1 - y) softplus(x)``, each term
    accurate (binary_cross_entropy_with_logits's ``(1 - y) x + softplus(-x)`` cancels at
    ``x = -1000``, ``y = 1e-4``), as ``log1p(u) + x (s - y)`` with ``u = exp(-|x|)`` and
    ``s = [x >= 0]``, into ``loss``; ``dl/dx = sigmoid(x) - y = max(u, s) / (1 + u) - y`` into
    ``dldx``."""
    one, zeros = x.dtype.type(1), _parallel.filled(0, x.size, x.dtype)
    shared = np.negative(np.abs(x, out=scratch(x, 1)), out=scratch(x, 1))
    np.log1p(np.exp(shared, out=shared), out=loss)
    step = np.greater_equal(x, zeros, out=scratch(x, 2), casting="unsafe")
    np.divide(one, np.add(shared, one, out=dldx), out=dldx)
    dldx *= np.maximum(shared, step, out=shared)
    dldx -= y
    loss += np.multiply(np.subtract(step, y, out=step), x, out=step)
    return loss


# torch's composite ends with a negation; reduced over all elements (the default 'mean'
# without weights), with ``mean``, by binary_cross_entropy_with_logits's fused sum where that
# does not cancel (else None: the accurate kernel's)
_MULTILABEL_SOFT_MARGIN = Pointwise(
    node=by_reduction("NegBackward0"),
    block=_multilabel_soft_margin_block,
    block_sum=lambda x, y, loss, dldx: _bce_logits_sum(x, y, None, None, loss, dldx),
    gradients=_bce_logits_gradients,  # (sigmoid(x) - y) g and -x g, over the count
    composite=lambda x, y: -(y * logsigmoid(x) + (1.0 - y) * logsigmoid(-x)),
)


def multilabel_soft_margin_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Multi-label one-versus-all logistic loss; the class dim is the last one.

    Per sample: ``l_n = -(1/C) sum_c w_c [y_c log sigmoid(x_c) + (1 - y_c) log sigmoid(-x_c)]``.
    Gradient ``dl_n/dx_c = w_c (sigmoid(x_c) - y_c) / C``; ``dl_n/dy_c = -w_c x_c / C``.

    Args:
        input: ``(N, C)`` (or ``(C)``, or ``(N, *, C)``) logits.
        target: the same shape, values in [0, 1].
        weight: class weights broadcast elementwise before the mean over C (differentiable, as
            in torch). Default None.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        The loss: a scalar, or the input's shape without the class dim for ``'none'``.

    Note:
        Each element is one fused kernel of torch's two log-sigmoids, each term accurate on
        its own (binary_cross_entropy_with_logits's shorter ``(1 - y) x + softplus(-x)``
        cancels in float32 for large negative logits and small targets). A 0-d input raises
        IndexError, as in torch. Second derivatives w.r.t. input, target and weight.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.multilabel_soft_margin_loss(torch.tensor([[2., -1.]]), torch.tensor([[1., 0.]]))
        tensor(0.2201)
    """
    reduction = _reduction.legacy(reduction, size_average, reduce)
    _checks.check_tensor_arguments("log_sigmoid", input=input)
    target = _checks.number_as_tensor(target, input, "{} * Tensor")
    _checks.check_float_kernel(input._data.dtype, "log_sigmoid_cpu")
    # -(y log sigmoid(x) + (1 - y) log sigmoid(-x)) in one kernel (torch composes ~8 ops)
    _, (x, y) = promote(input, target)
    class_dim = input.dim() - 1
    # torch's mean of the samples' means over classes is the mean over all elements (the
    # reduced kernel, no per-sample sums) unless the target broadcasts the classes (torch
    # divides by input.size(-1), not by their count) or the operands are float16 (each op
    # rounds: the driver takes torch's composite)
    mean_is_flat = _checks.broadcast_shape(x, y) == input.shape and x._data.dtype != np.float16
    elementwise = _reduction.mean_of_equal_groups_is_elementwise(reduction)
    if weight is None and class_dim >= 0 and elementwise and mean_is_flat:
        return _pointwise(_MULTILABEL_SOFT_MARGIN, (x, y), "mean")
    loss = _pointwise(_MULTILABEL_SOFT_MARGIN, (x, y), "none")
    loss = loss if weight is None else loss * weight
    loss = loss.sum(dim=class_dim) / input.size(class_dim)  # (a 0-d input: torch's IndexError)
    return _reduction.apply(loss, _reduction.resolve(reduction, alias=False))


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
