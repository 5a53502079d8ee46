"""Margin and embedding losses: multi_margin, multilabel_margin, margin_ranking, hinge_embedding,
cosine_embedding, triplet_margin, triplet_margin_with_distance.

Each functional resolves the reduction, validates its arguments, computes, and reduces.

margin_ranking_loss and hinge_embedding_loss are pointwise losses: a NumPy kernel that writes the
loss and its piecewise-constant slope, and the slope written with lossgrad ops (so the second
derivative is exact: zero in the input, the loss being piecewise linear). The multi-class
losses are row specs (`_rows`): a NumPy kernel over a block of rows writes the losses and the
gradient, and the gradient written with lossgrad ops serves ``create_graph=True``. This is how
lossgrad gives ``multi_margin_loss`` and ``multilabel_margin_loss`` the double backward that
torch lacks.

The triplet losses with ``pairwise_distance`` at p = 1 or 2 are one fused op as well: distances,
margin, clamp, swap and reduction in one forward, and a backward that writes each gradient once.

Ties follow torch: ``clamp_min`` (hinge, margin ranking, cosine embedding, triplet) passes the
gradient at exactly zero, the multi-class kernels (``z > 0``) do not.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np

from lossgrad import _parallel
from lossgrad._backend import clip as _clip
from lossgrad._backend import dot as _dot
from lossgrad._exports import public_names
from lossgrad._factories import zeros_like
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction, backward_via_tensors
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.nn.functional._pointwise import Pointwise, by_reduction, scratch
from lossgrad.nn.functional._pointwise import apply as _pointwise
from lossgrad.nn.functional._rows import ClassTargets, Rows
from lossgrad.nn.functional._rows import apply as _row_loss
from lossgrad.nn.functional.distance import (
    _cosine_grads,
    _diff_norms,
    _difference_and_norm,
    _fused_distance_rows,
    _fused_rows,
    _norm_backward,
    _norm_grad_into,
    _row_factor,
    _rows,
    _scratch,
    pairwise_distance,
)
from lossgrad.ops._common import arange, promote, row_offsets, sum_to_shape
from lossgrad.ops.index import gather, masked_fill
from lossgrad.ops.pointwise import (
    add,
    clamp_min,
    div,
    eq,
    ge,
    minimum,
    mul,
    ne,
    neg,
    rsub,
    sqrt,
    sub,
    where,
)
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import expand, reshape

_EPSILON = float(np.float32(1e-12))  # torch's ``constexpr float EPSILON`` of Loss.cpp


def _check_kernel_dtypes(t: Tensor, target: Tensor, kernel: str) -> None:
    """torch's dtype checks of the margin kernels (a float32/float64 input, int64 targets),
    which it skips on an empty batch: its kernel is never dispatched for one."""
    if t._data.size:
        _check_float_kernel(t, kernel)
        _checks.check_scalar_type(target, np.int64)


def _check_float_kernel(t: Tensor, kernel: str) -> None:
    if t._data.dtype.kind != "f" or t._data.dtype == np.float16:
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for '{_checks.scalar_type_name(t._data.dtype)}'"
        )


def _by_reduction(cls: type[ArrayFunction], unreduced: str) -> dict[str, type[ArrayFunction]]:
    """Variants of a fused loss whose ``grad_fn`` names are torch's: torch builds these losses
    from ops, so its graph ends in ``unreduced`` (e.g. ``AddBackward0``), ``MeanBackward0`` or
    ``SumBackward0`` depending on the reduction."""
    names = {"none": unreduced, "mean": "MeanBackward0", "sum": "SumBackward0"}
    return {r: type(cls.__name__, (cls,), {"node_name": n}) for r, n in names.items()}


# -- multi_margin_loss --------------------------------------------------------------------------


def _multi_margin_block(
    scores: np.ndarray,
    targets: ClassTargets,
    p: int,
    margin: float,
    loss: np.ndarray,
    dldx: np.ndarray,
    scale: Any,
) -> None:
    """Weston-Watkins hinge of a block of rows, written in the gradient's memory.

    With ``h_i = max(0, margin - x[y] + x[i])`` off the target (0 at it; ``fmax`` also drops NaN
    margins, as torch's ``z > 0`` test): ``l = w[y] sum_i h_i^p / C``; ``∂l/∂x_i = w[y] (1 or
    2 h_i) / C`` where ``h_i > 0``, and ``∂l/∂x_y`` is minus their sum.
    """
    classes, dtype = scores.shape[1], scores.dtype
    ones, minus_one, factor = _multi_margin_constants(classes, dtype, p, scale)
    positions = targets.positions(classes)
    hinge = np.add(scores, (margin - scores.reshape(-1)[positions])[:, None], out=dldx)
    flat_hinge = hinge.reshape(-1)
    flat_hinge[positions] = 0
    small = hinge.size <= _SMALL_BLOCK
    if small:  # a scalar operand: less fixed cost, slower loops
        np.fmax(hinge, 0, out=hinge)
    else:
        _parallel.fmax0(hinge)
    if targets.weight is not None:  # each term times w[y] before the row's sum, as torch
        terms = hinge * hinge if p == 2 else hinge.copy()
        terms *= targets.weight[:, None]
        _dot(terms, ones, out=loss)
        factor = (factor * targets.weight)[:, None]
    elif p == 1:
        _dot(hinge, ones, out=loss)
    elif small:  # fewer calls cost less than one einsum here
        _dot(hinge * hinge, ones, out=loss)
    else:
        np.einsum("ij,ij->i", hinge, hinge, out=loss)
    loss /= dtype.type(classes)  # after the sum, as torch: a sum that overflows is inf
    if p == 1:  # the active classes: hinge >= 0, so its sign is 1 or 0
        if small:  # in place, sign is the cheaper call on small blocks, 10x slower on large
            np.sign(hinge, out=hinge)
        else:
            np.greater(hinge, 0, out=hinge, casting="unsafe")
    hinge *= factor
    flat_hinge[positions] = _dot(hinge, minus_one)


#: Blocks of at most this many scores (multi_margin) take the NumPy calls of least fixed cost.
_SMALL_BLOCK = 1024


@functools.lru_cache(maxsize=64)
def _multi_margin_constants(
    classes: int, dtype: np.dtype, p: int, scale: Any
) -> tuple[np.ndarray, np.ndarray, Any]:
    """`_multi_margin_block`'s constants: the vectors of ``1`` and of ``-1`` over the classes
    (row sums as matrix-vector products) and the slope factor ``scale p / C``."""
    ones = np.ones(classes, dtype)
    minus_one = np.full(classes, -1, dtype)
    ones.flags.writeable = minus_one.flags.writeable = False
    return ones, minus_one, scale * dtype.type(p / classes)


def _multi_margin_derivative(
    scores: Tensor, targets: ClassTargets, p: int, margin: float, upstream: Tensor
) -> Tensor:
    """`_multi_margin_block`'s gradient with ops: for ``p=1`` the slopes are constants; for
    ``p=2`` their dependence on the scores is rebuilt."""
    data = np.ascontiguousarray(scores._data)  # C order: the flat writes below land in place
    classes = data.shape[1]
    positions = targets.positions(classes)
    margins = data + (data.dtype.type(margin) - data.reshape(-1)[positions])[:, None]
    margins.reshape(-1)[positions] = 0
    rate = (margins > 0) * data.dtype.type(p / classes)
    if targets.weight is not None:
        rate *= targets.weight[:, None]
    if p == 1:
        rate.reshape(-1)[positions] = -rate.sum(1)
        return mul(Tensor._make(rate), upstream)
    index = Tensor._make(targets.index[:, None])
    # the inactive margins are masked, not multiplied by a 0 rate: an infinite score makes
    # them inf - inf or -inf (NaN times 0), where torch's gradient is 0
    margins = masked_fill(add(sub(scores, gather(scores, 1, index)), margin), rate == 0, 0.0)
    slopes = mul(margins, Tensor._make(rate))
    # the target's entry is minus the row's sum, put in place (times a 0 one-hot, an infinite
    # sum would give NaN). torch's kernel sums slopes that hold the mean's 1 / M, then scales
    # by the output's gradient (the sum of huge slopes overflows there): unreduced, each row's
    # upstream comes after the sum; reduced, the upstream (holding the 1 / M) before it
    at_target = targets.one_hot(classes, np.bool_)
    if upstream.dim():
        return mul(where(at_target, neg(_sum(slopes, 1, True)), slopes), upstream)
    slopes = mul(slopes, upstream)
    return where(at_target, neg(_sum(slopes, 1, True)), slopes)


_MULTI_MARGIN = Rows(
    node="MultiMarginLossBackward0",
    kernel=_multi_margin_block,
    derivative=_multi_margin_derivative,
    weighted_mean=False,
)


def _check_multi_margin(
    input: Tensor, target: Tensor, p: int, weight: Tensor | None
) -> tuple[int, int]:
    """torch's checks of multi_margin_loss's arguments, in torch's order; returns the number of
    samples and of classes."""
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight._data.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    shape = input._data.shape
    nd = len(shape)
    if not ((nd == 2 and shape[1] != 0) or (nd == 1 and shape[0] != 0) or nd == 0):
        raise RuntimeError(
            "Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
            f"{list(shape)}"
        )
    n, c = (shape[0], shape[1]) if nd == 2 else (1, shape[0] if nd == 1 else 1)
    y = target._data
    if y.ndim > 1 or y.size != n:
        raise RuntimeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of input "
            f"samples (batch size). Expected target size [{n}], but got {list(y.shape)}. "
            f"Input has shape {list(shape)}."
        )
    if weight is not None and weight._data.size != c:
        raise RuntimeError(f"inconsistent weight size, expected {c} but got {list(weight.shape)}")
    _check_kernel_dtypes(input, target, "multi_margin_loss_cpu_kernel")
    if weight is not None:
        if input._data.size:  # skipped on an empty batch, as the kernel's checks
            _checks.check_scalar_type(weight, input._data.dtype)
        if weight.requires_grad and grad_mode.is_grad_enabled():
            raise RuntimeError(
                "The function 'multi_margin_loss' is not differentiable with respect to argument "
                "'weight'. This input cannot have requires_grad True."
            )
    return n, c


def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Multi-class hinge loss (Weston-Watkins): wrong classes must trail the target by ``margin``.

    Unreduced, for a sample ``x`` of ``C`` scores with class ``y``:
    ``l = sum_{i != y} w[y] * max(0, margin - x[y] + x[i])^p / C``.

    Gradient: ``dl/dx[i] = w[y] * (1 if p == 1 else 2 z_i) / C`` for each wrong class with
    ``z_i = margin - x[y] + x[i] > 0`` (0 otherwise, also at ``z_i == 0``), and ``dl/dx[y]`` is
    minus their sum.

    Args:
        input: ``(N, C)`` or ``(C)`` scores (or a 0-d score, ``C = 1``).
        target: ``(N)`` or ``()`` int64 class indices in ``[0, C)``.
        p: 1 or 2. Default 1.
        margin: Default 1.0.
        weight: optional ``(C)`` class weights (same dtype as input); not differentiable.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or ``(N)`` for ``reduction='none'`` (``()`` when the target is 0-d).

    Note:
        Errors as torch: ValueError for ``p`` not in {1, 2} or a weight that is not 1-D;
        RuntimeError for a target that is not int64, has the wrong size, or is out of range.
        ``'mean'`` of an empty batch is NaN (torch returns uninitialised memory). **Beyond
        torch**: second derivatives are supported (torch raises "derivative for
        aten::multi_margin_loss_backward is not implemented"); for ``p=1`` the Hessian in the
        input is zero, for ``p=2`` it is ``2 w[y] / C`` on the active margins.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[0.3, 0.7], [0.5, 0.5]])
        >>> torch.nn.functional.multi_margin_loss(x, torch.tensor([0, 1]))
        tensor(0.6000)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    n, c = _check_multi_margin(input, target, p, weight)
    w = None if weight is None else weight._data
    y = target._data.reshape(n)
    if not _checks.indices_within(y, c):
        raise RuntimeError("target out of range")
    out_shape = (n,) if target._data.ndim else ()
    targets = ClassTargets(y, None if w is None else w[y], w, out_shape=out_shape)
    return _row_loss(_MULTI_MARGIN, input, targets, reduction, (int(p), float(margin)))


# -- multilabel_margin_loss ---------------------------------------------------------------------


class _LabelLists:
    """multilabel_margin's targets as rows: ``target``, the ``(M, C)`` int64 class lists (a
    row's list ends at its first ``-1``), ``valid``, the ``(M, width)`` mask of each row's list
    (``width`` the longest list), and ``out_shape``, the unreduced loss's shape. No row is
    ignored; ``'mean'`` divides by ``M``."""

    ignored = tensor = None  # no row ignored; no gradient for the labels

    def __init__(self, target: np.ndarray, valid: np.ndarray, out_shape: tuple[int, ...]) -> None:
        self.target, self.valid, self.out_shape = target, valid, out_shape
        self.total_weight = float(target.shape[0])

    def rows(self, r0: int, r1: int) -> _LabelLists:
        return _LabelLists(self.target[r0:r1], self.valid[r0:r1], self.out_shape)


def _multilabel_margin_block(
    scores: np.ndarray, labels: _LabelLists, loss: np.ndarray, dldx: np.ndarray, scale: Any
) -> None:
    """Multi-label hinge of a block of rows, over all (label slot, class) pairs in chunks of
    slots (no ``(rows, C, C)`` array).

    The pair of a row's label ``T_j`` and class ``i`` adds ``h = max(0, (1 - x[T_j]) + x[i])``
    (torch's rounding) to ``C l`` (summed, then divided by ``C``, as torch's). The scores are
    copied with one more entry, NaN, where the unused slots point: their ``1 - x[T_j]`` is NaN,
    and the copy gets NaN at the label classes, so ``fmax`` zeroes every pair that does not
    count (NaN margins included, as torch's ``z > 0`` test) with no mask arrays. Each active
    pair adds ``1 / C`` to ``∂l/∂x_i`` and ``-1 / C`` to ``∂l/∂x_{T_j}`` (a repeated label
    counts twice: ``np.subtract.at``; an unused slot has no active pair, and subtracts its 0
    from the extra entry). Sums over the classes are matrix-vector products with ones (NumPy's
    reductions along a short last axis cost several times more; float counts are exact).
    """
    rows, classes = scores.shape
    dtype, width, size = scores.dtype, labels.valid.shape[1], scores.size
    if not (width and rows):
        loss[:] = 0
        dldx[:] = 0
        return
    first_labels = labels.target[:, :width]
    positions = np.where(labels.valid, first_labels + _slot_offsets(rows, width, classes), size)
    extended = _parallel.scratch(size + 1, dtype, 1)  # the scores, then NaN
    np.copyto(extended[:size], scores.reshape(-1))
    extended[size] = np.nan
    base = 1 - extended[positions]
    extended[positions] = np.nan
    blanked = extended[:size].reshape(rows, 1, classes)
    counts = _parallel.scratch(size + 1, dtype, 3)  # the class counts, then a sink
    class_counts = counts[:size].reshape(rows, classes)
    slots = max(1, min(width, _CHUNK // size))
    for j0 in range(0, width, slots):
        j1 = min(width, j0 + slots)
        hinge = _parallel.scratch(rows * (j1 - j0) * classes, dtype, 2)
        hinge = hinge.reshape(rows, j1 - j0, classes)
        _parallel.fmax0(np.add(base[:, j0:j1, None], blanked, out=hinge))
        pair_sums = _dot(hinge.reshape(rows, -1), _parallel.ones((j1 - j0) * classes, dtype))
        np.greater(hinge, 0, out=hinge, casting="unsafe")  # the active pairs: 1, else 0
        slot_ones = _parallel.ones(j1 - j0, dtype)
        if j0:
            loss += pair_sums
            class_counts += np.matmul(slot_ones, hinge)
        else:
            loss[:] = pair_sums
            np.matmul(slot_ones, hinge, out=class_counts)
        label_counts = _dot(hinge.reshape(-1, classes), _parallel.ones(classes, dtype))
        np.subtract.at(counts, positions[:, j0:j1].reshape(-1), label_counts)
    loss /= dtype.type(classes)  # the sum, then / C (torch's order: it overflows as torch's)
    np.multiply(class_counts, _slope(scale, classes, dtype), out=dldx)


@functools.lru_cache(maxsize=16)
def _slot_offsets(rows: int, width: int, classes: int) -> np.ndarray:
    """``offsets[r, j] = r C``, the flat offset of row ``r`` per label slot ``j`` (cached,
    read-only; a block's rows x slots stay within a thread block's work, and few shapes are
    kept): an add of two arrays of one shape costs a fifth of a broadcast one on small blocks."""
    out = np.repeat(row_offsets(rows, classes), width).reshape(rows, width)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def _slope(scale: Any, classes: int, dtype: np.dtype) -> Any:
    """``scale / C`` in ``dtype`` (cached by dtype too: equal scales of two dtypes hash alike;
    one NumPy scalar operation costs about a microsecond, a tenth of a small block's kernel)."""
    return scale / dtype.type(classes)


def _multilabel_margin_derivative(scores: Tensor, labels: _LabelLists, upstream: Tensor) -> Tensor:
    """The loss is piecewise linear: its gradient is the kernel's constant slope."""
    data = scores._data
    slope = np.empty(data.shape, data.dtype)
    one = data.dtype.type(1)
    _multilabel_margin_block(data, labels, np.empty(data.shape[0], data.dtype), slope, one)
    return mul(Tensor._make(slope), upstream)


_MULTILABEL_MARGIN = Rows(
    node="MultilabelMarginLossBackward0",
    kernel=_multilabel_margin_block,
    derivative=_multilabel_margin_derivative,
    weighted_mean=False,
    row_work=lambda labels, classes: max(1, labels.valid.shape[1]) * classes,
)

#: Elements of one chunk of hinge values (``rows x slots x C``) in multilabel_margin_loss.
_CHUNK = 1 << 18


def multilabel_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Multi-label hinge loss: every target class must beat every non-target class by 1.

    Unreduced, for scores ``x`` of ``C`` classes with target set ``T``:
    ``l = sum_{j in T} sum_{i not in T} max(0, 1 - (x[j] - x[i])) / C``.

    Gradient: each active pair (``1 - x[j] + x[i] > 0``) adds ``1/C`` to ``dl/dx[i]`` and
    ``-1/C`` to ``dl/dx[j]``.

    Args:
        input: ``(N, C)`` or ``(C)`` (or 0-d, ``C = 1``).
        target: int64, same shape as ``input``: class indices, ended by the first ``-1``.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or ``(N)`` for ``reduction='none'`` (``()`` for an unbatched input).

    Note:
        Only the contiguous non-negative prefix of each target row is used; a repeated index in
        it counts twice (torch's kernel). Every entry must lie in ``[-1, C)``, even after the
        first -1, else RuntimeError; a non-int64 target is a RuntimeError. ``'mean'`` of an
        empty batch is NaN. **Beyond torch**: second derivatives are supported (torch raises
        "not implemented"); the loss is piecewise linear, so the Hessian in the input is zero.

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8]])
        >>> torch.nn.functional.multilabel_margin_loss(x, torch.tensor([[3, 0, -1, 1]]))
        tensor(0.8500)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    shape, target_shape = input._data.shape, target._data.shape
    nd = len(shape)
    if not ((nd == 2 and shape[1] != 0) or (nd == 1 and shape[0] != 0) or nd == 0):
        raise RuntimeError(
            "Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
            f"{list(shape)}"
        )
    if nd <= 1:
        n, c = 1, (shape[0] if nd == 1 else 1)
        ok = len(target_shape) <= 1 and target._data.size == c
    else:
        n, c = shape
        ok = target_shape == (n, c)
    if not ok:
        raise RuntimeError(
            f"inconsistent target size: {list(target_shape)} for input of size: {list(shape)}"
        )
    _check_kernel_dtypes(input, target, "multilabel_margin_loss_forward_out_frame")
    t = target._data.reshape(n, c)
    if not _checks.indices_within(t, c, lowest=-1):
        raise RuntimeError("argument #2 'target' is out of range")
    if n * c * c <= _parallel.BLOCK:  # small: the list masks in one scan
        valid = np.logical_and.accumulate(t >= 0, 1)
    else:  # a row's first -1 is its first minimum; the longest list bounds the slots
        first = np.argmin(t, 1)
        length = np.where(t.reshape(-1)[row_offsets(n, c) + first] < 0, first, c)
        valid = arange(int(length.max()) if n else 0) < length[:, None]
    labels = _LabelLists(t, valid, (n,) if nd == 2 else ())
    return _row_loss(_MULTILABEL_MARGIN, input, labels, reduction)


