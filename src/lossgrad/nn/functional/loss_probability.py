"""Probability losses: binary_cross_entropy(_with_logits), kl_div, poisson_nll_loss,
gaussian_nll_loss, soft_margin_loss, multilabel_soft_margin_loss.

Each functional follows DESIGN.md §5: resolve the reduction, validate, compute, reduce.

binary_cross_entropy, binary_cross_entropy_with_logits and soft_margin_loss are torch kernels and
run here as fused ops (one forward pass that reduces inside, one gradient op written in NumPy);
the gradient ops' own backwards use lossgrad ops (torch's double-backward formulas), so second
and higher derivatives work. multilabel_soft_margin_loss reuses the BCE-with-logits kernel per
element. kl_div runs a fused forward whose backward uses the ops torch's composite goes through.
poisson_nll_loss and gaussian_nll_loss are composites in torch and are written with the same ops
in the same order, so their values, gradients, NaN policy and second derivatives follow torch's
by construction.

The NumPy kernels are branch-free (``clip`` rather than ``where``/``maximum``): NumPy's ``where``
on a data-dependent mask costs an order of magnitude more than a SIMD pass. Where the first-order
backward needs an exponential or ratio the forward already computed (``exp(-z)`` of the logistic
losses, poisson's ``exp(x)``, gaussian's ``(x - y) / v``), the forward keeps it and
``backward_array`` turns it into the gradient in place (no second exponential); the reduced sums
use dot products, and the blocks are one per thread (:func:`lossgrad._parallel.wide_block`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from lossgrad import _parallel
from lossgrad._backend import clip as _clip
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction, backward_via_tensors
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.nn.functional._checks import scalar_type_name as _tn
from lossgrad.nn.functional import _kept
from lossgrad.ops._common import promote, sum_to_shape
from lossgrad.ops.activation import logsigmoid
from lossgrad.ops.index import masked_fill
from lossgrad.ops.pointwise import (
    _np_sigmoid,
    clamp_min,
    div,
    exp,
    le,
    log,
    mul,
    ne,
    neg,
    reciprocal,
    rsub,
    sigmoid,
    sub,
)


def _take_kept(ctx: Any) -> np.ndarray | None:
    return _kept.take(ctx)


def _scaled_kept(ctx: Any, kept: np.ndarray, g: Any) -> np.ndarray:
    return _kept.times_upstream(kept, g, reduced=ctx.prescale is not None)


def _prescale(ctx: Any, n: int, k: float = 1.0) -> Any:
    if ctx.reduction == "none" or getattr(ctx, "kept", None) is None:
        return None
    t = ctx.kept.dtype.type
    f = t(1) / t(n) if ctx.reduction in ("mean", "batchmean") and n else t(1)
    return f * t(k) if k != 1.0 else f


def _map_blocks(fn: Callable[[int, int], Any], n: int) -> list[Any]:
    return _parallel.map_blocks(fn, n, _parallel.wide_block(n))

_BCE_EPS = 1e-12  # torch's EPSILON in binary_cross_entropy's backward


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


def _broadcast_into(t: Tensor | None, shape: tuple[int, ...]) -> None:
    """torch multiplies weights in place into the loss: they must broadcast *to* its shape."""
    if t is not None and np.broadcast_shapes(t._data.shape, shape) != shape:
        raise RuntimeError(
            f"output with shape {list(shape)} doesn't match the broadcast shape "
            f"{list(np.broadcast_shapes(t._data.shape, shape))}"
        )


def _fusable(dt: np.dtype, *operands: Tensor) -> bool:
    """Whether a composite loss can run as its fused op: float operands of a float result (other
    dtypes take the composite, with torch's integer semantics and errors)."""
    return dt.kind == "f" and all(t._data.dtype.kind == "f" for t in operands)


def _broadcastable(*operands: Tensor) -> bool:
    """Whether the operands broadcast together (if not, the composite raises torch's error)."""
    try:
        np.broadcast_shapes(*(t._data.shape for t in operands))
    except ValueError:
        return False
    return True


# -- binary_cross_entropy --------------------------------------------------------------------------


class _BinaryCrossEntropy(ArrayFunction):
    """``-w [y max(log x, -100) + (1 - y) max(log(1 - x), -100)]``, reduced, in one pass."""

    node_name = "BinaryCrossEntropyBackward0"

    @staticmethod
    def forward(
        ctx: Any, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, reduction: str
    ) -> np.ndarray:
        for arr, name in ((x, "input"), (y, "target")):
            if arr.size and not _in_unit_interval(arr):
                bad = ~((arr >= 0) & (arr <= 1))
                raise RuntimeError(
                    f"all elements of {name} should be between 0 and 1 (found {arr[bad].flat[0]!r})"
                )
        ctx.save_for_backward(x, y, w)
        ctx.reduction = reduction
        t = x.dtype.type
        xy = _parallel.flat(x, y) if w is None else None
        if xy is not None:  # in cache-sized blocks
            xf, yf = xy
            need = ctx.needs_input_grad
            slope_block = _kept_blocks(ctx, x, need[0] and not need[1])
            pre = ctx.prescale = _prescale(ctx, x.size)

            def kernel(lo: int, hi: int, buf: np.ndarray) -> np.ndarray:
                xb, yb = xf[lo:hi], yf[lo:hi]
                if need[0] and not need[1]:  # the input's gradient, kept (prescaled)
                    sb = _bce_slope_into(xb, yb, slope_block(lo, hi))
                    if pre is not None and pre != 1:
                        sb *= pre
                lg = np.negative(xb, out=_parallel.scratch(hi - lo, x.dtype, 1))
                _clip(np.log1p(lg, out=lg), t(-100), t(np.inf), out=lg)
                np.subtract(yb, t(1), out=buf)
                buf *= lg
                _clip(np.log(xb, out=lg), t(-100), t(np.inf), out=lg)
                lg *= yb
                buf -= lg
                return buf

            return _reduction.reduce_elementwise(kernel, x.size, x.shape, x.dtype, reduction)
        log_x = _clip(np.log(x), t(-100), t(np.inf))
        log_1mx = _clip(np.log1p(-x), t(-100), t(np.inf))
        loss = (y - t(1)) * log_1mx
        loss -= y * log_x
        if w is not None:
            loss *= w
        return _reduction.reduce_array(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x, y, w = ctx.saved_tensors
        gi = gt = None
        if ctx.needs_input_grad[0]:
            gi = _BinaryCrossEntropyGrad.apply(g, x, y, w, ctx.reduction)
        if ctx.needs_input_grad[1]:  # torch: -logit(x) * g * w
            gt = mul(
                neg(log(x / rsub(x, 1.0))), _reduction.grad_scale(g, ctx.reduction, x._data.size)
            )
            gt = mul(gt, w) if w is not None else gt
        return gi, gt, None, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """The input's gradient as arrays: the kept one times ``g``, else :func:`_bce_grad`."""
        if ctx.needs_input_grad[1]:
            return backward_via_tensors(ctx, g)
        kept = _take_kept(ctx)
        if kept is not None:
            return _scaled_kept(ctx, kept, g), None, None, None
        x, y, w = ctx._saved_arrays()
        return _bce_grad(g, x, y, w, ctx.reduction), None, None, None


def _in_unit_interval(a: np.ndarray) -> bool:
    """Whether every element of ``a`` lies in ``[0, 1]`` (NaN does not). For float32/64 first
    one pass over the bits as unsigned integers, which are ordered like the floats from +0 to
    1 and above 1's bits for anything negative (-0.0 included), NaN or above 1; the two-pass
    test only when that one fails."""
    if a.dtype.char in "fd":
        bits = a.view(np.uint32 if a.dtype.char == "f" else np.uint64)
        if bits.max() <= bits.dtype.type(a.dtype.type(1).view(bits.dtype)):
            return True
    return bool(a.min() >= 0 and a.max() <= 1)


def _bce_slope_into(xb: np.ndarray, yb: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``(x - y) / max(x (1 - x), 1e-12)`` of one block into ``out`` (returned)."""
    t = xb.dtype.type
    den = np.subtract(t(1), xb, out=_parallel.scratch(xb.size, xb.dtype, 1))
    den *= xb
    _clip(den, t(_BCE_EPS), t(np.inf), out=den)
    np.subtract(xb, yb, out=out)
    return np.divide(out, den, out=out)


def _bce_grad(
    g: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, reduction: str
) -> np.ndarray:
    """The array of :class:`_BinaryCrossEntropyGrad`: ``w (x - y) / max(x (1 - x), 1e-12)``
    times the reduction's scale of ``g``."""
    t = x.dtype.type
    xy = _parallel.flat(x, y) if w is None else None
    if xy is not None:  # (x - y) / max(x (1 - x), eps) in blocks
        xf, yf = xy
        out = _grad_blocks(
            lambda lo, hi, ob: _bce_slope_into(xf[lo:hi], yf[lo:hi], ob), g, x, reduction
        )
        if out is not None:
            return out
    out = np.asarray(_clip((t(1) - x) * x, t(_BCE_EPS), t(np.inf)))
    np.divide(x - y, out, out=out)
    if w is not None:
        out *= w
    if reduction == "mean" and out.size:
        g = g / t(out.size)
    return np.multiply(out, g, out=out)


class _BinaryCrossEntropyGrad(ArrayFunction):
    """``w (x - y) / max(x (1 - x), 1e-12)`` times the reduction's scale; torch's formulas for its
    derivatives (binary_cross_entropy_double_backward)."""

    node_name = "BinaryCrossEntropyBackwardBackward0"

    @staticmethod
    def forward(
        ctx: Any, g: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, reduction: str
    ) -> np.ndarray:
        ctx.save_for_backward(g, x, y, w)
        ctx.reduction = reduction
        return _bce_grad(g, x, y, w, reduction)

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        g, x, y, w = ctx.saved_tensors
        reduction, n = ctx.reduction, x._data.size
        d_g = d_x = d_y = None
        if ctx.needs_input_grad[0]:
            d_g = _reduction.apply(_BinaryCrossEntropyGrad.apply(gg, x, y, w, "none"), reduction)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            h = mul(gg, _reduction.grad_scale(g, reduction, n))
            h = mul(h, w) if w is not None else h
            if ctx.needs_input_grad[1]:
                num = x * x - 2.0 * x * y + y
                d_x = h * num / ((x + _BCE_EPS) ** 2 * (rsub(x, 1.0) + _BCE_EPS) ** 2)
            if ctx.needs_input_grad[2]:
                d_y = neg(h) / clamp_min(rsub(x, 1.0) * x, _BCE_EPS)
        return d_g, d_x, d_y, None, None


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross entropy between probabilities ``input`` and ``target``.

    Unreduced: ``l = -w [y max(log x, -100) + (1 - y) max(log(1 - x), -100)]``. Gradient
    ``dl/dx = w (x - y) / max(x (1 - x), 1e-12)``; ``dl/dy = -w logit(x)``.

    Args:
        input: probabilities in [0, 1], any shape ``(*)``.
        target: the same shape (ValueError otherwise), values in [0, 1], same float dtype.
        weight: rescaling weight broadcast to the target's shape (not differentiable, as in
            torch). Default None.
        size_average, reduce: deprecated legacy flags (override ``reduction``).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

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
    if target._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"Found dtype {_tn(target._data.dtype)} but expected {_tn(input._data.dtype)}"
        )
    if weight is not None:
        _broadcast_into(weight, target._data.shape)
        weight = weight.to(input.dtype).expand(target._data.shape)
    if input._data.dtype.kind != "f":
        raise NotImplementedError(
            f"\"binary_cross_entropy\" not implemented for '{_tn(input._data.dtype)}'"
        )
    _not_differentiable("binary_cross_entropy", weight=weight)
    return _BinaryCrossEntropy.apply(input, target, weight, reduction)


# -- binary_cross_entropy_with_logits --------------------------------------------------------------


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    """``min(x, 0) - log1p(exp(-|x|))``: never exponentiates a positive number."""
    e = np.asarray(np.log1p(np.exp(-np.abs(x))))
    return np.subtract(_clip(x, x.dtype.type(-np.inf), x.dtype.type(0)), e, out=e)


_EXP_MAX: dict[np.dtype, Any] = {}


def _exp_max(dt: np.dtype) -> Any:
    """The largest integer ``T`` whose ``exp`` is finite in ``dt`` (88 for float32)."""
    t = _EXP_MAX.get(dt)
    if t is None:
        t = _EXP_MAX[dt] = dt.type(math.floor(math.log(float(np.finfo(dt).max))))
    return t


def _neg_exp_into(z: np.ndarray, u: np.ndarray, total: bool = False) -> Any:
    """``u = exp(w)``, ``w = min(-z, T)`` (:func:`_exp_max`: never overflows), for one block;
    returns the sum of ``w`` when ``total``.

    ``u`` is torch's ``exp(-z)`` wherever that is finite, so ``softplus(-z) = log1p(u) - z - w``
    and ``sigmoid(z) = 1 / (1 + u)``, ``sigmoid(-z) = u / (1 + u)`` are torch's formulas; past
    ``T`` the clamp keeps them finite (``sigmoid(z)`` is then below the dtype's smallest normal).
    A forward keeps ``u`` so that its backward needs no exponential.
    """
    w = np.negative(z, out=u)
    _clip(w, z.dtype.type(-np.inf), _exp_max(z.dtype), out=w)
    sw = _parallel.total(w) if total else None
    np.exp(w, out=w)
    return sw


def _softplus_neg_from(z: np.ndarray, u: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = softplus(-z) = log1p(u) + max(-z - T, 0)`` for one block, ``u`` from
    :func:`_neg_exp_into` (exact at ``z = +-inf``: 0 and inf)."""
    t = z.dtype.type
    excess = np.subtract(-_exp_max(z.dtype), z, out=out)
    _clip(excess, t(0), t(np.inf), out=excess)
    out += np.log1p(u, out=_parallel.scratch(z.size, z.dtype, 1))
    return out


def _sigmoid_into(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` of one block into ``out`` (a per-thread scratch buffer for the
    rest) in four passes, as torch's vectorized CPU kernel: accurate in both tails, and 0 where
    ``exp(-z)`` overflows (``z < -88`` in float32, where torch gives 0 as well)."""
    den = np.negative(z, out=_parallel.scratch(z.size, z.dtype, 1))
    np.exp(den, out=den)
    den += z.dtype.type(1)
    return np.divide(z.dtype.type(1), den, out=out)


def _grad_blocks(
    kernel: Callable[[int, int, np.ndarray], Any],
    g: np.ndarray,
    like: np.ndarray,
    reduction: str,
    out: np.ndarray | None = None,
) -> np.ndarray | None:
    """A fused gradient ``kernel(lo, hi, out_block)`` times the reduction's scale of ``g``, in
    blocks over the thread pool, into ``out`` (default: a new array; a kept array that the
    kernel turns into the gradient in place); None when ``g`` is neither a scalar nor flat like
    ``like``."""
    if reduction == "mean" and like.size:
        g = g / like.dtype.type(like.size)
    gf = None if g.size == 1 else _parallel.flat(g, like)
    if g.size != 1 and gf is None:
        return None
    if out is None:
        out = np.empty(like.shape, like.dtype)
    o = out.reshape(-1)
    gs = g.reshape(()) if gf is None else gf[0]  # the scalar, or the flat g sliced per block

    def block(lo: int, hi: int) -> None:
        ob = kernel(lo, hi, o[lo:hi])
        np.multiply(ob, gs if gf is None else gs[lo:hi], out=ob)

    _map_blocks(block, like.size)
    return out


def _kept_backward(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
    """The first-order backward of a loss whose forward kept its input's gradient per unit of
    loss (:func:`_finished`): that array times ``g``, in place (nothing to do at ``g = 1`` for a
    reduced loss); the input's gradient only. Without a kept array (a broadcast forward, or a
    target that needs a gradient too), the Tensor ``backward``."""
    kept = _take_kept(ctx)
    if kept is None:
        return backward_via_tensors(ctx, g)
    return (_scaled_kept(ctx, kept, g),) + (None,) * (len(ctx.needs_input_grad) - 1)


def _kept_blocks(ctx: Any, like: np.ndarray, keep: bool) -> Callable[[int, int], np.ndarray]:
    """Where a blocked forward writes what its backward needs (``u`` of :func:`_neg_exp_into`,
    poisson's ``exp(x)``) for flat elements ``lo:hi``: an array kept on ``ctx`` for the backward
    when ``keep``, else a per-thread scratch buffer."""
    if keep:
        kept = ctx.kept = np.empty(like.shape, like.dtype)
        flat = kept.reshape(-1)
        return lambda lo, hi: flat[lo:hi]
    dt = like.dtype
    return lambda lo, hi: _parallel.scratch(hi - lo, dt, 2)


def _reduce_finished(
    ctx: Any,
    x: np.ndarray,
    reduction: str,
    kernel: Callable[[int, int, np.ndarray], np.ndarray],
    fast: Callable[[int, int, np.ndarray], Any] | None,
    kept_block: Callable[[int, int], np.ndarray] | None,
    yf: np.ndarray,
    finish: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """:func:`_reduction.reduce_elementwise` of a blocked forward (``kernel``, ``fast``: its
    block total) whose blocks also finish the kept input gradient (:func:`_finished`)."""
    return _reduction.reduce_elementwise(
        _finished(ctx, kernel, kept_block, yf, finish),
        x.size,
        x.shape,
        x.dtype,
        reduction,
        _finished(ctx, fast, kept_block, yf, finish),
    )


def _exp_minus_target(eb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """poisson's ``exp(x) - y`` from the kept ``exp(x)``, in ``eb``."""
    return np.subtract(eb, yb, out=eb)


def _sigmoid_minus_target(ub: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """``sigmoid(x) - y = 1 / (1 + u) - y`` from ``u`` of :func:`_neg_exp_into`, in ``ub``."""
    t = ub.dtype.type
    ub += t(1)
    np.divide(t(1), ub, out=ub)
    return np.subtract(ub, yb, out=ub)


def _soft_margin_slope(ub: np.ndarray, yb: np.ndarray) -> np.ndarray:
    """``-y sigmoid(-y x) = -y u / (1 + u)`` from ``u`` of :func:`_neg_exp_into` (of ``y x``),
    in ``ub``."""
    den = np.subtract(ub.dtype.type(-1), ub, out=_parallel.scratch(ub.size, ub.dtype, 4))
    np.divide(ub, den, out=ub)  # -u / (1 + u)
    return np.multiply(ub, yb, out=ub)


def _identity(rb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    return rb


_BlockFn = TypeVar("_BlockFn", bound=Callable[..., Any] | None)


def _finished(
    ctx: Any,
    fn: _BlockFn,
    kept_block: Callable[[int, int], np.ndarray] | None,
    yf: np.ndarray,
    finish: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> _BlockFn:
    """A blocked forward's ``fn(lo, hi, buf)`` that also turns the block's kept array (from
    ``kept_block``, None when nothing is kept) into the input's gradient per unit of loss,
    ``finish(kept, target)`` in place, times the reduction's scale, while the block is in
    cache: :func:`_kept_backward` then hands it out."""
    if fn is None or kept_block is None:
        return fn
    pre = ctx.prescale = _prescale(ctx, ctx.kept.size)
    inner = fn

    def fn_finished(lo: int, hi: int, buf: np.ndarray) -> Any:
        out = inner(lo, hi, buf)
        kb = finish(kept_block(lo, hi), yf[lo:hi])
        if pre is not None and pre != 1:
            kb *= pre
        return out

    return cast(_BlockFn, fn_finished)


class _BinaryCrossEntropyWithLogits(ArrayFunction):
    """``w [(1 - y) x - (1 + (p - 1) y) log sigmoid(x)]``, reduced, in one pass."""

    node_name = "BinaryCrossEntropyWithLogitsBackward0"

    @staticmethod
    def forward(
        ctx: Any,
        x: np.ndarray,
        y: np.ndarray,
        w: np.ndarray | None,
        pw: np.ndarray | None,
        reduction: str,
    ) -> np.ndarray:
        ctx.save_for_backward(x, y, w, pw)
        ctx.reduction = reduction
        xy = _parallel.flat(x, y) if w is None and pw is None else None
        if xy is not None:  # the common case, in cache-sized blocks: (1 - y) x - log sigmoid(x)
            xf, yf = xy
            keep = ctx.needs_input_grad[0] and not ctx.needs_input_grad[1]
            u_block = _kept_blocks(ctx, x, keep)

            def kernel(lo: int, hi: int, buf: np.ndarray) -> np.ndarray:
                xb = xf[lo:hi]
                u = u_block(lo, hi)
                _neg_exp_into(xb, u)
                _softplus_neg_from(xb, u, buf)
                t = np.subtract(
                    x.dtype.type(1), yf[lo:hi], out=_parallel.scratch(hi - lo, x.dtype, 1)
                )
                t *= xb
                buf += t
                return buf

            def block_total(lo: int, hi: int, buf: np.ndarray) -> Any:
                # sum log1p(u) - sum w - x.y: two dot products replace four elementwise passes
                xb = xf[lo:hi]
                u = u_block(lo, hi)
                sw = _neg_exp_into(xb, u, total=True)
                s = _parallel.total(np.log1p(u, out=buf)) - sw - _parallel.total(xb, yf[lo:hi])
                # an infinite x makes inf - inf here: then the elementwise sum, as torch's
                return s if np.isfinite(s) else _parallel.total(kernel(lo, hi, buf))

            fast = block_total if x.dtype.char in "fd" else None  # half: elementwise sums
            kb = u_block if keep else None
            return _reduce_finished(ctx, x, reduction, kernel, fast, kb, yf, _sigmoid_minus_target)
        ls = _log_sigmoid(x)
        if pw is not None:
            ls *= (pw - 1) * y + 1
        loss = (1 - y) * x
        loss -= ls
        if w is not None:
            loss *= w
        return _reduction.reduce_array(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x, y, w, pw = ctx.saved_tensors
        gi = gt = None
        if ctx.needs_input_grad[0]:
            gi = _BinaryCrossEntropyWithLogitsGrad.apply(g, x, y, w, pw, ctx.reduction)
        if ctx.needs_input_grad[1]:  # torch: -x, or log sigmoid(-x) - p log sigmoid(x)
            gt = neg(x) if pw is None else sub(logsigmoid(neg(x)), mul(logsigmoid(x), pw))
            gt = mul(gt, w) if w is not None else gt
            gt = mul(gt, _reduction.grad_scale(g, ctx.reduction, x._data.size))
        return gi, gt, None, None, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """``(sigmoid(x) - y) g``, kept by the forward (:func:`_sigmoid_minus_target`)."""
        return _kept_backward(ctx, g)


class _BinaryCrossEntropyWithLogitsGrad(ArrayFunction):
    """``w [sigmoid(x) (1 + (p - 1) y) - p y]`` times the reduction's scale."""

    node_name = "BinaryCrossEntropyWithLogitsBackwardBackward0"

    @staticmethod
    def forward(
        ctx: Any,
        g: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        w: np.ndarray | None,
        pw: np.ndarray | None,
        reduction: str,
    ) -> np.ndarray:
        ctx.save_for_backward(g, x, y, w, pw)
        ctx.reduction = reduction
        xy = _parallel.flat(x, y) if w is None and pw is None else None
        if xy is not None:  # sigmoid(x) - y in blocks
            xf, yf = xy

            def kernel(lo: int, hi: int, ob: np.ndarray) -> np.ndarray:
                _sigmoid_into(xf[lo:hi], ob)
                return np.subtract(ob, yf[lo:hi], out=ob)

            out = _grad_blocks(kernel, g, x, reduction)
            if out is not None:
                return out
        out = np.asarray(_np_sigmoid(x))
        if pw is None:
            out -= y
        else:
            py = pw * y
            out *= py + 1 - y
            out -= py
        if w is not None:
            out *= w
        if reduction == "mean" and out.size:
            g = g / x.dtype.type(out.size)
        return np.multiply(out, g, out=out)

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        g, x, y, w, pw = ctx.saved_tensors
        reduction, n = ctx.reduction, x._data.size
        d_g = d_x = d_y = None
        if ctx.needs_input_grad[0]:
            d_g = _reduction.apply(
                _BinaryCrossEntropyWithLogitsGrad.apply(gg, x, y, w, pw, "none"), reduction
            )
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            h = mul(gg, _reduction.grad_scale(g, reduction, n))
            h = mul(h, w) if w is not None else h
            s = sigmoid(x)
            if ctx.needs_input_grad[1]:  # d/dx: sigmoid'(x) (1 + (p - 1) y)
                lw = 1.0 if pw is None else (pw - 1.0) * y + 1.0
                d_x = h * (s * rsub(s, 1.0)) * lw
            if ctx.needs_input_grad[2]:  # d/dy: (p - 1) sigmoid(x) - p, or -1
                d_y = neg(h) if pw is None else h * ((pw - 1.0) * s - pw)
        return d_g, d_x, d_y, None, None, None


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Binary cross entropy on logits (sigmoid folded in, stably).

    Unreduced, with ``p`` = pos_weight: ``l = w [(1 - y) x - (1 + (p - 1) y) log sigmoid(x)]``.
    Gradient ``dl/dx = w [sigmoid(x) (1 + (p - 1) y) - p y]``; ``dl/dy = -w x`` (without
    pos_weight) or ``w [log sigmoid(-x) - p log sigmoid(x)]``.

    Args:
        input: logits, any shape ``(*)``.
        target: the same shape (ValueError otherwise), float values (usually in [0, 1]).
        weight: rescaling weight, broadcastable to the input's shape. Default None.
        size_average, reduce: deprecated legacy flags (override ``reduction``).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        pos_weight: weight of positive examples, broadcast against the target (class dim last:
            ``(C,)`` for ``(N, C)``, ``(C, 1, 1)`` for ``(N, C, H, W)``). Default None.

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
    if target.shape != input.shape:
        raise ValueError(
            f"Target size ({target.size()}) must be the same as input size ({input.size()})"
        )
    if input._data.dtype.kind != "f":
        raise NotImplementedError(
            f"\"log_sigmoid_cpu\" not implemented for '{_tn(input._data.dtype)}'"
        )
    _not_differentiable("binary_cross_entropy_with_logits", weight=weight, pos_weight=pos_weight)
    for t in (pos_weight, weight):
        _broadcast_into(t, input._data.shape)
    out_dt = target._data.dtype
    dt, (x, y, *extra) = promote(input, target, *(t for t in (weight, pos_weight) if t is not None))
    if dt.kind != "f" or out_dt.kind != "f":
        raise RuntimeError(
            f"result type Float can't be cast to the desired output type {_tn(target._data.dtype)}"
        )
    w = extra.pop(0) if weight is not None else None
    pw = extra.pop(0) if pos_weight is not None else None
    loss = _BinaryCrossEntropyWithLogits.apply(x, y, w, pw, reduction)
    return loss if dt == out_dt else loss.to(out_dt)


# -- soft_margin_loss ------------------------------------------------------------------------------


class _SoftMarginLoss(ArrayFunction):
    """``log(1 + exp(-y x))`` as ``softplus(-y x)``, reduced, in one pass."""

    node_name = "SoftMarginLossBackward0"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, y: np.ndarray, reduction: str) -> np.ndarray:
        ctx.save_for_backward(x, y)
        ctx.reduction = reduction
        xy = _parallel.flat(x, y)
        if xy is None:
            return _reduction.reduce_array(-_log_sigmoid(y * x), reduction)
        xf, yf = xy
        keep = ctx.needs_input_grad[0]
        u_block = _kept_blocks(ctx, x, keep)

        def kernel(lo: int, hi: int, buf: np.ndarray) -> np.ndarray:  # softplus(-y x)
            z = np.multiply(yf[lo:hi], xf[lo:hi], out=_parallel.scratch(hi - lo, x.dtype, 4))
            u = u_block(lo, hi)
            _neg_exp_into(z, u)
            return _softplus_neg_from(z, u, buf)

        def block_total(lo: int, hi: int, buf: np.ndarray) -> Any:
            # sum log1p(u) - sum w - x.y (an infinite margin: the elementwise sum)
            xb, yb = xf[lo:hi], yf[lo:hi]
            u = u_block(lo, hi)
            sw = _neg_exp_into(np.multiply(yb, xb, out=buf), u, total=True)
            s = _parallel.total(np.log1p(u, out=buf)) - sw - _parallel.total(xb, yb)
            return s if np.isfinite(s) else _parallel.total(kernel(lo, hi, buf))

        fast = block_total if x.dtype.char in "fd" else None  # half: elementwise sums
        kb = u_block if keep else None
        return _reduce_finished(ctx, x, reduction, kernel, fast, kb, yf, _soft_margin_slope)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x, y = ctx.saved_tensors
        return _SoftMarginLossGrad.apply(g, x, y, ctx.reduction), None, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """``-y sigmoid(-y x) g``, kept by the forward (:func:`_soft_margin_slope`)."""
        return _kept_backward(ctx, g)


class _SoftMarginLossGrad(ArrayFunction):
    """``-y sigmoid(-y x)`` times the reduction's scale."""

    node_name = "SoftMarginLossBackwardBackward0"

    @staticmethod
    def forward(
        ctx: Any, g: np.ndarray, x: np.ndarray, y: np.ndarray, reduction: str
    ) -> np.ndarray:
        ctx.save_for_backward(g, x, y)
        ctx.reduction = reduction
        xy = _parallel.flat(x, y)
        if xy is not None:  # -y sigmoid(-y x) in blocks
            xf, yf = xy

            def kernel(lo: int, hi: int, ob: np.ndarray) -> np.ndarray:
                yb = yf[lo:hi]  # -y / (1 + exp(y x)), as _sigmoid_into
                u = np.multiply(yb, xf[lo:hi], out=_parallel.scratch(hi - lo, x.dtype, 4))
                np.exp(u, out=u)
                u += x.dtype.type(1)
                np.divide(yb, u, out=ob)
                return np.negative(ob, out=ob)

            out = _grad_blocks(kernel, g, x, reduction)
            if out is not None:
                return out
        out = np.asarray(_np_sigmoid(-(y * x)))
        out *= -y
        if reduction == "mean" and out.size:
            g = g / x.dtype.type(out.size)
        return np.multiply(out, g, out=out)

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Any, ...]:
        g, x, y = ctx.saved_tensors
        d_g = d_x = None
        if ctx.needs_input_grad[0]:
            d_g = _reduction.apply(_SoftMarginLossGrad.apply(gg, x, y, "none"), ctx.reduction)
        if ctx.needs_input_grad[1]:  # y^2 sigmoid(y x) sigmoid(-y x)
            s = sigmoid(y * x)
            d_x = (
                mul(gg, _reduction.grad_scale(g, ctx.reduction, x._data.size))
                * (y * y)
                * s
                * rsub(s, 1.0)
            )
        return d_g, d_x, None, None


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
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
    _not_differentiable("soft_margin_loss", target=target)
    _broadcast_into(target, input._data.shape)
    dt = input._data.dtype
    if dt.kind != "f":
        raise RuntimeError(
            f"result type Float can't be cast to the desired output type {_tn(input._data.dtype)}"
        )
    y = target if target._data.dtype == dt else target.to(dt)
    if y._data.shape != input._data.shape:
        y = y.expand(input._data.shape)
    return _SoftMarginLoss.apply(input, y, reduction)


# -- kl_div ----------------------------------------------------------------------------------------


class _XLogY(ArrayFunction):
    """torch.xlogy: ``x log y``, 0 where ``x == 0`` (NaN where ``y`` is NaN), with torch's
    gradients ``g xlogy(x != 0, y)`` and ``g x / y``."""

    node_name = "XlogyBackward0"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, y)
        out = np.asarray(x * np.log(y))
        out[(x == 0) & ~np.isnan(y)] = 0
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x, y = ctx.saved_tensors
        gx = mul(g, _XLogY.apply(ne(x, 0).to(x.dtype), y)) if ctx.needs_input_grad[0] else None
        gy = mul(g, x / y) if ctx.needs_input_grad[1] else None
        return gx, gy


class _KlDiv(ArrayFunction):
    """torch's composite ``xlogy(y, y) - y x`` (or ``exp(y) (y - x)``), reduced, in one pass:
    in blocks over the thread pool when input and target are flat alike (float32/64), else one
    broadcast pass. ``reduction`` may also be ``'batchmean'`` (the sum over ``x.shape[0]``,
    torch's division fused in).

    When only the input needs a gradient, the blocked forward keeps it, ``-y`` (``-exp(y)``)
    prescaled by the reduction, for the first-order backward. Otherwise the backward is written
    with the ops torch's composite differentiates through (xlogy, div, exp), so gradients, their
    NaN at ``y == 0`` for the target, and second derivatives match.
    """

    node_name = "KlDivBackward0"

    @staticmethod
    def forward(
        ctx: Any, x: np.ndarray, y: np.ndarray, reduction: str, log_target: bool
    ) -> np.ndarray:
        ctx.save_for_backward(x, y)
        ctx.reduction, ctx.log_target = reduction, log_target
        t = x.dtype.type
        n, batch = x.size, (x.shape[0] if x.ndim else 1)
        summed = "sum" if reduction == "batchmean" else reduction
        xy = _parallel.flat(x, y) if x.dtype.char in "fd" else None
        if xy is None:
            if log_target:
                loss = np.asarray(np.exp(y))
                loss *= y - x
            else:  # xlogy(y, y) = y log(y + [y == 0]): 0 at y == 0, NaN for y < 0 or NaN
                loss = np.asarray(np.log(y + (y == 0)))
                loss *= y
                loss -= y * x
            out = _reduction.reduce_array(loss, summed)
        else:
            xf, yf = xy
            need = ctx.needs_input_grad
            keep = need[0] and not need[1]
            kept_block = _kept_blocks(ctx, x, keep)
            pre = ctx.prescale = _prescale(ctx, batch if reduction == "batchmean" else n)
            slope = -(t(1) if pre is None else pre)

            def kernel(lo: int, hi: int, buf: np.ndarray) -> np.ndarray:
                xb, yb = xf[lo:hi], yf[lo:hi]
                tmp = _parallel.scratch(hi - lo, x.dtype, 1)
                if log_target:
                    e = np.exp(yb, out=tmp)
                    np.subtract(yb, xb, out=buf)
                    buf *= e
                    if keep:
                        np.multiply(e, slope, out=kept_block(lo, hi))
                    return buf
                np.add(yb, np.equal(yb, 0, out=_parallel.scratch(hi - lo, np.bool_, 4)), out=buf)
                np.log(buf, out=buf)
                buf *= yb
                buf -= np.multiply(yb, xb, out=tmp)
                if keep:
                    np.multiply(yb, slope, out=kept_block(lo, hi))
                return buf

            out = _reduction.reduce_elementwise(kernel, n, x.shape, x.dtype, summed)
        return out if reduction != "batchmean" else np.asarray(out / t(batch))

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """The kept input gradient times ``g``; without one, :meth:`backward`."""
        kept = _take_kept(ctx)
        if kept is None:
            return backward_via_tensors(ctx, g)
        return _scaled_kept(ctx, kept, g), None, None, None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x, y = ctx.saved_tensors
        if ctx.reduction == "batchmean":  # torch's DivBackward0, then the sum's
            scale = div(g, float(x._data.shape[0]))
        else:
            scale = _reduction.grad_scale(g, ctx.reduction, x._data.size)
        gx = gy = None
        e = exp(y) if ctx.log_target else y
        if ctx.needs_input_grad[0]:  # -y, or -exp(y)
            gx = mul(e, neg(scale))
        if ctx.needs_input_grad[1]:  # exp(y) (y - x) + exp(y), or xlogy(y != 0, y) + y / y - x
            if ctx.log_target:
                gy = mul(mul(e, sub(y, x)) + e, scale)
            else:
                gy = mul(_XLogY.apply(ne(y, 0).to(y.dtype), y) + y / y - x, scale)
        return gx, gy, None, None


# torch's kl_div is a composite whose grad_fn is named after its last op
_KL_BY_REDUCTION: dict[str, type[_KlDiv]] = {
    key: type(f"_KlDiv_{key}", (_KlDiv,), {"node_name": name})
    for key, name in (
        ("none", "SubBackward0"),
        ("none_log", "MulBackward0"),
        ("mean", "MeanBackward0"),
        ("sum", "SumBackward0"),
        ("batchmean", "DivBackward0"),
    )
}


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
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
    batchmean = reduction == "batchmean"
    if size_average is not None or reduce is not None:
        reduction = _reduction.legacy_get_string(size_average, reduce)
    else:
        if reduction == "mean":
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the support "
                "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
                "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
                "major release.",
                stacklevel=2,
            )
        reduction = "sum" if batchmean else _reduction.resolve(reduction)
    if input._data.dtype.kind != "f" or target._data.dtype.kind != "f":
        raise RuntimeError(
            "kl_div: Integral inputs not supported "
            f"(got input {input.dtype} and target {target.dtype})."
        )
    _, (x, y) = promote(input, target)
    divide = batchmean and input.dim() != 0
    if divide and reduction == "sum":  # the division fused into the op
        reduction, divide = "batchmean", False
    key = reduction if reduction != "none" else ("none_log" if log_target else "none")
    out = _KL_BY_REDUCTION[key].apply(*_checks.broadcast_pair(x, y), reduction, log_target)
    return out / input.size(0) if divide else out


# -- poisson_nll_loss ------------------------------------------------------------------------------


class _PoissonNll(ArrayFunction):
    """torch's composite ``exp(x) - y x`` (or ``x - y log(x + eps)``), reduced, as one op.

    The forward makes the composite's array operations in the composite's order (same values);
    the backward is written with the ops torch's composite differentiates through, so the
    gradients, their NaN policy and second derivatives match. Saves the graph nodes and the
    per-op overhead that decide the race at small sizes.
    """

    @staticmethod
    def forward(
        ctx: Any, x: np.ndarray, y: np.ndarray, log_input: bool, eps: float, reduction: str
    ) -> np.ndarray:
        ctx.save_for_backward(x, y)
        ctx.log_input, ctx.eps, ctx.reduction = log_input, eps, reduction
        xy = _parallel.flat(x, y) if log_input else None
        if xy is not None:  # in blocks over the thread pool; exp(x) kept for the backward
            xf, yf = xy
            keep = ctx.needs_input_grad[0] and not ctx.needs_input_grad[1]
            e_block = _kept_blocks(ctx, x, keep)

            def kernel(lo: int, hi: int, buf: np.ndarray) -> np.ndarray:
                e = np.exp(xf[lo:hi], out=e_block(lo, hi))
                yx = np.multiply(yf[lo:hi], xf[lo:hi], out=_parallel.scratch(hi - lo, x.dtype, 1))
                return np.subtract(e, yx, out=buf)

            kb = e_block if keep else None
            return _reduce_finished(ctx, x, reduction, kernel, None, kb, yf, _exp_minus_target)
        if log_input:
            loss = np.exp(x)
            loss -= y * x
        else:
            loss = np.log(x + x.dtype.type(eps))
            loss *= y
            np.subtract(x, loss, out=loss)
        return _reduction.reduce_array(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x, y = ctx.saved_tensors
        scale = _reduction.grad_scale(g, ctx.reduction, x._data.size)
        gx = gy = None
        if ctx.log_input:
            if ctx.needs_input_grad[0]:  # exp(x) - y
                gx = mul(sub(exp(x), y), scale)
            if ctx.needs_input_grad[1]:  # -x
                gy = mul(neg(x), scale)
        else:
            shifted = x + ctx.eps
            if ctx.needs_input_grad[0]:  # 1 - y / (x + eps)
                gx = mul(rsub(y / shifted, 1.0), scale)
            if ctx.needs_input_grad[1]:  # -log(x + eps)
                gy = mul(neg(log(shifted)), scale)
        return gx, gy, None, None, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """``(exp(x) - y) g``, kept by the forward."""
        return _kept_backward(ctx, g)


# torch's composite's grad_fn is named after its last op
_POISSON_BY_REDUCTION: dict[str, type[_PoissonNll]] = {
    r: type(f"_PoissonNll_{r}", (_PoissonNll,), {"node_name": name})
    for r, name in (("none", "SubBackward0"), ("mean", "MeanBackward0"), ("sum", "SumBackward0"))
}


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
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
    reduction = _reduction.legacy(reduction, size_average, reduce)
    reduction = _reduction.resolve(reduction, alias=False)
    dt, (x, y) = promote(input, target)
    if not full and _fusable(dt, input, target):  # the fused composite
        x, y = _checks.broadcast_pair(x, y)
        return _POISSON_BY_REDUCTION[reduction].apply(x, y, log_input, eps, reduction)
    if log_input:
        loss = exp(input) - target * input
    else:
        loss = input - target * log(input + eps)
    if full:
        stirling = target * log(target) - target + 0.5 * log(2 * math.pi * target)
        loss = loss + masked_fill(stirling, le(target, 1), 0)
    return _reduction.apply(loss, reduction)


# -- gaussian_nll_loss -----------------------------------------------------------------------------


class _GaussianNll(ArrayFunction):
    """torch's composite ``0.5 (log v + (x - y)^2 / v)`` (``+ 0.5 log(2 pi)`` if full), reduced,
    as one op; operands broadcast. The backward uses the composite's ops (second derivatives
    included); ``v`` is the already-clamped variance, whose gradient passes to ``var`` as in
    torch."""

    @staticmethod
    def forward(
        ctx: Any, x: np.ndarray, y: np.ndarray, v: np.ndarray, full: bool, reduction: str
    ) -> np.ndarray:
        ctx.save_for_backward(x, y, v)
        ctx.reduction = reduction
        t = x.dtype.type
        xyv = _parallel.flat(x, y, v) if x.dtype == y.dtype == v.dtype else None
        if xyv is not None:  # in blocks; r = (x - y) / v kept for the input's gradient
            xf, yf, vf = xyv
            ctx.numel = x.size
            needs = ctx.needs_input_grad
            keep = needs[0] and not needs[1] and not needs[2]
            r_block = _kept_blocks(ctx, x, keep)
            const = t(0.5 * math.log(2 * math.pi)) if full else None

            def diff_ratio(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
                d = np.subtract(xf[lo:hi], yf[lo:hi], out=_parallel.scratch(hi - lo, x.dtype, 1))
                return d, np.divide(d, vf[lo:hi], out=r_block(lo, hi))

            def kernel(lo: int, hi: int, buf: np.ndarray) -> np.ndarray:
                d, r = diff_ratio(lo, hi)
                d *= r  # (x - y)^2 / v
                d += np.log(vf[lo:hi], out=buf)
                np.multiply(d, t(0.5), out=buf)
                if const is not None:
                    buf += const
                return buf

            def block_total(lo: int, hi: int, buf: np.ndarray) -> Any:  # a dot for the squares
                d, r = diff_ratio(lo, hi)
                s = t(0.5) * (_parallel.total(np.log(vf[lo:hi], out=buf)) + _parallel.total(d, r))
                return s if const is None else s + const * t(hi - lo)

            fast = block_total if x.dtype.char in "fd" else None  # half: elementwise sums
            kb = r_block if keep else None
            return _reduce_finished(ctx, x, reduction, kernel, fast, kb, yf, _identity)
        q = np.subtract(x, y)
        np.square(q, out=q)
        loss = np.log(v) + q / v
        loss *= t(0.5)
        if full:
            loss += t(0.5 * math.log(2 * math.pi))
        ctx.numel = loss.size
        return _reduction.reduce_array(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x, y, v = ctx.saved_tensors
        scale = _reduction.grad_scale(g, ctx.reduction, ctx.numel)
        r = sub(x, y) / v  # (x - y) / v
        gx = gy = gv = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            gxy = mul(r, scale)
            if ctx.needs_input_grad[0]:
                gx = sum_to_shape(gxy, x._data.shape)
            if ctx.needs_input_grad[1]:
                gy = sum_to_shape(neg(gxy), y._data.shape)
        if ctx.needs_input_grad[2]:  # 0.5 (1/v - (x - y)^2 / v^2)
            gv = sum_to_shape(mul(sub(reciprocal(v), mul(r, r)), 0.5 * scale), v._data.shape)
        return gx, gy, gv, None, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """``(x - y) / v g``, kept by the forward."""
        return _kept_backward(ctx, g)


_GAUSSIAN_BY_REDUCTION: dict[str, type[_GaussianNll]] = {
    r: type(f"_GaussianNll_{r}", (_GaussianNll,), {"node_name": name})
    for r, name in (
        ("none", "MulBackward0"),
        ("none_full", "AddBackward0"),
        ("mean", "MeanBackward0"),
        ("sum", "SumBackward0"),
        ("batchmean", "DivBackward0"),
    )
}


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
    if isinstance(var, float):
        if var < 0:
            raise ValueError(f"var has negative entry/entries (got var={var})")
        var = var * Tensor._make(np.ones_like(input._data))
    elif not isinstance(var, Tensor):
        raise TypeError(
            f"gaussian_nll_loss(): var must be a Tensor or a float, got {type(var).__name__}"
        )
    elif (var._data < 0).any():
        raise ValueError(f"var has negative entry/entries (min {var._data.min()!r})")
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (
            input.dim() == var.dim()
            and sum(v for i, v in zip(input.shape, var.shape, strict=True) if i != v) == 1
        ):
            raise ValueError(
                f"var is of incorrect size: {var.size()} for input of size {input.size()}"
            )
    reduction = _reduction.resolve(reduction, alias=False)
    var = var.clone()
    vd = var._data
    if vd.dtype.kind == "f":  # clamp_(min=eps) of our own clone, as one clip pass
        _clip(vd, vd.dtype.type(eps), vd.dtype.type(np.inf), out=vd)
    else:
        with grad_mode.no_grad():
            var.clamp_(min=eps)
    dt, (x, y, v) = promote(input, target, var)
    if _fusable(dt, input, target) and _broadcastable(x, y, v):
        key = "none_full" if reduction == "none" and full else reduction
        return _GAUSSIAN_BY_REDUCTION[key].apply(x, y, v, full, reduction)
    loss = 0.5 * (log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduction.apply(loss, reduction)


# -- multilabel_soft_margin_loss -------------------------------------------------------------------


class _MultilabelSoftMarginMean(_BinaryCrossEntropyWithLogits):
    """multilabel_soft_margin_loss's default ``'mean'``: the binary_cross_entropy_with_logits
    mean (torch's composite ends with ``mean``, whose node name this shows)."""

    node_name = "MeanBackward0"


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        The loss: a scalar, or the input's shape without the class dim for ``'none'``.

    Note:
        Each element is computed with the fused, stable binary_cross_entropy_with_logits
        kernel (torch composes two log-sigmoids; the function is the same). A 0-d input raises
        IndexError, as in torch. Second derivatives w.r.t. input, target and weight.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> F.multilabel_soft_margin_loss(torch.tensor([[2., -1.]]), torch.tensor([[1., 0.]]))
        tensor(0.2201)
    """
    reduction = _reduction.legacy(reduction, size_average, reduce)
    if input._data.dtype.kind != "f":
        raise NotImplementedError(
            f"\"log_sigmoid_cpu\" not implemented for '{_tn(input._data.dtype)}'"
        )
    # -(y log sigmoid(x) + (1 - y) log sigmoid(-x)) = (1 - y) x - log sigmoid(x): the fused
    # binary_cross_entropy_with_logits kernel, one pass each way (torch composes ~8 ops)
    _, (x, y) = promote(input, target)
    x, y = _checks.broadcast_pair(x, y)
    class_dim = input.dim() - 1
    if reduction == "mean" and weight is None and class_dim >= 0:
        # the mean over samples of the mean over classes is the mean over all elements: the
        # reduced kernel, with no per-sample sums
        return _MultilabelSoftMarginMean.apply(x, y, None, None, "mean")
    loss = _BinaryCrossEntropyWithLogits.apply(x, y, None, None, "none")
    if weight is not None:
        loss = loss * weight
    if class_dim < 0:
        raise IndexError("Dimension specified as -1 but tensor has no dimensions")
    loss = loss.sum(dim=class_dim) / input.size(class_dim)
    return _reduction.apply(loss, _reduction.resolve(reduction, alias=False))


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
