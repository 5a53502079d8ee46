"""Regression losses: l1_loss, mse_loss, smooth_l1_loss, huber_loss.

Each functional follows DESIGN.md §5: resolve the reduction, validate, compute, reduce.

mse, smooth_l1 and huber are functions of the difference ``d = input - target`` only, and run as
one fused pair of ops, the way torch's kernels do: a forward (:class:`_DiffLoss`) that reads each
input once and reduces inside, and a backward op (:class:`_DiffLossGrad`) that writes the input
gradient in one pass. The backward op's own backward is written with lossgrad ops, so second
(and higher) derivatives work and follow torch's double-backward formulas, kinks included.
l1 is fused the same way (torch composes ``abs(input - target)``; the gradient ``sgn(d)`` is 0 at
``d = 0`` in both).

Speed (DESIGN.md §6): when a gradient is needed the forward also writes the slope of each element
(``d``, ``clamp(d, -delta, delta)``, ``sgn(d)``) into an array it keeps, so the usual first-order
backward (``backward_array``) is a single in-place scaling of that array, which becomes the
gradient; the NumPy passes run in one large block per thread (:func:`_parallel.wide_block`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _parallel
from lossgrad._backend import clip as _clip
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction, backward_via_tensors
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.nn.functional._checks import scalar_type_name as _tn
from lossgrad.ops._common import promote, sgn_into
from lossgrad.ops.pointwise import abs as _abs
from lossgrad.ops.pointwise import lt, mul, neg, sub


def _take_kept(ctx: Any) -> np.ndarray | None:
    """The array a fused forward kept on ``ctx`` for its first-order backward, to be overwritten
    by it: handed over on the node's last use (``ctx.last_use``), a copy while the graph is
    retained; None when there is none. Raises torch's errors for a freed graph or an operand
    modified in place since the forward."""
    kept = getattr(ctx, "kept", None)
    if kept is None:
        return None
    ctx._saved_arrays()
    if not ctx.last_use:
        return kept.copy()
    ctx.kept = None
    return kept


def _map_blocks(fn: Callable[[int, int], Any], n: int) -> list[Any]:
    """:func:`_parallel.map_blocks` over blocks of :func:`_parallel.wide_block`."""
    return _parallel.map_blocks(fn, n, _parallel.wide_block(n))


class _DiffLoss(ArrayFunction):
    """Base of the fused losses ``l = f(input - target)``; subclasses give ``value`` (f) and
    ``slope`` (f') on arrays, ``curvature`` (f'') on Tensors, and their gradient op ``grad``.

    The blocked forward (:meth:`kernel`, :meth:`kernel_total`) also writes ``s(d)``, where
    ``f'(d) = k s(d)`` (:meth:`factored_slope`), into an array it keeps on ``ctx`` when a
    gradient is needed: the first-order backward (:meth:`backward_array`) is then one in-place
    multiply of that array, which nobody else sees, by ``k`` times the reduction's scale.
    """

    grad: type[_DiffLossGrad]

    @classmethod
    def factored_slope(cls, p: float) -> tuple[float, Callable[[np.ndarray, float], np.ndarray]]:
        """``(k, s)`` with ``f'(d) = k s(d)``: a scalar gradient takes the constant ``k`` into
        its scale, so the cheaper ``s`` saves a pass (default ``(1, slope)``)."""
        return 1.0, cls.slope

    @staticmethod
    def value(d: np.ndarray, p: float) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def slope(d: np.ndarray, p: float) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def curvature(d: Tensor, p: float) -> Tensor | float:
        raise NotImplementedError

    @staticmethod
    def kernel(
        x: np.ndarray, y: np.ndarray, s: np.ndarray, out: np.ndarray, p: float
    ) -> np.ndarray:
        """One block: ``f(x - y)`` into ``out`` (returned) and ``s(x - y)`` into ``s``."""
        raise NotImplementedError

    @staticmethod
    def kernel_total(x: np.ndarray, y: np.ndarray, s: np.ndarray, buf: np.ndarray, p: float) -> Any:
        """One block: the sum of ``f(x - y)`` (``buf`` is scratch), and ``s(x - y)`` into ``s``."""
        raise NotImplementedError

    @staticmethod
    def forward(
        ctx: Any, input: np.ndarray, target: np.ndarray, reduction: str, p: float
    ) -> np.ndarray:
        ctx.save_for_backward(input, target)
        ctx.reduction, ctx.p = reduction, p
        cls = ctx._forward_cls
        xy = _parallel.flat(input, target)
        if xy is None:  # broadcast or strided operands: one unblocked pass
            return _reduction.reduce_array(cls.value(np.asarray(input - target), p), reduction)
        x, y = xy
        dt = x.dtype
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            kept = np.empty(input.shape, dt)
            ctx.kept = kept
            sf = kept.reshape(-1)

            def s_block(lo: int, hi: int) -> np.ndarray:
                return sf[lo:hi]

        else:

            def s_block(lo: int, hi: int) -> np.ndarray:
                return _parallel.scratch(hi - lo, dt, 3)

        kernel, kernel_total = cls.kernel, cls.kernel_total
        pre = ctx.prescale = _prescale(ctx, x.size, cls.factored_slope(p)[0])

        def block_total(lo: int, hi: int, buf: np.ndarray) -> Any:
            s = s_block(lo, hi)
            total = kernel_total(x[lo:hi], y[lo:hi], s, buf, p)
            if pre is not None:  # the gradient for g = 1, while the block is in cache
                np.multiply(s, pre, out=s)
            return total

        return _reduction.reduce_elementwise(
            lambda lo, hi, buf: kernel(x[lo:hi], y[lo:hi], s_block(lo, hi), buf, p),
            x.size,
            input.shape,
            dt,
            reduction,
            block_total,
        )

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        input, target = ctx.saved_tensors
        gi = ctx._forward_cls.grad.apply(g, input, target, ctx.reduction, ctx.p)
        return (
            (gi if ctx.needs_input_grad[0] else None),
            (neg(gi) if ctx.needs_input_grad[1] else None),
            None,
            None,
        )

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """The first derivative ``k s(d)`` times the reduction's scale, from the kept ``s(d)``
        (:func:`_take_kept`); without one (a broadcast forward), :meth:`backward`."""
        kept = _take_kept(ctx)
        if kept is None:
            return backward_via_tensors(ctx, g)
        needs = ctx.needs_input_grad
        if ctx.prescale is not None:  # kept holds the gradient for g = 1 already
            gi = _scaled_kept(ctx, kept, g if needs[0] else -g)
        else:  # unreduced: one factor per element
            gi = _scaled_kept(ctx, kept, g)
            k = ctx._forward_cls.factored_slope(ctx.p)[0]
            if k != 1.0:
                gi *= kept.dtype.type(k)
            if not needs[0]:
                np.negative(gi, out=gi)
        if needs[0]:
            return gi, (np.negative(gi) if needs[1] else None), None, None
        return None, gi, None, None


def _prescale(ctx: Any, n: int, k: float = 1.0) -> Any:
    """The factor a reduced fused loss's forward multiplies its kept slopes by, so that they
    are already the gradient for an upstream gradient of 1 (``k / n`` for 'mean' and kl_div's
    'batchmean', ``n`` the divisor, ``k`` for 'sum', computed as the backward would; ``k`` a
    constant factor of the slope): the usual ``loss.backward()`` then hands them out with no
    pass at all (:func:`_scaled_kept`). None when nothing is kept or the loss is unreduced."""
    if ctx.reduction == "none" or getattr(ctx, "kept", None) is None:
        return None
    t = ctx.kept.dtype.type
    f = t(1) / t(n) if ctx.reduction in ("mean", "batchmean") and n else t(1)
    return f * t(k) if k != 1.0 else f


def _scaled_kept(ctx: Any, kept: np.ndarray, g: Any) -> np.ndarray:
    """The kept slopes (:func:`_take_kept`) times the upstream gradient ``g``, in place: nothing
    to do for a prescaled reduced loss (:func:`_prescale`) at ``g = 1``, one scaling pass over
    the pool at another scalar, one product with an unreduced loss's ``g``."""
    if ctx.prescale is not None:
        return kept if g == 1 else _parallel.scale(kept, g)
    return np.multiply(kept, g, out=kept)


def _identity(d: np.ndarray, p: float) -> np.ndarray:
    return d


class _DiffLossGrad(ArrayFunction):
    """``dL/dinput = scale(g) * f'(input - target)`` in one pass; differentiable again."""

    loss: type[_DiffLoss]

    @staticmethod
    def forward(
        ctx: Any, g: np.ndarray, input: np.ndarray, target: np.ndarray, reduction: str, p: float
    ) -> np.ndarray:
        ctx.save_for_backward(g, input, target)
        ctx.reduction, ctx.p = reduction, p
        slope = ctx._forward_cls.loss.slope
        if reduction == "mean" and input.size:
            g = g / g.dtype.type(input.size)
        xy = _parallel.flat(input, target)
        gf = None if g.size == 1 else _parallel.flat(g, input)
        if xy is None or (g.size != 1 and gf is None):
            out = slope(np.asarray(input - target), p)
            return np.multiply(out, g, out=out)
        (x, y), out = xy, np.empty(input.shape, input.dtype)
        o = out.reshape(-1)
        gs = g.reshape(()) if gf is None else gf[0]  # the scalar, or the flat g sliced per block
        if gf is None:  # f' = k s(d): k folds into the scalar (mse: s = identity, two passes)
            k, slope = ctx._forward_cls.loss.factored_slope(p)
            if k != 1.0:
                gs = gs * gs.dtype.type(k)

        def block(lo: int, hi: int) -> None:
            d = slope(np.subtract(x[lo:hi], y[lo:hi], out=o[lo:hi]), p)
            np.multiply(d, gs if gf is None else gs[lo:hi], out=o[lo:hi])

        _map_blocks(block, x.size)
        return out

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        g, input, target = ctx.saved_tensors
        cls, reduction, p = ctx._forward_cls, ctx.reduction, ctx.p
        n = input._data.size
        gg_g = gi = gt = None
        if ctx.needs_input_grad[0]:  # the gradient is linear in g: d/dg = reduce(gg * f'(d))
            gg_g = _reduction.apply(cls.apply(gg, input, target, "none", p), reduction)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            h = mul(
                mul(gg, _reduction.grad_scale(g, reduction, n)),
                cls.loss.curvature(sub(input, target), p),
            )
            gi = h if ctx.needs_input_grad[1] else None
            gt = neg(h) if ctx.needs_input_grad[2] else None
        return gg_g, gi, gt, None, None


class _L1Loss(_DiffLoss):
    """``|d|``; slope ``sgn(d)`` (0 at 0, as torch's ``abs``)."""

    node_name = "L1LossBackward0"

    @staticmethod
    def value(d: np.ndarray, p: float) -> np.ndarray:
        return np.abs(d, out=d)

    @staticmethod
    def slope(d: np.ndarray, p: float) -> np.ndarray:
        return sgn_into(d, d)

    @staticmethod
    def kernel(
        x: np.ndarray, y: np.ndarray, s: np.ndarray, out: np.ndarray, p: float
    ) -> np.ndarray:
        d = np.subtract(x, y, out=out)
        sgn_into(d, s)
        return np.abs(d, out=d)

    @staticmethod
    def kernel_total(x: np.ndarray, y: np.ndarray, s: np.ndarray, buf: np.ndarray, p: float) -> Any:
        d = np.subtract(x, y, out=buf)
        return _parallel.total(d, sgn_into(d, s))  # sum |d| = d . sgn(d) (NaN where d is)

    @staticmethod
    def curvature(d: Tensor, p: float) -> float:
        return 0.0


class _L1LossGrad(_DiffLossGrad):
    node_name = "L1LossBackwardBackward0"
    loss = _L1Loss


class _MseLoss(_DiffLoss):
    """``d^2``."""

    node_name = "MseLossBackward0"

    @classmethod
    def factored_slope(cls, p: float) -> tuple[float, Callable[[np.ndarray, float], np.ndarray]]:
        return 2.0, _identity

    @staticmethod
    def value(d: np.ndarray, p: float) -> np.ndarray:
        return np.multiply(d, d, out=d)

    @staticmethod
    def kernel(
        x: np.ndarray, y: np.ndarray, s: np.ndarray, out: np.ndarray, p: float
    ) -> np.ndarray:
        d = np.subtract(x, y, out=s)
        return np.multiply(d, d, out=out)

    @staticmethod
    def kernel_total(x: np.ndarray, y: np.ndarray, s: np.ndarray, buf: np.ndarray, p: float) -> Any:
        d = np.subtract(x, y, out=s)
        return _parallel.total(d, d)  # one dot product, no squared temporary

    @staticmethod
    def slope(d: np.ndarray, p: float) -> np.ndarray:
        return np.add(d, d, out=d)

    @staticmethod
    def curvature(d: Tensor, p: float) -> float:
        return 2.0


class _MseLossGrad(_DiffLossGrad):
    node_name = "MseLossBackwardBackward0"
    loss = _MseLoss


def _huber_value(d: np.ndarray, delta: float, scale: float | None) -> np.ndarray:
    """Huber's ``0.5 d^2`` / ``delta (|d| - 0.5 delta)`` (times ``scale``), in place in ``d``.

    Branch-free in four passes (DESIGN §5): with ``q = clamp(d, -delta, delta)`` the loss is
    ``q (d - q / 2)``, which is ``d^2 / 2`` inside and ``delta |d| - delta^2 / 2`` outside.
    """
    t = d.dtype.type
    q = _clip(d, t(-delta), t(delta), out=_parallel.scratch(d.size, d.dtype, 1).reshape(d.shape))
    return _huber_from_clamp(d, q, scale)


def _huber_from_clamp(d: np.ndarray, q: np.ndarray, scale: float | None) -> np.ndarray:
    """:func:`_huber_value` given ``q = clamp(d, -delta, delta)``, into ``d``."""
    t = d.dtype.type
    h = np.multiply(q, t(-0.5), out=_parallel.scratch(d.size, d.dtype, 2).reshape(d.shape))
    h += d
    if scale is not None:
        h *= t(scale)
    return np.multiply(h, q, out=d)


def _huber_kernel(
    x: np.ndarray, y: np.ndarray, q: np.ndarray, out: np.ndarray, delta: float, scale: float | None
) -> np.ndarray:
    """One block of huber (``scale``: smooth_l1's ``1 / beta``) into ``out``, its clamped
    difference ``q`` into ``q``."""
    d = np.subtract(x, y, out=out)
    return _huber_from_clamp(d, _clip(d, -delta, delta, out=q), scale)


def _huber_kernel_total(
    x: np.ndarray, y: np.ndarray, q: np.ndarray, buf: np.ndarray, delta: float, scale: float | None
) -> Any:
    """The sum of :func:`_huber_kernel` over a block: ``q.d - q.q / 2`` in two passes and two
    dot products (no cancellation: elementwise ``0 <= q q <= q d``, as ``|q| <= |d|``, same sign).
    """
    if x.dtype.char not in "fd":  # half precision: the elementwise sum
        _huber_kernel(x, y, q, buf, delta, scale)
        return _parallel.total(buf)
    t = x.dtype.type
    d = np.subtract(x, y, out=buf)
    _clip(d, -delta, delta, out=q)
    s = _parallel.total(q, d) - t(0.5) * _parallel.total(q, q)
    return s if scale is None else s * t(scale)


class _SmoothL1Loss(_DiffLoss):
    """``0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``."""

    node_name = "SmoothL1LossBackward0"

    @staticmethod
    def value(d: np.ndarray, beta: float) -> np.ndarray:
        return _huber_value(d, beta, 1.0 / beta)

    @staticmethod
    def kernel(
        x: np.ndarray, y: np.ndarray, s: np.ndarray, out: np.ndarray, beta: float
    ) -> np.ndarray:
        return _huber_kernel(x, y, s, out, beta, 1.0 / beta)

    @staticmethod
    def kernel_total(
        x: np.ndarray, y: np.ndarray, s: np.ndarray, buf: np.ndarray, beta: float
    ) -> Any:
        return _huber_kernel_total(x, y, s, buf, beta, 1.0 / beta)

    @staticmethod
    def slope(d: np.ndarray, beta: float) -> np.ndarray:
        b = d.dtype.type(beta)
        return _clip(np.divide(d, b, out=d), -1, 1, out=d)

    @classmethod
    def factored_slope(cls, beta: float) -> tuple[float, Callable[[np.ndarray, float], np.ndarray]]:
        return 1.0 / beta, _HuberLoss.slope  # clamp(d / beta, -1, 1) = clamp(d, -beta, beta) / beta

    @staticmethod
    def curvature(d: Tensor, beta: float) -> Tensor:
        return lt(_abs(d), beta).to(d.dtype) / beta


class _SmoothL1LossGrad(_DiffLossGrad):
    node_name = "SmoothL1LossBackwardBackward0"
    loss = _SmoothL1Loss


class _HuberLoss(_DiffLoss):
    """``0.5 d^2`` if ``|d| < delta`` else ``delta (|d| - 0.5 delta)``."""

    node_name = "HuberLossBackward0"

    @staticmethod
    def value(d: np.ndarray, delta: float) -> np.ndarray:
        return _huber_value(d, delta, None)

    @staticmethod
    def kernel(
        x: np.ndarray, y: np.ndarray, s: np.ndarray, out: np.ndarray, delta: float
    ) -> np.ndarray:
        return _huber_kernel(x, y, s, out, delta, None)

    @staticmethod
    def kernel_total(
        x: np.ndarray, y: np.ndarray, s: np.ndarray, buf: np.ndarray, delta: float
    ) -> Any:
        return _huber_kernel_total(x, y, s, buf, delta, None)

    @staticmethod
    def slope(d: np.ndarray, delta: float) -> np.ndarray:
        return _clip(d, -delta, delta, out=d)

    @staticmethod
    def curvature(d: Tensor, delta: float) -> Tensor:
        return lt(_abs(d), delta).to(d.dtype)


class _HuberLossGrad(_DiffLossGrad):
    node_name = "HuberLossBackwardBackward0"
    loss = _HuberLoss


_L1Loss.grad, _MseLoss.grad = _L1LossGrad, _MseLossGrad
# torch's l1_loss is a composite whose grad_fn is named after its last op: abs, mean or sum
_L1_BY_REDUCTION = {
    r: type(f"_L1Loss_{r}", (_L1Loss,), {"node_name": name})
    for r, name in (("none", "AbsBackward0"), ("mean", "MeanBackward0"), ("sum", "SumBackward0"))
}
_SmoothL1Loss.grad, _HuberLoss.grad = _SmoothL1LossGrad, _HuberLossGrad


def _fused(
    cls: type[_DiffLoss], name: str, input: Tensor, target: Tensor, reduction: str, p: float
) -> Tensor:
    """Promote, broadcast (torch's ``broadcast_tensors``) and run a fused difference loss."""
    _, (x, y) = promote(input, target)
    x, y = _checks.broadcast_pair(x, y)
    if x._data.dtype.kind != "f":
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{_tn(x._data.dtype)}'")
    return cls.apply(x, y, reduction, p)


def _weighted(loss: Tensor, weight: Tensor, reduction: str, weighted_mean: bool) -> Tensor:
    """torch's functional-only ``weight`` path of l1/mse/huber; the reduction is checked here, as
    in torch (so ``'elementwise_mean'`` is rejected)."""
    reduction = _reduction.resolve(reduction, alias=False)
    loss = loss * weight
    if reduction == "mean" and weighted_mean:
        return _reduction.apply(loss, reduction, denominator=weight.sum())
    return _reduction.apply(loss, reduction)


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
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
        loss = _fused(_L1Loss, "l1", input, target, "none", 0.0)
        return _weighted(loss, weight, reduction, weighted_mean=True)
    reduction = _reduction.resolve(reduction)
    return _fused(_L1_BY_REDUCTION[reduction], "l1", input, target, reduction, 0.0)


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
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
        return _weighted(sub(x, y) ** 2, weight, reduction, weighted_mean=True)
    return _fused(_MseLoss, "mse", input, target, _reduction.resolve(reduction), 0.0)


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        beta: where the loss turns from quadratic to linear; ``>= 0``. Default 1.0.

    Returns:
        The loss: a scalar, or the broadcast shape for ``reduction='none'``.

    Note:
        As in torch: ``beta == 0`` is exactly :func:`l1_loss`; ``beta < 0`` raises RuntimeError;
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
    reduction = _reduction.resolve(reduction)
    if beta < 0:
        raise RuntimeError(
            f"smooth_l1_loss does not support negative values for beta, got beta={beta}."
        )
    return _fused(_SmoothL1Loss, "smooth_l1", input, target, reduction, beta)


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
    if delta <= 0:
        raise RuntimeError(
            f"huber_loss does not support non-positive values for delta, got delta={delta}."
        )
    if input._data.dtype.kind == "f" and target._data.dtype != input._data.dtype:
        target = target.to(input.dtype)  # torch's huber keeps the input's dtype
    elif input._data.dtype.kind != "f" and target._data.dtype.kind == "f":
        raise RuntimeError(
            f"result type {_tn(target._data.dtype)} can't be cast to the desired "
            f"output type {_tn(input._data.dtype)}"
        )
    if weight is None:
        return _fused(_HuberLoss, "huber", input, target, _reduction.resolve(reduction), delta)
    _checks.check_weight_size(weight, input)
    loss = _fused(_HuberLoss, "huber", input, target, "none", delta)
    return _weighted(loss, weight, reduction, weighted_mean=False)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
