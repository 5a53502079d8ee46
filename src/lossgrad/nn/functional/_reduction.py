"""The one home of reduction logic: legacy flags, validation, and applying a reduction.

Every loss calls `resolve` first (legacy ``size_average``/``reduce`` with torch's truth table and
warning, the deprecated ``'elementwise_mean'``, ValueError for unknown values), then `apply` last.
Weighted means, ``'batchmean'`` and CTC's per-length mean are a ``denominator``, not special
cases inside the losses.

Fused losses (one op that reduces inside its forward) describe a reduction by its `divisor`
(None: unreduced; 1: a sum; the element count: a mean; the batch size: ``'batchmean'``), finish
their blockwise total with `divide_total`, scale the first-order gradient they keep with
`kept_scale` and their differentiable backward with `divide_grad`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.ops import reduce as _R
from lossgrad.ops import shape as _S

_VALID = ("none", "mean", "sum")
_LEGACY_WARNING = (
    "size_average and reduce args will be deprecated, please use reduction='{}' instead."
)


def legacy_get_string(
    size_average: bool | None, reduce: bool | None, emit_warning: bool = True, stacklevel: int = 3
) -> str:
    """torch's truth table for the deprecated flags; each None counts as True.

    ======================  ==============  =========
    size_average            reduce          result
    ======================  ==============  =========
    True / None             True / None     ``'mean'``
    False                   True / None     ``'sum'``
    any                     False           ``'none'``
    ======================  ==============  =========

    Emits torch's ``UserWarning`` naming the equivalent ``reduction`` (unless ``emit_warning`` is
    False).
    """
    if size_average is None:
        size_average = True
    if reduce is None:
        reduce = True
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    if emit_warning:
        warnings.warn(_LEGACY_WARNING.format(ret), stacklevel=stacklevel)
    return ret


def legacy(reduction: str, size_average: bool | None, reduce: bool | None) -> str:
    """``reduction``, or the legacy flags' string (with the warning) when either flag is set;
    for losses whose torch code validates the string later than it reads the flags."""
    if size_average is not None or reduce is not None:
        return legacy_get_string(size_average, reduce)
    return reduction


def resolve(
    reduction: str,
    size_average: bool | None = None,
    reduce: bool | None = None,
    allowed: tuple[str, ...] = _VALID,
    *,
    alias: bool = True,
    stacklevel: int = 3,
) -> str:
    """The effective reduction string.

    Legacy flags, when either is set, override ``reduction`` (which is then not validated, as in
    torch). ``'elementwise_mean'`` means ``'mean'`` with a deprecation warning when ``alias`` is
    True; losses whose torch code checks the string itself (``poisson_nll_loss``,
    ``gaussian_nll_loss``, ``multilabel_soft_margin_loss``, the weighted ``l1``/``mse``/``huber``
    paths) pass ``alias=False`` and reject it. Anything not in ``allowed`` raises ValueError.
    """
    if size_average is not None or reduce is not None:
        return legacy_get_string(size_average, reduce, stacklevel=stacklevel + 1)
    if alias and reduction == "elementwise_mean":
        warnings.warn(
            "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
            stacklevel=stacklevel,
        )
        return "mean"
    if reduction not in allowed:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def resolve_torchvision(reduction: str) -> str:
    """``reduction`` checked as torchvision's losses do (their ValueError message)."""
    if reduction not in _VALID:
        raise ValueError(
            f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: "
            "'none', 'mean', 'sum'"
        )
    return reduction