# -- margin_ranking_loss ------------------------------------------------------------------------


def _margin_ranking_block(
    x1: np.ndarray, x2: np.ndarray, y: np.ndarray, margin: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """With ``u = margin - y (x1 - x2)``: ``l = max(u, 0)`` into ``loss`` and
    ``y [u >= 0]`` into ``dldx`` (∂l/∂x1 is its negation, the driver's factor -1; the kink
    counts as active, as torch's ``clamp_min``)."""
    gap = np.subtract(margin, np.multiply(np.subtract(x1, x2, out=loss), y, out=loss), out=loss)
    np.greater_equal(gap, 0.0, out=dldx, casting="unsafe")
    dldx *= y
    return _clip(gap, 0.0, np.inf, out=gap)


def _margin_ranking_derivatives(
    x1: Tensor, x2: Tensor, y: Tensor, margin: float
) -> tuple[Tensor, Tensor, Tensor]:
    diff = x1 - x2
    active = ge(margin - y * diff, 0.0).to(x1.dtype)
    return -y * active, y * active, -diff * active


_MARGIN_RANKING = Pointwise(
    node=by_reduction("ClampMinBackward0"),
    block=_margin_ranking_block,
    derivatives=_margin_ranking_derivatives,
    antisymmetric=True,
    dldx_factor=lambda margin: -1.0,
)


def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Ranking hinge: ``x1`` above ``x2`` by ``margin`` when ``y = 1``, below it when ``y = -1``.

    Unreduced: ``l = max(0, -y * (x1 - x2) + margin)``.

    Gradient: on the active set ``-y*(x1 - x2) + margin >= 0`` (the kink counts as active, as
    torch's ``clamp_min``): ``dl/dx1 = -y``, ``dl/dx2 = y``, ``dl/dy = -(x1 - x2)``; 0 elsewhere.
    The target is differentiable too.

    Args:
        input1, input2: ``(N)`` or ``()``.
        target: ``(N)`` or ``()``, usually ±1; any real values are used as multipliers.
        margin: Default 0.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or the broadcast shape for ``reduction='none'``.

    Note:
        The three tensors must have the same number of dimensions (RuntimeError); within it
        they broadcast, as in torch. Second derivatives are supported (mixed input/target terms
        are ``-1`` / ``+1`` on the active set).

    Example:
        >>> import lossgrad as torch
        >>> x1, x2 = torch.tensor([1., 2.]), torch.tensor([2., 1.])
        >>> torch.nn.functional.margin_ranking_loss(x1, x2, torch.tensor([1., 1.]), margin=0.5)
        tensor(0.7500)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():  # torch's test, verbatim
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} "
        )
    operands, dt = (input1, input2, target), input1._data.dtype
    if not (dt.kind == "f" and input2._data.dtype == dt and target._data.dtype == dt):
        _, (*operands, _) = promote(*operands, float(margin))
    if not input1._data.shape == input2._data.shape == target._data.shape:
        # torch's RuntimeError naming the clash (the driver expands)
        _checks.broadcast_shape(*operands)
    return _pointwise(_MARGIN_RANKING, operands, reduction, (float(margin),))


