"""Classification losses: nll_loss, cross_entropy, and the focal losses (lossgrad extensions).

Class-index targets are validated once, with torch's exception classes, into rows
(`_rows.ClassTargets`): each row's target class and weight ``w[y]``, and the rows whose target
equals ``ignore_index``. nll_loss, cross_entropy and focal_loss over class indices are row specs
(`_rows`): a NumPy kernel that writes a block of rows' losses and gradients, and the gradient
written with lossgrad ops. The weighted ``'mean'`` is the weighted sum divided by the sum of
``w[y]`` over the rows that are not ignored, exactly torch's ``total_weight``.

sigmoid_focal_loss is a pointwise loss: a NumPy kernel that writes the loss and its gradient,
and the gradient written with lossgrad ops, from which autograd gives the second derivatives.

Each functional resolves the reduction, validates its arguments, computes, and reduces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _parallel
from lossgrad._backend import clip as _clip
from lossgrad._dtype import scalar_type_name
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _checks, _logistic, _reduction
from lossgrad.nn.functional._pointwise import Pointwise, factored, scratches
from lossgrad.nn.functional._pointwise import apply as _pointwise
from lossgrad.nn.functional._rows import (
    ClassTargets,
    Rows,
    along_classes,
    as_rows,
    class_max,
    class_sum,
    flat,
    tensor_rows,
)
from lossgrad.nn.functional._rows import apply as _rows
from lossgrad.ops._common import promote
from lossgrad.ops.activation import log_softmax as _log_softmax
from lossgrad.ops.activation import logsigmoid
from lossgrad.ops.activation import softmax as _softmax
from lossgrad.ops.index import gather
from lossgrad.ops.pointwise import (
    add,
    clamp_max,
    div,
    exp,
    expm1,
    mul,
    neg,
    pow,
    sub,
    to_dtype,
    where,
)
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import reshape

# -- class-index targets -------------------------------------------------------------------------


def _check_index_target(input: Tensor, target: Tensor) -> None:
    """torch's ``nll_loss_nd`` shape and dtype checks, in torch's order."""
    xshape, tshape = input._data.shape, target._data.shape
    nd = len(xshape)
    if nd < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {nd})")
    if nd != 1 and xshape[0] != (tshape[0] if tshape else 0):
        raise ValueError(
            f"Expected input batch_size ({xshape[0]}) to match target batch_size "
            f"({tshape[0] if tshape else 0})."
        )
    if nd <= 2:
        if len(tshape) > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if nd == 1 and len(tshape) == 1 and tshape[0] != 1:
            raise ValueError(
                f"For 1D input, 1D target must have size 1, but got target size: {tshape[0]}"
            )
    elif nd == 4:
        if len(tshape) != 3:
            raise RuntimeError(
                "only batches of spatial targets supported (3D tensors) but got targets of "
                f"dimension: {len(tshape)}"
            )
        if tshape[1:] != xshape[2:]:
            raise RuntimeError(f"size mismatch (got input: {list(xshape)} , target: {list(tshape)}")
    elif tshape[1:] != xshape[2:]:
        expected = [xshape[0], *xshape[2:]]
        raise RuntimeError(f"Expected target size {expected}, got {list(tshape)}")
    if target._data.dtype not in (np.int64, np.uint8):
        raise RuntimeError(
            "expected target dtype to be Long or Byte, but got "
            f"{scalar_type_name(target._data.dtype)}"
        )
    if nd > 2 and target._data.size:  # torch's spatial kernels read the targets as Long
        _checks.check_scalar_type(target, np.int64)


def _check_weight(weight: Tensor | None, input: Tensor, axis: int, prefix: str = "") -> None:
    if weight is None:
        return
    c = input.shape[axis]
    if weight.dim() != 1 or weight.numel() != c:
        raise RuntimeError(
            f"{prefix}weight tensor should be defined either for all {c} classes or no classes "
            f"but got weight tensor of shape: {list(weight.shape)}"
        )


def _class_targets(
    input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int
) -> ClassTargets:
    """torch's checks of class-index targets (``nll_loss_nd``'s, in its order), and the targets
    as rows: one per sample of an ``(N, C)`` input, per sample and spatial position of ``(N, C,
    d1, ..., dK)`` (in the order of ``target.reshape(-1)``), the single sample of ``(C)``. A
    target outside ``[0, C)`` that is not ``ignore_index`` raises torch's IndexError."""
    x, y = input._data, target._data
    if weight is None and x.ndim == 2 and y.shape == x.shape[:1]:
        if x.dtype.kind == "f" and y.dtype == np.int64:  # the common call
            return _batch_targets(y, x.shape[1], ignore_index)
    _check_index_target(input, target)
    if weight is not None:
        _check_weight(weight, input, 0 if input.dim() == 1 else 1)
    x = input._data
    if x.dtype.kind != "f":
        raise NotImplementedError(
            f"\"nll_loss_out_frame\" not implemented for '{scalar_type_name(x.dtype)}'"
        )
    class_weight = None
    if weight is not None:
        if weight.requires_grad and grad_mode.is_grad_enabled():
            raise RuntimeError(
                "The function 'nll_loss_forward' is not differentiable with respect to argument "
                "'weight'. This input cannot have requires_grad True."
            )
        class_weight = weight._data
        if class_weight.dtype != x.dtype:
            raise RuntimeError(
                f"expected scalar type {scalar_type_name(x.dtype)} "
                f"but found {scalar_type_name(class_weight.dtype)}"
            )
    classes = x.shape[0 if x.ndim == 1 else 1]
    index, ignored = _checked_index(target._data.reshape(-1), classes, ignore_index)
    row_weight = None if class_weight is None else class_weight[index]
    if row_weight is not None:
        counted = row_weight if ignored is None else np.where(ignored, 0, row_weight)
        total_weight = float(counted.sum(dtype=x.dtype))
    else:
        total_weight = float(index.size - (0 if ignored is None else np.count_nonzero(ignored)))
    out_shape = () if x.ndim == 1 else target._data.shape
    return ClassTargets(index, row_weight, class_weight, ignored, total_weight, out_shape)