def apply(loss: Tensor, reduction: str, denominator: Any = None) -> Tensor:
    """Reduce an unreduced loss: 'none' keeps it, 'sum' adds it up, 'batchmean' divides the sum
    by the size of the first dimension, 'mean' divides the sum by ``denominator`` (a number or
    0-d Tensor) or, when None, by the number of elements (NaN for an empty loss, as in torch)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return _R.sum(loss)
    if reduction == "batchmean":
        return _R.sum(loss) / loss.shape[0]
    if denominator is None:
        return _R.mean(loss)
    return _R.sum(loss) / denominator


def reduce_array(loss: np.ndarray, reduction: str, denominator: int | None = None) -> np.ndarray:
    """`apply` for a raw array inside a fused forward (the float dtype is kept; float16 is added
    and divided in float32, as torch): the mean divides by ``denominator`` (default: the number
    of elements) and is NaN, without a NumPy warning, when that is 0."""
    if reduction == "none":
        return loss
    total = loss.sum(dtype=accumulation_dtype(loss.dtype))
    count = 1 if reduction == "sum" else loss.size if denominator is None else denominator
    return divide_total(total, count, loss.dtype, reduction)


def element_scale(reduction: str, count: int) -> float:
    """d(reduced loss)/d(element) of a reduction over ``count`` elements: ``1 / count`` for
    ``'mean'`` (NaN when there are none), else 1."""
    if reduction == "mean":
        return 1.0 / count if count else float("nan")
    return 1.0


def divisor(reduction: str, shape: tuple[int, ...], size: int) -> int | None:
    """What a fused loss of ``size`` elements of ``shape`` divides its total by: None for
    ``'none'`` (no total), 1 for ``'sum'``, ``size`` for ``'mean'``, the first dimension for
    ``'batchmean'`` (1 for a 0-d loss)."""
    if reduction == "none":
        return None
    if reduction == "sum":
        return 1
    if reduction == "batchmean":
        return shape[0] if shape else 1
    return size


def reduces(reduction: str) -> bool:
    """Whether ``reduction`` gives one value (anything but ``'none'``)."""
    return reduction != "none"


def reduce_per_sample(
    loss: np.ndarray, reduction: str, lengths: np.ndarray | None = None
) -> np.ndarray:
    """A fused loss's per-sample values ``loss`` reduced, with torch's arithmetic: kept for
    ``'none'``, summed for ``'sum'``; for ``'mean'`` the mean of ``loss / max(lengths, 1)``
    (CTC's per-length mean) or, without ``lengths``, of ``loss``."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.asarray(loss.sum(dtype=loss.dtype))
    if lengths is not None:
        loss = loss / np.maximum(lengths, 1).astype(loss.dtype)
    return np.asarray(loss.mean(dtype=loss.dtype))


def per_sample_grad(
    g: Tensor, reduction: str, count: int, lengths: np.ndarray | None = None
) -> Tensor:
    """The adjoint of `reduce_per_sample` on the upstream gradient ``g``, differentiably: the
    gradient of each of ``count`` samples' losses (torch's order for the per-length mean:
    ``MeanBackward0`` then ``DivBackward0``)."""
    if reduction == "none":
        return g
    if reduction == "sum":
        return _S.expand(g, (count,))
    g = g / float(count)
    if lengths is None:
        return _S.expand(g, (count,))
    return g / Tensor._make(np.maximum(lengths, 1).astype(g._data.dtype))


def mean_divisor(reduction: str, denominator: float) -> float | None:
    """`divisor` of a loss whose ``'mean'`` divides by ``denominator`` (a weighted mean's
    total weight, a number of rows): None for ``'none'``, 1 for ``'sum'``."""
    if reduction == "none":
        return None
    return 1 if reduction == "sum" else denominator


def gradient_scale(dtype: np.dtype, divisor: float | None) -> Any:
    """d(reduced loss)/d(element) in ``dtype`` for a fused loss's ``divisor``: 1 when unreduced
    or summed, ``1 / divisor`` for a mean (NaN for the mean of nothing), computed as the
    backward would."""
    key = (dtype, divisor)
    scale = _GRADIENT_SCALES.get(key)
    if scale is None:
        one = dtype.type(1)
        if divisor is None or divisor == 1:
            scale = one
        else:
            nothing = np.nan if dtype.kind == "f" else 0  # an integer input's empty batch
            scale = one / dtype.type(divisor) if divisor else dtype.type(nothing)
        if len(_GRADIENT_SCALES) > 4096:  # many distinct divisors: a bounded cache
            _GRADIENT_SCALES.clear()
        _GRADIENT_SCALES[key] = scale
    return scale


_GRADIENT_SCALES: dict[tuple[np.dtype, float | None], Any] = {}


def accumulation_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a fused loss of ``dtype`` adds its terms in: float32 for float16 (torch's
    ``acc_type`` of Half on CPU), else ``dtype`` itself."""
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def divide_total(total: Any, divisor: int, dtype: np.dtype, reduction: str) -> np.ndarray:
    """A fused loss's reduced value as a 0-d array of ``dtype``, from its ``total`` (a NumPy
    scalar or 0-d array of ``accumulation_dtype(dtype)``): the total itself for a sum, else
    divided by ``divisor``; NaN for the mean of nothing. A float16 total is rounded once, after
    a mean's division (torch's Half mean sums and divides in float32); ``'batchmean'`` is
    torch's ``loss.sum() / input.size(0)``, whose sum is rounded first."""
    if divisor == 1:
        return np.asarray(total, dtype)
    if divisor == 0:  # 0 for an integer input's empty batch (torch's is uninitialized memory)
        return np.asarray(np.nan if dtype.kind == "f" else 0, dtype)
    if reduction == "batchmean":
        total = dtype.type(total)
    return np.asarray(total / total.dtype.type(divisor), dtype)