# -- hinge_embedding_loss -----------------------------------------------------------------------


def _hinge_embedding_value(x: np.ndarray, t: np.ndarray, margin: float) -> np.ndarray:
    """torch's ``where(t != 1, clamp_min(margin - x, 0), 0) + where(t != -1, x, 0)``, with
    broadcasting, for any input dtype (``margin`` in it)."""
    margin, zero = x.dtype.type(margin), x.dtype.type(0)
    return np.where(t != 1, np.maximum(margin - x, zero), zero) + np.where(t != -1, x, zero)


def _hinge_embedding_block(
    x: np.ndarray, target: np.ndarray, margin: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``l = [y != 1] max(margin - x, 0) + [y != -1] x`` (torch's sum of two ``where``s) into
    ``loss``, ``dl/dx = [y != -1] - [y != 1] [margin - x >= 0]`` into ``dldx``. The selections
    are products with float masks (a masked select is much slower on random masks); they
    differ from ``where`` only where ``x`` or ``margin - x`` is not finite, and then so is the
    block's total: that block is recomputed with ``where``."""
    not_positive = np.not_equal(target, 1, out=scratch(x, 1), casting="unsafe")
    not_negative = np.not_equal(target, -1, out=scratch(x, 2), casting="unsafe")
    hinge = np.subtract(margin, x, out=loss)
    np.greater_equal(hinge, 0.0, out=dldx, casting="unsafe")
    np.subtract(not_negative, np.multiply(dldx, not_positive, out=dldx), out=dldx)
    np.multiply(_clip(hinge, 0.0, np.inf, out=hinge), not_positive, out=hinge)
    hinge += np.multiply(x, not_negative, out=not_negative)
    if not np.isfinite(_parallel.total(hinge)):
        loss[...] = _hinge_embedding_value(x, target, margin)
    return loss


def _hinge_embedding_derivatives(x: Tensor, target: Tensor, margin: float) -> tuple[Any, ...]:
    active = ge(margin - x, 0.0).to(x.dtype) * ne(target, 1).to(x.dtype)
    return ne(target, -1).to(x.dtype) - active, None


_HINGE_EMBEDDING = Pointwise(
    node=by_reduction("AddBackward0"),
    block=_hinge_embedding_block,
    derivatives=_hinge_embedding_derivatives,
)


def hinge_embedding_loss(
    input: Tensor,
    target: Tensor,
    margin: float = 1.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Hinge embedding loss: small ``x`` (a distance) for similar pairs, ``>= margin`` otherwise.

    Unreduced: ``l = x`` if ``y = 1``; ``max(0, margin - x)`` if ``y = -1``; any other ``y``
    gets both terms, ``x + max(0, margin - x)`` (torch's ``where(y != 1) + where(y != -1)``).

    Gradient: ``dl/dx = [y != -1] - [y != 1] * [margin - x >= 0]`` (the kink counts as active).

    Args:
        input: any shape ``(*)``, floating point.
        target: broadcastable to ``input``, any dtype; ``±1`` in normal use.
        margin: Default 1.0.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or the broadcast shape for ``reduction='none'``.

    Note:
        The target is not validated and carries no gradient (it only selects branches), as in
        torch. An integer input is computed in its own dtype (``margin`` truncated), as torch
        does, and ``'mean'`` of it raises RuntimeError. Second derivatives are supported (zero in
        the input, the loss being piecewise linear).

    Example:
        >>> import lossgrad as torch
        >>> x = torch.tensor([[1., 0.8, 0.5]])
        >>> torch.nn.functional.hinge_embedding_loss(x, torch.tensor([[1, 1, -1]]))
        tensor(0.7667)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if input._data.dtype.kind != "f":  # torch computes an integer input in its own dtype
        # torch's RuntimeError (the driver's, for a float one)
        _checks.broadcast_shape(input, target)
        loss = _hinge_embedding_value(input._data, target._data, margin)
        return _reduction.apply(Tensor._make(loss), reduction)
    return _pointwise(_HINGE_EMBEDDING, (input, target), reduction, (float(margin),))


# -- cosine_embedding_loss ----------------------------------------------------------------------


class _CosineEmbeddingLoss(ArrayFunction):
    """``1 - cos`` for similar pairs, ``max(0, cos - margin)`` for dissimilar ones, fused."""

    @staticmethod
    def forward(
        ctx: Any, x1: np.ndarray, x2: np.ndarray, t: np.ndarray, margin: float, reduction: str
    ) -> np.ndarray:
        axis = t.ndim
        eps = x1.dtype.type(_EPSILON)
        ctx.fused = _fused_rows(2, x1, x2) and t.shape == x1.shape[:-1]
        if ctx.fused:  # one loss per row: the three row sums per cache block, on the thread pool
            a, b = _rows(x1), _rows(x2)
            n, d = a.shape
            dot, m1, m2 = (np.empty(n, x1.dtype) for _ in range(3))

            def block(r0: int, r1: int) -> None:
                ab, bb = a[r0:r1], b[r0:r1]
                np.einsum("ij,ij->i", ab, bb, out=dot[r0:r1])
                np.einsum("ij,ij->i", ab, ab, out=m1[r0:r1])
                np.einsum("ij,ij->i", bb, bb, out=m2[r0:r1])

            _parallel.map_rows(block, n, d)
            dot, m1, m2 = (v.reshape(x1.shape[:-1]) for v in (dot, m1, m2))
        else:  # torch's products, each rounded (subnormal ones too), then their sums
            dot, m1, m2 = ((u * v).sum(-1) for u, v in ((x1, x2), (x1, x1), (x2, x2)))
        m1 = m1 + eps
        m2 = m2 + eps
        denom = np.sqrt(m1 * m2)
        cos = dot / denom
        zero = cos.dtype.type(0)
        pos, neg_ = t == 1, t == -1
        hinge = cos - cos.dtype.type(margin)
        loss = np.where(pos, 1 - cos, zero) + np.where(neg_, np.maximum(hinge, zero), zero)
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            # dl/dcos: -1 (y = 1), 1 on the active hinge (y = -1), else 0
            dcos = (np.where(pos, -1, 0) + (neg_ & (hinge >= 0))).astype(x1.dtype)
            dcos *= x1.dtype.type(_reduction.element_scale(reduction, loss.size))
            ctx.save_for_backward(x1, x2)
            ctx.meta = (Tensor._make(np.broadcast_to(dcos, loss.shape)), axis, (m1, m2, denom, cos))
        return _reduction.reduce_array(loss, reduction)

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        """Same-shape rows: ``g1 = x2 k - x1 q1`` (and ``g2``) with the per-row factors of
        `_cosine_factors`, each gradient written once per cache block."""
        if not ctx.fused:
            return backward_via_tensors(ctx, g)
        x1, x2 = ctx._saved_arrays()
        dcos, _, (m1, m2, denom, cos) = ctx.meta
        k, half_m = _cosine_factors(g * dcos._data, denom, cos)
        rows = (-1, 1)
        q1, q2 = (-2 * half_m * m2).reshape(rows), (-2 * half_m * m1).reshape(rows)
        g1, g2 = _cosine_grads(
            x1, x2, ctx.needs_input_grad, (k.reshape(rows), q1), (k.reshape(rows), q2)
        )
        return g1, g2, None, None, None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        """torch's chain through ``cos = dot / sqrt(m1 m2)`` (`_cosine_factors`): ``dot`` gets
        ``k``, each squared norm ``half_m`` times the other one, so ``dl/dx1 = x2 k + 2 x1
        half_m m2``, each term summed to its input's shape (an ``(N, 1)`` input against an
        ``(N, D)`` one has its own norm). In this order the NaN and infinities come out where
        torch's do. Without a recorded graph this runs on the arrays with the forward's row
        statistics; with one it is written with differentiable ops (exact second derivatives)."""
        x1, x2 = ctx.saved_tensors
        dcos, axis, stats = ctx.meta
        if not grad_mode.is_grad_enabled():
            m1, m2, denom, cos = (Tensor._make(np.asarray(v)) for v in stats)
            gc = Tensor._make(g._data * dcos._data)
        else:
            gc = mul(g, dcos)
            dot = _sum(mul(x1, x2), axis)
            m1 = add(_sum(mul(x1, x1), axis), _EPSILON)
            m2 = add(_sum(mul(x2, x2), axis), _EPSILON)
            denom = sqrt(mul(m1, m2))
            cos = div(dot, denom)
        k, half_m = _cosine_factors(gc, denom, cos)
        column = (lambda v: reshape(v, v._data.shape + (1,))) if axis else (lambda v: v)
        k = column(k)
        full = np.broadcast_shapes(x1._data.shape, x2._data.shape, k._data.shape)
        grads = []
        for own, other, other_m, need in (
            (x1, x2, m2, ctx.needs_input_grad[0]),
            (x2, x1, m1, ctx.needs_input_grad[1]),
        ):
            if not need:
                grads.append(None)
                continue
            shape = own._data.shape
            # the norm's term first, then the dot's, added in that order: lossgrad's engine then
            # meets the second-order terms in the order torch's does (rounding to the last bit)
            from_norm = sum_to_shape(mul(mul(own, column(mul(half_m, other_m))), 2.0), shape)
            from_dot = mul(other, k)
            if from_dot._data.shape != full:  # an (N, 1) input against (N, D): the product's shape
                from_dot = expand(from_dot, full)
            from_dot = sum_to_shape(from_dot, shape)
            grads.append(add(from_norm, from_dot))
        return grads[0], grads[1], None, None, None


def _cosine_factors(gc: Any, denom: Any, cos: Any) -> tuple[Any, Any]:
    """torch's backward of ``cos = dot / denom``, ``denom = sqrt(m1 m2)`` for ``dl/dcos = gc``
    (arrays or Tensors): ``k = gc / denom`` (for ``dot``) and ``half_m = -gc (cos / denom) /
    (2 denom)`` (for ``m1 m2``; ``m1`` gets ``half_m m2``)."""
    k = gc / denom
    half_m = -gc * (cos / denom) / (denom * 2)
    return k, half_m


_COSINE_EMBEDDING = _by_reduction(_CosineEmbeddingLoss, "AddBackward0")


def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Cosine embedding loss: pull similar pairs to cosine 1, push dissimilar ones below ``margin``.

    Unreduced, with ``cos = sum(x1 x2) / sqrt((sum(x1^2) + 1e-12) (sum(x2^2) + 1e-12))``:
    ``l = 1 - cos`` if ``y = 1``; ``max(0, cos - margin)`` if ``y = -1``; 0 for any other ``y``.

    Gradient: ``dl/dx1 = s * (x2 / sqrt(m1 m2) - cos * x1 / m1)`` with ``m = sum(x^2) + 1e-12``
    and ``s = -1`` (y = 1), ``[cos - margin >= 0]`` (y = -1), 0 otherwise; symmetric for ``x2``.

    Args:
        input1, input2: ``(N, D)`` with target ``(N)``, or ``(D)`` with target ``()``.
        target: ±1 (any dtype).
        margin: in [-1, 1]. Default 0.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or ``(N)`` (``()``) for ``reduction='none'``.

    Note:
        torch's EPSILON (1e-12, a float32 constant) is added to the *squared* norms, so a zero
        vector gives ``cos = 0``; ``F.cosine_similarity`` uses a different convention. Other
        target ranks raise RuntimeError. Second derivatives are supported. float16 and integer
        inputs run torch's composite op for op (its per-op roundings and dtypes).

    Example:
        >>> import lossgrad as torch
        >>> a = torch.tensor([[0.3, 0.5, 0.7], [0.3, 0.5, 0.7]])
        >>> b = torch.tensor([[0.1, 0.3, 0.5], [0.1, 0.3, 0.5]])
        >>> torch.nn.functional.cosine_embedding_loss(a, b, torch.tensor([1., -1.]))
        tensor(0.5000)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    for name, t in (("input1", input1), ("input2", input2), ("target", target)):
        _checks.check_tensor(t, name)
    td = target.dim()
    if td not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input1.dim() != td + 1 or input2.dim() != td + 1:
        raise RuntimeError(
            f"{td}D target tensor expects {td + 1}D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    _, (a, b, _) = promote(input1, input2, 0.0)
    shape = _checks.broadcast_shape(a, b)
    _checks.broadcast_shape(Tensor._make(np.empty(shape[:td], bool)), target)
    # an empty batch against a broadcast input: torch's norms of the unbroadcast input
    # (inf there gives its gradient 0 * inf = NaN), op for op
    empty_broadcast = 0 in shape and a.shape != b.shape
    if (
        a._data.dtype == np.float16
        or empty_broadcast
        or not (input1.is_floating_point() and input2.is_floating_point())
    ):
        return _cosine_embedding_composite(input1, input2, target, float(margin), reduction)
    return _COSINE_EMBEDDING[reduction].apply(a, b, target._data, float(margin), reduction)


def _cosine_embedding_composite(
    x1: Tensor, x2: Tensor, target: Tensor, margin: float, reduction: str
) -> Tensor:
    """torch's composite op for op, for a float16 or integer input: its dtypes and roundings
    are per op (each float16 op rounds; the epsilon makes an integer squared norm the default
    float dtype, while a float16 dot stays float16), and so are its gradients' overflows."""
    axis = target.dim()
    dot = _sum(mul(x1, x2), axis)
    m1 = add(_sum(mul(x1, x1), axis), _EPSILON)
    m2 = add(_sum(mul(x2, x2), axis), _EPSILON)
    cos = div(dot, sqrt(mul(m1, m2)))
    zeros = zeros_like(cos)
    similar = where(eq(target, 1), rsub(cos, 1.0), zeros)
    dissimilar = where(eq(target, -1), clamp_min(sub(cos, margin), 0.0), zeros)
    return _reduction.apply(add(similar, dissimilar), reduction)


# -- triplet losses -----------------------------------------------------------------------------


class _TripletArgs(NamedTuple):
    """The constant arguments of ``_TripletMarginLoss``: the distance's ``p`` and ``eps``, the
    margin, whether to swap, and the reduction."""

    p: float
    eps: float
    margin: float
    swap: bool
    reduction: str


class _TripletMarginLoss(ArrayFunction):
    """``max(0, margin + d(a, pos) - d(a, neg))`` with ``d = pairwise_distance`` for p = 1 or 2,
    fused (``distance._fused_distance_rows`` inputs; the swap's ``min`` included).

    The forward reads each input once per distance and keeps the differences ``u`` (as torch's
    composite keeps them for its norms); the first-order backward writes each gradient once,
    block by block: ``gp = -G(u_ap)``, ``gq = G(u_an)``, ``ga = -(gp + gq)`` (and the swap's
    ``G(u_pn)``), with ``G(u) = k * dnorm/du`` per row. With a recorded graph the backward is
    torch's composite, term by term: ``norm_backward`` of each distance (its output recomputed
    as an op, so second derivatives follow it), the clamp's and the ``min``'s masks constant."""

    @staticmethod
    def forward(
        ctx: Any, anchor: np.ndarray, pos: np.ndarray, neg_: np.ndarray, args: _TripletArgs
    ) -> np.ndarray:
        p, eps, margin, swap, reduction = args.p, args.eps, args.margin, args.swap, args.reduction
        u_ap, d_ap = _diff_norms(anchor, pos, p, eps)
        u_an, d_an = _diff_norms(anchor, neg_, p, eps)
        u_pn = d_pn = None
        d_neg = d_an
        if swap:
            u_pn, d_pn = _diff_norms(pos, neg_, p, eps)
            d_neg = np.minimum(d_an, d_pn)
        z = np.asarray((anchor.dtype.type(margin) + d_ap) - d_neg)  # torch's rounding order
        ctx.save_for_backward(anchor, pos, neg_)
        ctx.args = args
        ctx.kept = (u_ap, u_an, u_pn, d_ap, d_an, d_pn, z >= 0)  # clamp_min passes 0
        return _reduction.reduce_array(np.maximum(z, z.dtype.type(0)), reduction)

    @staticmethod
    def _factors(ctx: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: d(loss)/d(d_ap) per unit of incoming gradient (the clamp's mask times the
        reduction's scale), and the shares of it that ``d(a, neg)`` and ``d(pos, neg)`` take
        (torch's ``minimum`` backward with the swap: all to the smaller, halves at ties)."""
        u_ap, _, _, _, d_an, d_pn, active = ctx.kept
        scale = active * u_ap.dtype.type(_reduction.element_scale(ctx.args.reduction, active.size))
        if d_pn is None:
            return scale, scale, scale
        tie = np.where(d_an == d_pn, scale.dtype.type(0.5), scale.dtype.type(1))
        zero = scale.dtype.type(0)
        return (
            scale,
            scale * np.where(d_an > d_pn, zero, tie),
            scale * np.where(d_an < d_pn, zero, tie),
        )

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        ctx._saved_arrays()  # the in-place modification check
        p, swap = ctx.args.p, ctx.args.swap
        u_ap, u_an, u_pn, d_ap, d_an, d_pn, _ = ctx.kept
        s_ap, s_an, s_pn = _TripletMarginLoss._factors(ctx)
        k_ap, k_an = _row_factor(-(g * s_ap), d_ap, p), _row_factor(g * s_an, d_an, p)
        k_pn = _row_factor(g * s_pn, d_pn, p) if swap else None
        if k_ap is None or k_an is None or (swap and k_pn is None):
            return backward_via_tensors(ctx, g)  # a quotient overflowed: torch's order
        ga, gp, gq = (np.empty(u_ap.shape, u_ap.dtype) for _ in range(3))
        rows = [_rows(v) for v in (ga, gp, gq, u_ap, u_an, u_pn if swap else u_an)]
        n, d = rows[0].shape

        def block(r0: int, r1: int) -> None:
            a, b, q, uap, uan, upn = (v[r0:r1] for v in rows)
            _norm_grad_into(b, uap, k_ap[r0:r1], p)
            _norm_grad_into(q, uan, k_an[r0:r1], p)
            np.add(b, q, out=a)
            np.negative(a, out=a)
            if k_pn is not None:
                t = _scratch(upn, 0)
                _norm_grad_into(t, upn, k_pn[r0:r1], p)
                q += t
                b -= t

        _parallel.map_rows(block, n, d)
        need = ctx.needs_input_grad
        return (ga if need[0] else None), (gp if need[1] else None), (gq if need[2] else None), None

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        anchor, pos, neg_ = ctx.saved_tensors
        p, eps, swap = ctx.args.p, ctx.args.eps, ctx.args.swap
        axis = anchor._data.ndim - 1
        s_ap, s_an, s_pn = _TripletMarginLoss._factors(ctx)

        def du(x1: Tensor, x2: Tensor, k: np.ndarray) -> Tensor:
            """d(loss)/du of one distance's difference ``u``, for the row factors ``g * k``."""
            d, out = _difference_and_norm(x1, x2, p, eps, axis)
            return cast(Tensor, _norm_backward(mul(g, Tensor._make(k)), d, p, out, axis, False))

        g_ap, g_an = du(anchor, pos, s_ap), du(anchor, neg_, -s_an)
        ga, gp, gq = add(g_ap, g_an), neg(g_ap), neg(g_an)
        if swap:
            g_pn = du(pos, neg_, -s_pn)
            gp, gq = add(gp, g_pn), sub(gq, g_pn)
        need = ctx.needs_input_grad
        return (ga if need[0] else None), (gp if need[1] else None), (gq if need[2] else None), None


_TRIPLET = _by_reduction(_TripletMarginLoss, "ClampMinBackward0")


def _check_triplet(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float) -> None:
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a, p, n = anchor.dim(), positive.dim(), negative.dim()
    if not a == p == n:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {a}D, positive {p}D, and negative {n}D inputs"
        )


def _triplet(
    dist: Callable[[Tensor, Tensor], Tensor],
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float,
    swap: bool,
) -> Tensor:
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_neg = minimum(d_neg, dist(positive, negative))
    return clamp_min(sub(add(d_pos, margin), d_neg), 0)


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Triplet loss: the anchor must be closer to the positive than to the negative by ``margin``.

    Unreduced: ``l = max(0, d(a, p) - d(a, n) + margin)`` with
    ``d(u, v) = pairwise_distance(u, v, p, eps) = ||u - v + eps||_p``; with ``swap``,
    ``d(a, n)`` is replaced by ``min(d(a, n), d(p, n))`` (Balntas et al., 2016).

    Gradient: on the active set (``>= 0``, the kink included) ``dl/da = dd(a,p)/da - dd(a,n)/da``
    and so on through ``pairwise_distance``; the swap's ``min`` splits the gradient at ties.

    Args:
        anchor, positive, negative: ``(N, D)`` or ``(D)``, the same number of dimensions.
        margin: must be > 0 (ValueError). Default 1.0.
        p: norm degree. Default 2.
        eps: added to the differences. Default 1e-6.
        swap: use the distance swap. Default False.
        size_average: deprecated, use ``reduction``. When it or ``reduce`` is set, the two
            give the reduction by torch's rule (``reduce=False``: ``'none'``; else
            ``size_average=False``: ``'sum'``; else ``'mean'``), which overrides ``reduction``.
            Default None.
        reduce: deprecated, use ``reduction`` (see ``size_average``). Default None.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or ``(N)`` for ``reduction='none'``.

    Note:
        Because ``eps`` is added to the difference, ``d(a, a) = eps * D**(1/p)`` and the
        gradient is defined at coincident points, as in torch. Second derivatives are supported.

    Example:
        >>> import lossgrad as torch
        >>> a, p, n = torch.tensor([[0., 0.]]), torch.tensor([[3., 4.]]), torch.tensor([[0., 1.]])
        >>> torch.nn.functional.triplet_margin_loss(a, p, n, eps=0.0)
        tensor(5.)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    for position, (name, value) in enumerate(
        (("anchor", anchor), ("positive", positive), ("negative", negative)), 1
    ):
        if not isinstance(value, Tensor):  # torch's argument parser
            raise TypeError(
                f"triplet_margin_loss(): argument '{name}' (position {position}) must be Tensor, "
                f"not {type(value).__name__}"
            )
    _check_triplet(anchor, positive, negative, margin)

    if _fused_distance_rows(p, anchor._data, positive._data, negative._data):
        args = _TripletArgs(float(p), float(eps), float(margin), bool(swap), reduction)
        return _TRIPLET[reduction].apply(anchor, positive, negative, args)

    def dist(u: Tensor, v: Tensor) -> Tensor:
        return pairwise_distance(u, v, p, eps)

    return _reduction.apply(_triplet(dist, anchor, positive, negative, margin, swap), reduction)


def triplet_margin_with_distance_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """Triplet loss with any distance: ``max(0, d(a, p) - d(a, n) + margin)``.

    Unreduced as ``triplet_margin_loss`` with ``d = distance_function`` (default
    ``pairwise_distance``); ``swap`` uses ``min(d(a, n), d(p, n))``.

    Gradient: whatever ``distance_function``'s ops give, on the active set (the kink included).

    Args:
        anchor, positive, negative: ``(N, *)`` (whatever the distance accepts), the same number
            of dimensions.
        distance_function: a callable ``(Tensor, Tensor) -> Tensor`` of non-negative distances.
        margin: must be > 0 (ValueError). Default 1.0.
        swap: use the distance swap. Default False.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'`` (no legacy flags, no
            ``'elementwise_mean'``). Default ``'mean'``.

    Returns:
        A scalar, or ``(N)`` for ``reduction='none'``.

    Note:
        Keyword-only options, as in torch. Second derivatives are supported whenever the
        distance function's are.

    Example:
        >>> import lossgrad as torch
        >>> a, p, n = torch.tensor([[0., 0.]]), torch.tensor([[3., 4.]]), torch.tensor([[0., 1.]])
        >>> l1 = lambda u, v: (u - v).abs().sum(-1)
        >>> torch.nn.functional.triplet_margin_with_distance_loss(a, p, n, distance_function=l1)
        tensor(7.)
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    _check_triplet(anchor, positive, negative, margin)
    if distance_function is None and _fused_distance_rows(
        2, anchor._data, positive._data, negative._data
    ):
        args = _TripletArgs(2.0, 1e-6, float(margin), bool(swap), reduction)  # pairwise_distance's
        return _TRIPLET[reduction].apply(anchor, positive, negative, args)
    dist = pairwise_distance if distance_function is None else distance_function
    return _reduction.apply(_triplet(dist, anchor, positive, negative, margin, swap), reduction)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