def _batch_targets(target: np.ndarray, classes: int, ignore_index: int) -> ClassTargets:
    """`_class_targets` of the common call, whose other checks hold: a float ``(N, C)`` input,
    ``(N)`` int64 targets, no class weight."""
    index, ignored = _checked_index(target, classes, ignore_index)
    counted = index.size if ignored is None else index.size - np.count_nonzero(ignored)
    return ClassTargets(index, None, None, ignored, float(counted), target.shape)


def _checked_index(
    target: np.ndarray, classes: int, ignore_index: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The int64 target of each row (0 where ignored) and the ignored rows (None if none)."""
    # as unsigned, negative targets are huge: when ignore_index cannot be a class, one max
    # shows that every target is a class and none is ignored (the common case)
    unsigned = target.view(np.uint64) if target.dtype.kind == "i" else target
    if target.size and not 0 <= ignore_index < classes and np.maximum.reduce(unsigned) < classes:
        return target.astype(np.int64, copy=False), None
    ignored = target == ignore_index
    any_ignored = bool(ignored.any())
    bad = unsigned >= classes
    if any_ignored:
        bad &= ~ignored
    if bool(bad.any()):
        raise IndexError(f"Target {int(target[bad][0])} is out of bounds.")
    if not any_ignored:
        return target.astype(np.int64, copy=False), None
    return np.where(ignored, 0, target).astype(np.int64, copy=False), ignored


# -- nll_loss ------------------------------------------------------------------------------------


def _nll_block(
    log_probs: np.ndarray, targets: ClassTargets, loss: np.ndarray, dldx: np.ndarray, scale: Any
) -> None:
    """``l = -w[y] x[y]``; ``∂l/∂x = -w[y]`` at the target, 0 elsewhere (``dldx`` comes
    zeroed: the spec has a ``sparse_gradient``)."""
    offsets = targets.offsets(log_probs)
    picked = flat(log_probs)[offsets]
    weight = targets.weight
    if weight is not None:
        picked *= weight
    np.negative(picked, out=loss)
    flat(dldx)[offsets] = -scale if weight is None else weight * -scale


class _ZeroSlope(ArrayFunction):
    """``values``, recorded as a function of ``like`` too, with derivative zero: NLL's gradient
    does not depend on the log-probabilities, but torch's ``nll_loss_backward`` takes them as
    an argument, so a second ``grad`` reaches them (as zeros)."""

    node_name = "NllLossBackwardBackward0"

    @staticmethod
    def forward(ctx: Any, like: np.ndarray, values: np.ndarray) -> np.ndarray:
        ctx.shape = like.shape
        return values

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return Tensor._make(np.zeros(ctx.shape, g._data.dtype)), g


def _nll_derivative(log_probs: Tensor, targets: ClassTargets, upstream: Tensor) -> Tensor:
    """``-w[y] upstream`` at the targets, 0 elsewhere (a select, so a NaN upstream gradient
    stays at the targets, as in torch)."""
    data = log_probs._data
    at_target = Tensor._make(targets.one_hot(data.shape[1], bool, True))
    weight = -1.0 if targets.weight is None else Tensor._make(-targets.weight[:, None])
    return _ZeroSlope.apply(log_probs, where(at_target, mul(upstream, weight), 0.0))


_NLL = Rows(
    node="NllLossBackward0",
    kernel=_nll_block,
    derivative=_nll_derivative,
    row_work=lambda targets, classes: 1,  # one read and one write per row: one block
    sparse_gradient=True,
    planes=True,
    half_total=lambda: True,
)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class-index targets, given log-probabilities.

    Unreduced: ``l_n = -w[y_n] * x[n, y_n]`` (0 where ``y_n == ignore_index``); ``'mean'`` is
    ``sum(l_n) / sum(w[y_n])`` over the positions that are not ignored. Gradient:
    ``dl_n/dx[n, c] = -w[y_n]`` at ``c = y_n`` and 0 elsewhere (divided by the same sum under
    ``'mean'``).

    Args:
        input: log-probabilities ``(C)``, ``(N, C)`` or ``(N, C, d1, ..., dK)``.
        target: class indices (int64 or uint8) ``()``, ``(N)`` or ``(N, d1, ..., dK)``, each in
            ``[0, C)`` or equal to ``ignore_index``.
        weight: optional rescaling of each class, 1-D of size ``C`` and ``input``'s dtype.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        ignore_index: target value that contributes neither loss nor weight. Default -100.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or the target's shape for ``reduction='none'`` (a scalar for ``(C)`` input).

    Note:
        As in torch: every target ignored gives NaN for ``'mean'`` (0/0) and 0 for ``'sum'``;
        a target outside ``[0, C)`` raises IndexError; target dtypes other than int64/uint8
        raise RuntimeError. The backward is linear in the incoming gradient and recorded with
        lossgrad ops, so second derivatives (zero in the input, linear in ``grad_output``) work.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[-1.0, -2.0], [-0.5, -3.0]])
        >>> torch.nn.functional.nll_loss(x, torch.tensor([0, 1]))
        tensor(2.)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    return _rows(_NLL, input, _class_targets(input, target, weight, ignore_index), reduction)


# -- cross_entropy --------------------------------------------------------------------------------


#: Row log-sum-exps within +- this bound show that a row needs no max shift (see
#: ``_exp_rows``): its sum of exponentials lies within ``2**+-60``.
_UNSHIFTED_LSE = 41.5


def _exp_rows(
    logits: np.ndarray, exps: np.ndarray, offsets: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """``exps = exp(logits - shift)`` row by row (``shift`` a row's maximum, or 0 where that
    is provably as exact), and per row, all less the shift: the log-sum-exp of the logits, the
    target logit (at ``offsets``, `_rows.ClassTargets.offsets`) and, given ``weights``,
    ``sum_c weights[c] logits[c]`` less ``shift * sum(weights)``; with the sum of ``exps`` (so
    ``softmax = exps / sums``). ``logits`` is a row kernel's block (``(n, C)`` rows or
    ``(b, C, p)`` planes), ``exps`` one of its shape and strides.

    A block of more than ``_parallel.BLOCK - C`` elements (the driver's one-thread block of
    ``BLOCK // C`` whole rows, or a larger one) first tries ``shift = 0``: ``exp(x)`` and
    its row sums, with no max pass and no shifted copy. Row log-sum-exps within
    ``+-_UNSHIFTED_LSE`` (sums within ``2**+-60``) prove that as exact as the shifted form:
    nothing overflows, the row's largest term is at least ``2**-60 / C`` (a normal float), and
    the terms that fall subnormal add under ``C * 2**-66`` of the sum, far below rounding. Rows
    outside (logits beyond about +-40, ``inf`` or NaN) are redone with their maximum shifted
    out (a block of planes: all of it). A smaller block always shifts (so adding a constant to
    every logit changes nothing).
    """
    if logits.size > _parallel.BLOCK - logits.shape[1]:
        np.exp(logits, out=exps)
        sums = class_sum(exps)
        log_sum_exp = np.log(sums)
        if np.abs(log_sum_exp).max() <= _UNSHIFTED_LSE:
            dot = None if weights is None else class_sum(logits, weights)
            return log_sum_exp, sums, flat(logits)[offsets], dot
        if logits.ndim == 2:
            return _exp_rows_redone(logits, exps, offsets, weights, sums, log_sum_exp)
    np.subtract(logits, class_max(logits)[:, None], out=exps)
    target = flat(exps)[offsets]
    dot = None if weights is None else class_sum(exps, weights)
    np.exp(exps, out=exps)
    sums = class_sum(exps)
    return np.log(sums), sums, target, dot


def _exp_rows_redone(
    logits: np.ndarray,
    exps: np.ndarray,
    offsets: np.ndarray,
    weights: np.ndarray | None,
    sums: np.ndarray,
    log_sum_exp: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """`_exp_rows` of ``(n, C)`` rows whose unshifted ``exps``, ``sums`` and ``log_sum_exp`` are
    computed: the rows outside ``+-_UNSHIFTED_LSE`` redone with their maximum shifted out."""
    redo = np.flatnonzero(~(np.abs(log_sum_exp) <= _UNSHIFTED_LSE))
    shifted = logits[redo]
    row_max = np.maximum.reduce(shifted, axis=1, keepdims=True)
    shifted -= row_max
    dot = None
    if weights is not None:
        dot = np.dot(logits, weights)
        dot[redo] = np.dot(shifted, weights)
    np.exp(shifted, out=shifted)
    exps[redo] = shifted
    sums[redo] = class_sum(shifted)
    log_sum_exp[redo] = np.log(sums[redo])
    target = logits.reshape(-1)[offsets]
    target[redo] -= row_max[:, 0]
    return log_sum_exp, sums, target, dot


def _cross_entropy_block(
    logits: np.ndarray,
    targets: ClassTargets,
    smoothing: float,
    loss: np.ndarray,
    dldx: np.ndarray,
    scale: Any,
) -> None:
    """Cross-entropy of a block of rows, with ``eps = smoothing``.

    The target mass is ``q[c] = (1 - eps) w[y] [c = y] + (eps / C) w[c]`` and ``A = sum_c q[c]``;
    the loss is ``A lse - sum_c q[c] x[c]`` (``lse`` the log-sum-exp of the row) and its gradient
    ``A softmax(x) - q``, written over the exponentials `_exp_rows` left in ``dldx``.
    """
    classes, class_weight, dtype = logits.shape[1], targets.class_weight, logits.dtype.type
    weights = None
    if smoothing:
        weights = _parallel.ones(classes, logits.dtype) if class_weight is None else class_weight
    offsets = targets.offsets(logits)
    log_sum_exp, sums, target, dot = _exp_rows(logits, dldx, offsets, weights)
    np.subtract(log_sum_exp, target, out=loss)
    target_mass = scale if targets.weight is None else targets.weight * scale
    if targets.weight is not None:
        loss *= targets.weight
    if smoothing:
        weight_sum = dtype(classes if class_weight is None else class_weight.sum())
        share = dtype(smoothing / classes)
        loss *= dtype(1 - smoothing)
        loss += share * (weight_sum * log_sum_exp - dot)
        target_mass = target_mass * dtype(1 - smoothing)
        np.multiply(dldx, ((target_mass + share * weight_sum * scale) / sums)[:, None], out=dldx)
        if class_weight is None:
            dldx -= share * scale
        else:
            dldx -= along_classes((share * scale) * class_weight, dldx)
    else:
        np.multiply(dldx, (target_mass / sums)[:, None], out=dldx)
    flat(dldx)[offsets] -= target_mass


def _cross_entropy_derivative(
    logits: Tensor, targets: ClassTargets, smoothing: float, upstream: Tensor
) -> Tensor:
    """``upstream (A softmax(x) - q)`` (`_cross_entropy_block`) with ops."""
    dtype = logits._data.dtype
    classes = logits._data.shape[1]
    row_weight = np.ones(targets.index.size, dtype) if targets.weight is None else targets.weight
    target_mass = row_weight * dtype.type(1 - smoothing)
    q = targets.one_hot(classes, dtype, target_mass)
    total = target_mass
    if smoothing:
        weights = np.ones(classes, dtype) if targets.class_weight is None else targets.class_weight
        share = weights * dtype.type(smoothing / classes)
        q += share
        total = target_mass + share.sum(dtype=dtype)
    softmax = _softmax(logits, 1)
    return mul(sub(mul(softmax, Tensor._make(total[:, None])), Tensor._make(q)), upstream)


_CROSS_ENTROPY = Rows(
    node=lambda reduction, smoothing: "AddBackward0" if smoothing else "NllLossBackward0",
    kernel=_cross_entropy_block,
    derivative=_cross_entropy_derivative,
    planes=True,
    softmax=True,
    half_total=lambda smoothing: not smoothing,
)


class _ProbabilityTargets:
    """Class-probability targets ``p`` of ``M`` rows: ``probabilities``, the ``(M, C)`` rows of
    ``tensor`` (the target Tensor, of the input's shape, which gets a gradient) in the input's
    row layout (`_rows.as_rows`); ``class_weight``, the ``(C,)`` weights or None; no row is
    ignored, and ``'mean'`` divides by ``M`` (torch's ``numel / C``)."""

    __slots__ = ("tensor", "probabilities", "class_weight", "out_shape")
    ignored = None

    def __init__(self, tensor: Tensor, class_weight: np.ndarray | None, out_shape: tuple) -> None:
        self.tensor, self.class_weight, self.out_shape = tensor, class_weight, out_shape
        self.probabilities = as_rows(tensor._data)

    def rows(self, r0: int, r1: int, shape: Any = None) -> _ProbabilityTargets:
        """The targets of rows ``r0:r1``."""
        part = _ProbabilityTargets.__new__(_ProbabilityTargets)
        part.tensor, part.class_weight, part.out_shape = None, self.class_weight, self.out_shape
        part.probabilities = self.probabilities[r0:r1]
        return part

    def mass(self, smoothing: float, dtype: Any) -> np.ndarray:
        """The target mass ``q = w ((1 - eps) p + eps / C)`` of these rows (``eps`` the
        smoothing)."""
        probabilities = self.probabilities
        classes = probabilities.shape[1]
        mass = probabilities * dtype.type(1 - smoothing) if smoothing else probabilities.copy()
        if smoothing:
            mass += dtype.type(smoothing / classes)
        if self.class_weight is not None:
            mass *= self.class_weight
        return mass


def _soft_cross_entropy_block(
    logits: np.ndarray,
    targets: _ProbabilityTargets,
    smoothing: float,
    loss: np.ndarray,
    dldx: np.ndarray,
    scale: Any,
) -> None:
    """Cross-entropy of a block of rows with the target mass ``q`` (`_ProbabilityTargets.mass`):
    ``l = -sum_c q[c] log_softmax(x)[c]`` and ``∂l/∂x = A softmax(x) - q``, ``A = sum_c q[c]``;
    ``log_softmax(x) = x - max - log(sum(exp(x - max)))`` as torch computes it."""
    mass = targets.mass(smoothing, logits.dtype)
    log_softmax = np.subtract(logits, class_max(logits)[:, None])
    np.exp(log_softmax, out=dldx)
    sums = class_sum(dldx)
    log_softmax -= np.log(sums)[:, None]
    np.negative(class_sum(log_softmax * mass), out=loss)
    np.multiply(dldx, (class_sum(mass) * scale / sums)[:, None], out=dldx)
    mass *= scale
    dldx -= mass


def _soft_cross_entropy_derivative(
    logits: Tensor, targets: _ProbabilityTargets, smoothing: float, upstream: Tensor
) -> Tensor:
    """``upstream (A softmax(x) - q)`` (`_soft_cross_entropy_block`) with ops, ``q`` a function
    of the target Tensor."""
    mass = _soft_mass(logits, targets, smoothing)
    softmax = _softmax(logits, 1)
    return mul(sub(mul(softmax, _sum(mass, 1, True)), mass), upstream)


def _soft_target_derivative(
    logits: Tensor, targets: _ProbabilityTargets, smoothing: float, upstream: Tensor
) -> Tensor:
    """``∂l/∂p[c] = -(1 - eps) w[c] log_softmax(x)[c]``, times ``upstream``, with ops."""
    slope = mul(_log_softmax(logits, 1), -(1 - smoothing))
    if targets.class_weight is not None:
        slope = mul(slope, Tensor._make(targets.class_weight))
    return mul(slope, upstream)


def _soft_mass(logits: Tensor, targets: _ProbabilityTargets, smoothing: float) -> Tensor:
    """`_ProbabilityTargets.mass` with ops (differentiable in the target Tensor)."""
    mass = tensor_rows(targets.tensor)
    if smoothing:
        mass = add(mul(mass, 1 - smoothing), smoothing / logits._data.shape[1])
    if targets.class_weight is not None:
        mass = mul(mass, Tensor._make(targets.class_weight))
    return mass


_SOFT_CROSS_ENTROPY = Rows(
    node=lambda reduction, smoothing: "DivBackward1" if reduction == "mean" else "NegBackward0",
    kernel=_soft_cross_entropy_block,
    derivative=_soft_cross_entropy_derivative,
    weighted_mean=False,
    target_derivative=_soft_target_derivative,
)


def _cross_entropy_probs(
    input: Tensor, target: Tensor, weight: Tensor | None, eps: float, reduction: str
) -> Tensor:
    """Class-probability targets: torch's checks, and the loss as a row spec."""
    if target._data.dtype.kind != "f":
        raise RuntimeError(
            "Expected floating point type for target with class probabilities, got "
            f"{scalar_type_name(target._data.dtype)}"
        )
    _check_logits(input)
    axis = 0 if input.dim() == 1 else 1
    _check_weight(weight, input, axis, "cross_entropy: ")
    if eps > 0:
        _check_smoothing(eps)
    if weight is not None and weight.requires_grad and grad_mode.is_grad_enabled():
        return _soft_cross_entropy_composite(input, target, weight, eps, reduction)
    # torch's type promotion: a float64 target or weight gives a float64 loss
    input, target = promote(input, target, *([] if weight is None else [weight]))[1][:2]
    class_weight = None if weight is None else weight._data.astype(input._data.dtype, copy=False)
    out_shape = (input._data.shape[0], *input._data.shape[2:]) if axis else ()
    targets = _ProbabilityTargets(target, class_weight, out_shape)
    return _rows(_SOFT_CROSS_ENTROPY, input, targets, reduction, (max(eps, 0.0),))


def _soft_cross_entropy_composite(
    input: Tensor, target: Tensor, weight: Tensor, eps: float, reduction: str
) -> Tensor:
    """Class-probability targets with a class weight that gets a gradient, composed as torch
    does: ``-(log_softmax(x) * p' * w).sum(class axis)``."""
    axis = 0 if input.dim() == 1 else 1
    classes = input.shape[axis]
    mass = add(mul(target, 1 - eps), eps / classes) if eps > 0 else target
    mass = mul(mass, reshape(weight, [classes if i == axis else 1 for i in range(input.dim())]))
    loss = neg(_sum(mul(_log_softmax(input, axis), mass), axis))
    denominator = input.numel() // classes if classes else 0
    return _reduction.apply(loss, reduction, denominator=denominator)


def _check_logits(input: Tensor) -> None:
    """log_softmax's checks: a floating input (unless empty: torch never dispatches the
    kernel then) with a class dimension."""
    dt = input._data.dtype
    if dt.kind != "f" and input._data.size:
        raise NotImplementedError(
            f"\"log_softmax_lastdim_kernel_impl\" not implemented for '{scalar_type_name(dt)}'"
        )
    if input.dim() == 0:
        raise IndexError("Dimension specified as 1 but tensor has no dimensions")


def _check_smoothing(eps: float) -> None:
    if eps > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {eps}")


def _cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
) -> tuple[Tensor, float]:
    """The loss and the denominator its ``'mean'`` divides by (torch's dispatch)."""
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    eps = float(label_smoothing)
    if input._data.shape == target._data.shape:
        if ignore_index >= 0 and target._data.dtype.kind == "f":
            raise RuntimeError("ignore_index is not supported for floating point target")
        loss = _cross_entropy_probs(input, target, weight, eps, reduction)
        classes = input.shape[0 if input.dim() == 1 else 1]
        return loss, float(input.numel() // classes if classes else 0)
    _check_logits(input)
    if eps > 0:
        _check_smoothing(eps)
    targets = _class_targets(input, target, weight, ignore_index)
    if eps > 0 and input.dim() == 1 and target.dim() == 1:
        raise RuntimeError("output with shape [] doesn't match the broadcast shape [1]")
    if eps > 0 and input._data.dtype == np.float16 and input.dim() > 2:
        return _half_planes_smoothed(input, targets, weight, reduction, eps), targets.total_weight
    loss = _rows(_CROSS_ENTROPY, input, targets, reduction, (max(eps, 0.0),))
    return loss, targets.total_weight


def _half_planes_smoothed(
    input: Tensor, targets: ClassTargets, weight: Tensor | None, reduction: str, eps: float
) -> Tensor:
    """Label smoothing on a float16 input whose class axis is not the last, composed as torch
    does in half precision: ``(1 - eps) nll(log_softmax(x)) + (eps / C) s``, with ``s`` the
    reduced ``-sum_c w[c] log_softmax(x)[c]`` of each row (0 where ignored), each op rounded
    to float16: a row whose log-probabilities sum beyond the float16 range gives ``inf``, as in
    torch (the fused row kernel, in float32, kept it finite)."""
    log_probs = to_dtype(_log_softmax(to_dtype(input, np.dtype(np.float32)), 1), input._data.dtype)
    nll = _rows(_NLL, log_probs, targets, reduction)
    classes = input.shape[1]
    if weight is not None:
        shape = [classes if axis == 1 else 1 for axis in range(input.dim())]
        log_probs = mul(log_probs, reshape(weight, shape))
    smooth = neg(_sum(log_probs, 1))
    if targets.ignored is not None:
        kept = Tensor._make(~targets.ignored.reshape(targets.out_shape))
        smooth = where(kept, smooth, 0.0)
    if reduction != "none":
        smooth = _sum(smooth)
    if reduction == "mean":
        smooth = div(smooth, Tensor._make(np.array(targets.total_weight, np.float16)))
    return add(mul(nll, 1 - eps), mul(smooth, eps / classes))


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    *,
    lse_square_scale: float = 0.0,
    softcap: float | None = None,
    return_z_loss: bool = False,
    return_token_accuracy: bool = False,
    use_token_scaling: bool = False,
) -> Any:
    """Cross-entropy between logits and class-index or class-probability targets.

    Class indices ``y`` (with ``eps = label_smoothing``)::

        l_n = (1 - eps) * w[y_n] * (lse_n - x[n, y_n]) + (eps / C) * sum_c w[c] (lse_n - x[n, c])

    where ``lse_n = log sum_c exp(x[n, c])``; ignored positions give 0 and ``'mean'`` divides by
    ``sum w[y_n]`` over the positions that are not ignored. Class probabilities ``p``::

        l_n = -sum_c w[c] p'[n, c] log_softmax(x)[n, c],   p' = (1 - eps) p + eps / C

    and ``'mean'`` divides by ``numel / C``. Gradient: ``dl_n/dx[n] = A_n softmax(x[n]) - q_n``
    with ``q`` the weighted target mass above and ``A_n = sum_c q[n, c]``; for probability
    targets also ``dl_n/dp[n, c] = -(1 - eps) w[c] log_softmax(x)[n, c]``.

    Args:
        input: logits ``(C)``, ``(N, C)`` or ``(N, C, d1, ..., dK)``.
        target: class indices (int64/uint8) of shape ``()``, ``(N)`` or ``(N, d1, ..., dK)``;
            or probabilities (floating) of ``input``'s shape. Same shape selects probabilities.
        weight: optional per-class weight, 1-D of size ``C``.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        ignore_index: class-index target value to skip. Default -100. Must be negative for
            probability targets.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        label_smoothing: ``eps`` in [0, 1]. Default 0.0.
        lse_square_scale, softcap, return_z_loss, return_token_accuracy, use_token_scaling:
            lossgrad's language-model extensions (keyword-only; the defaults are torch's
            behaviour): z-loss, logit soft-capping, the z-loss and token accuracy returned
            alongside, token scaling; see ``F.linear_cross_entropy``.

    Returns:
        A scalar, or the per-position loss for ``reduction='none'``; a ``CrossEntropyOutput``
        namedtuple when ``return_z_loss`` or ``return_token_accuracy`` is set.

    Note:
        torch's edge policies: every target ignored gives NaN for ``'mean'``; ``eps > 1``
        raises RuntimeError while ``eps < 0`` is treated as 0; a ``-inf`` logit with zero
        probability gives NaN on the probability path (0 * -inf), as in torch. The class-index
        path is one fused function (max-shifted log-sum-exp, so shifting every logit by a
        constant leaves the loss unchanged; a large ``(N, C)`` input skips the shift in the
        rows where it provably changes nothing beyond rounding), except label smoothing on a
        float16 input whose class axis is not the last: torch's half-precision composition,
        whose per-row sum of log-probabilities can overflow to ``inf``; second derivatives
        are supported on all paths.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        >>> torch.nn.functional.cross_entropy(x, torch.tensor([0, 2]))
        tensor(0.6691)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    extras = (lse_square_scale, softcap, return_z_loss, return_token_accuracy, use_token_scaling)
    if extras != (0.0, None, False, False, False):
        from lossgrad.nn.functional import loss_language

        extended = loss_language._cross_entropy_with_extras
        return extended(input, target, weight, ignore_index, reduction, label_smoothing, extras)
    return _cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)[0]


# -- focal losses (lossgrad extensions) -----------------------------------------------------------


def focal_loss(
    input: Tensor,
    target: Tensor,
    gamma: float = 0.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int = -100,
) -> Tensor:
    """Multi-class focal loss: cross-entropy scaled down where the model is already right.

    A lossgrad extension (torch has none; pytorch/pytorch#35882). With ``ce_n`` the unreduced
    ``cross_entropy(input, target, weight, ignore_index=ignore_index)``::

        l_n = (1 - exp(-ce_n)) ** gamma * ce_n

    Gradient: ``dl_n/dce_n = u**gamma + gamma * u**(gamma - 1) * (1 - u) * ce_n`` with
    ``u = 1 - exp(-ce_n)``, chained through cross-entropy's gradient.

    Args:
        input: logits ``(C)``, ``(N, C)`` or ``(N, C, d1, ..., dK)``.
        target: class indices or class probabilities, exactly as for ``cross_entropy``.
        gamma: focusing parameter, ``>= 0``. Default 0.0 (plain cross-entropy).
        weight: optional per-class weight, 1-D of size ``C``; it weights ``ce_n`` itself.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        ignore_index: class-index target value to skip. Default -100.

    Returns:
        A scalar, or the per-position loss for ``reduction='none'``.

    Note:
        ``'mean'`` divides by cross-entropy's own denominator: the sum of ``w[y_n]`` over the
        positions that are not ignored (``numel / C`` for probability targets), so
        ``gamma=0`` equals ``cross_entropy`` exactly, weights and ignored targets included.
        (The tutorial's ``loss.mean()`` divides by ``N`` instead; both agree without weights
        and ignored targets.) Positions with ``ce_n == 0`` (ignored, or a certain prediction)
        give 0 with gradient 0 for ``gamma > 0``, never NaN. Second derivatives are supported.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
        >>> torch.nn.functional.focal_loss(x, torch.tensor([0, 2]), gamma=2.0)
        tensor(0.2496)
    """
    if gamma < 0:
        raise ValueError(f"gamma must be non-negative, got {gamma}")
    reduction = _reduction.resolve(reduction)
    if gamma == 0:
        return _cross_entropy(input, target, weight, ignore_index, reduction, 0.0)[0]
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if input._data.shape != target._data.shape:  # class indices: a row spec
        _check_logits(input)
        targets = _class_targets(input, target, weight, ignore_index)
        return _rows(_FOCAL, input, targets, reduction, (float(gamma),))
    ce, denom = _cross_entropy(input, target, weight, ignore_index, "none", 0.0)
    nonzero = Tensor._make(ce._data != 0)
    safe = where(nonzero, ce, 1.0)
    modulated = mul(pow(neg(expm1(neg(safe))), gamma), safe)
    loss = where(nonzero, modulated, 0.0)
    return _reduction.apply(loss, reduction, denominator=denom)


def _focal_block(
    logits: np.ndarray,
    targets: ClassTargets,
    gamma: float,
    loss: np.ndarray,
    dldx: np.ndarray,
    scale: Any,
) -> None:
    """Focal loss of a block of rows: with ``ce = w[y] (lse - x[y])`` and ``u = 1 - exp(-ce)``,
    ``l = u**gamma ce`` and ``dl/dce = u**(gamma - 1) (u + gamma (1 - u) ce)`` (both 0 where
    ``ce == 0``), times cross-entropy's gradient ``w[y] (softmax(x) - onehot(y))``."""
    dtype = logits.dtype.type
    offsets = targets.offsets(logits)
    log_sum_exp, sums, target = _exp_rows(logits, dldx, offsets)[:3]
    ce = np.subtract(log_sum_exp, target)
    if targets.weight is not None:
        ce *= targets.weight
    nonzero = ce != 0
    u = np.expm1(-ce)
    np.negative(u, out=u)
    power = np.where(nonzero, u, dtype(1)) ** dtype(gamma - 1)  # finite where ce == 0
    power[~nonzero] = 0
    slope = (1 - u) * ce  # dl/dce, with exp(-ce) = 1 - u
    slope *= dtype(gamma)
    slope += u
    slope *= power
    np.multiply(power * u, ce, out=loss)
    slope *= scale
    if targets.weight is not None:
        slope *= targets.weight
    np.multiply(dldx, (slope / sums)[:, None], out=dldx)
    flat(dldx)[offsets] -= slope


def _focal_derivative(
    logits: Tensor, targets: ClassTargets, gamma: float, upstream: Tensor
) -> Tensor:
    """`_focal_block`'s gradient with ops (cross-entropy from ``log_softmax``)."""
    data = logits._data
    row_weight = Tensor._make(
        np.ones((data.shape[0], 1), data.dtype)
        if targets.weight is None
        else targets.weight[:, None]
    )
    index = Tensor._make(targets.index[:, None])
    ce = mul(neg(gather(_log_softmax(logits, 1), 1, index)), row_weight)
    nonzero = ce._data != 0  # an ignored row, like ce = 0, has slope 0 (ce may be inf there)
    if targets.ignored is not None:
        nonzero &= ~targets.ignored[:, None]
    nonzero = Tensor._make(nonzero)
    safe = where(nonzero, ce, 1.0)
    u = neg(expm1(neg(safe)))
    slope = mul(pow(u, gamma - 1), add(u, mul(mul(exp(neg(safe)), safe), gamma)))
    slope = where(nonzero, mul(mul(slope, row_weight), upstream), 0.0)
    one_hot = Tensor._make(targets.one_hot(data.shape[1], data.dtype))
    return mul(sub(_softmax(logits, 1), one_hot), slope)


_FOCAL = Rows(
    node="FocalLossBackward0",
    kernel=_focal_block,
    derivative=_focal_derivative,
    planes=True,
    softmax=True,
)


def _log_one_minus_pt(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """``a = logsigmoid(x)``, ``b = logsigmoid(-x)`` (sharing ``log1p(exp(-|x|))``) and
    ``log(1 - p_t) = log((1 - y) e^a + y e^b)``: a select when every target is 0 or 1."""
    soft = np.log1p(np.exp(-np.abs(x)))
    a, b = np.minimum(x, 0) - soft, -np.maximum(x, 0) - soft
    if ((y == 0) | (y == 1)).all():
        return a, b, np.where(y != 0, b, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        return a, b, np.logaddexp(np.log1p(-y) + a, np.log(y) + b)


class _LogOneMinusPt(ArrayFunction):
    """``log(1 - p_t) = log((1 - y) sigmoid(x) + y sigmoid(-x))`` in log space.

    Forward: ``logaddexp(log1p(-y) + logsigmoid(x), log(y) + logsigmoid(-x))``, finite for any
    finite logit. Backward (lossgrad ops, so it differentiates again), with ``o`` the output:
    ``d/dx = (1 - 2y) exp(logsigmoid(x) + logsigmoid(-x) - o)`` and
    ``d/dy = exp(logsigmoid(-x) - o) - exp(logsigmoid(x) - o)``.
    """

    node_name = "LogOneMinusPtBackward0"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = _log_one_minus_pt(x, y)[2]
        ctx.save_for_backward(x, y, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x, y, out = ctx.saved_tensors
        a, b = logsigmoid(x), logsigmoid(neg(x))
        return mul(g, _dlw_dx(a, b, out, y)), _times_dlw_dy(g, a, b, out)


class _TimesExp(ArrayFunction):
    """``a b exp(u)``, the focal term of ∂l/∂x: ``a`` the upstream gradient of ``ce`` (up to the
    float maximum), ``b`` the modulation's factor, ``exp(u)`` the slope of ``log(1 - p_t)``
    (0 where it underflows, at a huge logit). One op so that its derivatives multiply by
    ``exp(u)`` first: ``d/du`` is ``g`` times the result, 0 there, where a product of ops would
    multiply ``g a b`` (which may overflow) by ``exp(u)`` = 0, giving NaN; torch's composite
    multiplies its huge factor by the small ones first too."""

    node_name = "TimesExpBackward0"

    @staticmethod
    def forward(ctx: Any, a: np.ndarray, b: np.ndarray, u: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b, u)
        return a * (b * np.exp(u))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        a, b, u = ctx.saved_tensors
        slope = exp(u)
        scaled = mul(b, slope)
        return mul(g, scaled), mul(mul(g, slope), a), mul(g, mul(a, scaled))


def _dlw_dx(a: Any, b: Any, lw: Any, y: Any) -> Any:
    """d log(1 - p_t)/dx = (1 - 2y) sigmoid(x) sigmoid(-x) / (1 - p_t), in log space (ops)."""
    return mul(sub(1.0, mul(y, 2.0)), exp(sub(add(a, b), lw)))


def _times_dlw_dy(g: Any, a: Any, b: Any, lw: Any) -> Any:
    """``g d log(1 - p_t)/dy = g sigmoid(-x) / (1 - p_t) - g sigmoid(x) / (1 - p_t)``, in log
    space (ops): ``g`` times each term, as torch's product rule through ``p y + (1 - p)(1 - y)``
    multiplies it (an infinite ``g`` meets a 0 term as NaN where torch's does). Its exponents
    are clamped below overflow, so that where ``1 - p_t`` underflows it stays finite and meets
    the modulation's 0 as torch's power rule does (0, not 0 * inf: NaN)."""
    top = float(_logistic._exp_max(lw._data.dtype))
    return sub(mul(g, exp(clamp_max(sub(b, lw), top))), mul(g, exp(clamp_max(sub(a, lw), top))))


def _sigmoid_focal_parts(
    x: np.ndarray, y: np.ndarray, alpha: float, gamma: float, dldx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(alpha_t (1 - p_t)^gamma, ce)`` of one block, ∂l/∂x into ``dldx``: the shorter formula
    of `_sigmoid_focal_binary` when every target is 0 or 1 and every logit finite (a finite sum:
    at an infinite logit torch's ``(1 - y) x`` is NaN, which `_sigmoid_focal_soft` keeps)."""
    if bool(((y == 0) | (y == 1)).all()) and np.isfinite(_parallel.total(x)):
        return _sigmoid_focal_binary(x, y, alpha, gamma, dldx)
    return _sigmoid_focal_soft(x, y, alpha, gamma, dldx)


def _sigmoid_focal_gradients(
    upstream: Tensor, divisor: int | None, x: Tensor, y: Tensor, alpha: float, gamma: float
) -> tuple[Tensor, Tensor]:
    """∂l/∂x and ∂l/∂y times the upstream gradient, in log space (`_LogOneMinusPt` and
    log-sigmoids) as the docstring of `sigmoid_focal_loss` writes them, in the order of torch's
    backward through torchvision's composite: the upstream gradient (over ``n`` for a mean)
    first, so that a huge ``ce`` overflows only where torch's does."""
    log_p, log_not_p = logsigmoid(x), logsigmoid(neg(x))
    log_w = _LogOneMinusPt.apply(x, y)
    ce = sub(mul(sub(1.0, y), x), log_p)
    modulation = exp(mul(log_w, float(gamma))) if gamma != 0 else 1.0  # not 0 * -inf
    scale = _reduction.divide_grad(upstream, divisor)
    # alpha_t = alpha y + (1 - alpha)(1 - y) in two terms, as torch's: its second derivative in
    # y meets inf - inf (NaN) where torch's does
    inner = scale if alpha < 0 else mul(scale, add(mul(y, alpha), mul(sub(1.0, y), 1 - alpha)))
    grad_ce = mul(inner, modulation)
    dldx, dldy = mul(grad_ce, sub(exp(log_p), y)), mul(grad_ce, neg(x))
    if gamma != 0:  # the focal terms (left out at 0, as torch's pow backward does)
        # then gamma (1 - p_t)**gamma d log(1 - p_t), gamma first as torch's pow backward: the
        # upstream of a huge ce times gamma alone can overflow (inf * 0 = NaN at x = 1.7e308)
        grad_mod = mul(inner, ce)
        factor = mul(mul(modulation, gamma), sub(1.0, mul(y, 2.0)))
        dldx = add(dldx, _TimesExp.apply(grad_mod, factor, sub(add(log_p, log_not_p), log_w)))
        # torch's power rule gamma (1 - p_t)**(gamma - 1) d(1 - p_t)/dy (no inf - inf at p_t = 1)
        power = mul(grad_mod, mul(exp(mul(log_w, float(gamma) - 1)), gamma))
        dldy = add(dldy, sub(mul(power, exp(log_not_p)), mul(power, exp(log_p))))
    if alpha >= 0:  # d alpha_t/dy = alpha - (1 - alpha), two terms as torch's (inf - inf: NaN)
        grad_alpha = mul(scale, mul(ce, modulation))
        dldy = add(dldy, sub(mul(grad_alpha, alpha), mul(grad_alpha, 1 - alpha)))
    return dldx, dldy


_SIGMOID_FOCAL = Pointwise(
    node="SigmoidFocalLossBackward0",
    gradients=_sigmoid_focal_gradients,
    **factored(_sigmoid_focal_parts),  # l = alpha_t (1 - p_t)^gamma times ce
)


def _sigmoid_focal_binary(
    x: np.ndarray, y: np.ndarray, alpha: float, gamma: float, dx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`_sigmoid_focal_parts` with every target 0 or 1 and every logit finite.

    With ``s = 1 - 2y`` and ``z = s x`` (so ``p_t = sigmoid(-z)``), ``sp = log1p(exp(-|x|))``:
    ``ce = relu(z) + sp``, ``m = 1 - p_t = exp(min(z, 0) - sp)``, ``l = alpha_t m**gamma ce``
    and ``dl/dx = s alpha_t m**gamma (m + gamma ce (1 - m))`` (at ``gamma = 0`` the finite
    ``ce`` meets the 0 as 0); per-thread scratch buffers hold the temporaries, ``clip`` is
    relu's and ``min``'s branch-free pass.
    """
    dt = x.dtype.type
    sp, s, log_m, ce, m = scratches(x, 5)
    np.negative(np.abs(x, out=sp), out=sp)
    np.log1p(np.exp(sp, out=sp), out=sp)
    np.add(np.multiply(y, -2.0, out=s), 1.0, out=s)
    z = np.multiply(x, s, out=log_m)
    np.add(_clip(z, dt(0), dt(np.inf), out=ce), sp, out=ce)  # relu(z) + sp
    np.subtract(_clip(z, dt(-np.inf), dt(0), out=log_m), sp, out=log_m)  # min(z, 0) - sp
    np.exp(log_m, out=m)
    if gamma == 2:
        w = np.multiply(m, m, out=log_m)
    else:  # m**gamma = exp(gamma * log(m))
        w = np.exp(np.multiply(log_m, gamma, out=log_m), out=log_m)
    if alpha >= 0:  # alpha_t = 1/2 - (alpha - 1/2) s
        w *= np.add(np.multiply(s, 0.5 - alpha, out=sp), 0.5, out=sp)
    np.subtract(1.0, m, out=dx)  # then m + gamma ce (1 - m), times w and s
    dx *= ce
    dx *= gamma
    dx += m
    dx *= w
    dx *= s
    return w, ce


def _sigmoid_focal_soft(
    x: np.ndarray, y: np.ndarray, alpha: float, gamma: float, dx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`_sigmoid_focal_parts` for any targets in ``[0, 1]``: ``ce = (1 - y) x - log(p)`` and
    ``dl/dx = alpha_t (1 - p_t)**gamma ((p - y) + gamma ce d log(1 - p_t)/dx)``, the focal term
    left out at ``gamma = 0`` (``0 * inf`` at an infinite logit)."""
    log_p, log_not_p, log_w = _log_one_minus_pt(x, y)
    ce = (1 - y) * x - log_p
    w = np.exp(log_w * gamma) if gamma != 0 else np.ones_like(x)
    w = w * (y * (2 * alpha - 1) + (1 - alpha)) if alpha >= 0 else w
    np.exp(log_p, out=dx)
    if gamma != 0:  # (1 - 2y) ce before gamma: a huge ce meets a 0 factor before it overflows
        dx += np.exp(log_p + log_not_p - log_w) * ((1 - 2 * y) * ce) * gamma
    dx -= y
    dx *= w
    return w, ce


def sigmoid_focal_loss(
    inputs: Tensor,
    targets: Tensor,
    alpha: float = 0.25,
    gamma: float = 2,
    reduction: str = "none",
) -> Tensor:
    """Binary focal loss on logits (RetinaNet), torchvision's definition and defaults.

    A lossgrad extension (torchvision.ops.sigmoid_focal_loss). With ``p = sigmoid(x)``,
    ``p_t = p y + (1 - p)(1 - y)`` and ``alpha_t = alpha y + (1 - alpha)(1 - y)``::

        l = alpha_t * BCEWithLogits(x, y) * (1 - p_t) ** gamma

    (``alpha_t`` is dropped when ``alpha < 0``). Computed in log space:
    ``(1 - p_t) ** gamma = exp(gamma * log(1 - p_t))`` with ``log(1 - p_t)`` from log-sigmoids,
    so it is finite, with finite gradients, for logits of any size (``+-1000`` included).
    Gradient in ``x``: ``alpha_t (1 - p_t)**gamma [(p - y) + gamma * BCE * d log(1 - p_t)/dx]``
    with ``d log(1 - p_t)/dx = (1 - 2y) p (1 - p) / (1 - p_t)``.

    Args:
        inputs: logits of any shape.
        targets: the same shape, binary labels (or soft labels in ``[0, 1]``).
        alpha: weight of the positive class in ``(0, 1)``, or negative to disable. Default 0.25.
        gamma: focusing exponent ``>= 0``. Default 2.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'none'`` (torchvision's).

    Returns:
        The loss: ``inputs``' shape for ``'none'``, else a scalar.

    Note:
        Matches torchvision's formula wherever that is finite; unlike a direct
        ``(1 - p_t) ** gamma`` it has no NaN gradient where ``p_t`` rounds to 1. Gradients flow
        to the targets too (finite for soft targets). Second derivatives are supported.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([1000.0, -1000.0, 0.0])
        >>> y = torch.tensor([1.0, 1.0, 0.0])
        >>> torch.nn.functional.sigmoid_focal_loss(x, y, reduction="sum")
        tensor(250.1300)
    """
    # torchvision's order: sigmoid(inputs), binary_cross_entropy_with_logits's checks, and the
    # reduction after computing
    _checks.check_tensor_arguments("sigmoid", input=inputs)
    _checks.check_target_size(inputs, targets)
    _checks.check_float_kernel(inputs._data.dtype, "log_sigmoid_cpu")
    _checks.check_float_result(targets._data.dtype, targets._data.dtype)
    reduction = _reduction.resolve_torchvision(reduction)
    _, (x, y) = promote(inputs, targets)
    return _pointwise(_SIGMOID_FOCAL, (x, y), reduction, (float(alpha), float(gamma)))


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