_KEPT_SCALES: dict[tuple[np.dtype, int | None, float], Any] = {}


def kept_scale(dtype: np.dtype, divisor: int | None, factor: float = 1.0) -> Any:
    """The factor a fused forward multiplies the gradient it keeps by (the prescale), or None
    when there is nothing to multiply: for a reduced loss, ``factor / divisor`` computed in
    ``dtype`` as the backward would, so the kept array already is the gradient for an upstream
    gradient of 1; for an unreduced one, ``factor`` (a constant the block kernel left out of its
    ∂l/∂x)."""
    key = (dtype, divisor, factor)
    if key in _KEPT_SCALES:
        return _KEPT_SCALES[key]
    one = dtype.type(1)
    scale = one / dtype.type(divisor) if divisor not in (None, 0, 1) else one
    if factor != 1.0:
        scale = scale * dtype.type(factor)
    if len(_KEPT_SCALES) > 4096:  # many distinct sizes: a bounded cache
        _KEPT_SCALES.clear()
    _KEPT_SCALES[key] = result = None if scale == one else scale
    return result


def divide_grad(g: Tensor, divisor: int | None) -> Tensor:
    """The adjoint of `divide_total` on the upstream gradient ``g`` (a Tensor), differentiably:
    ``g`` itself when unreduced or summed, ``g / divisor`` otherwise (NaN when it is 0)."""
    if divisor is None or divisor == 1:
        return g
    return g / (float(divisor) if divisor else float("nan"))


def apply_weighted(loss: Tensor, weight: Tensor, reduction: str, weighted_mean: bool) -> Tensor:
    """torch's functional-only ``weight`` of l1/mse/huber: ``loss * weight`` reduced, where a
    ``'mean'`` is ``sum(w l) / sum(w)`` when ``weighted_mean`` (l1, mse) and the plain mean
    otherwise (huber). The reduction is checked here, as in torch (``'elementwise_mean'`` is
    rejected)."""
    reduction = resolve(reduction, alias=False)
    loss = loss * weight
    if reduction == "mean" and weighted_mean:
        return apply(loss, reduction, denominator=weight.sum())
    return apply(loss, reduction)


def mean_of_equal_groups_is_elementwise(reduction: str) -> bool:
    """Whether reducing the means of equal-size groups (per-sample means over classes) equals
    the same reduction over all elements: true of ``'mean'`` only."""
    return reduction == "mean"


def resolve_kl_div(
    reduction: str, size_average: bool | None, reduce: bool | None, input: Tensor, target: Tensor
) -> tuple[str, bool]:
    """kl_div's reduction: the legacy flags (which override the string) or the string, with
    torch's warning for ``'mean'``; ``'batchmean'`` is the sum divided by ``input.size(0)``
    (the sum for a 0-d input). Returns the reduction of the fused op and whether the result
    must still be divided by ``input.size(0)``: with legacy flags, as torch does, and where
    the operands broadcast (their shapes differ), since the fused ``'batchmean'`` divides by
    the first dimension of the broadcast shape.
    """
    batchmean = reduction == "batchmean" and input.dim() != 0
    if size_average is not None or reduce is not None:
        return legacy_get_string(size_average, reduce, stacklevel=4), batchmean
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            stacklevel=3,
        )
    if reduction == "batchmean":
        if batchmean and input.shape != target.shape:
            return "sum", True
        return ("batchmean" if batchmean else "sum"), False
    return resolve(reduction, stacklevel=4), False
