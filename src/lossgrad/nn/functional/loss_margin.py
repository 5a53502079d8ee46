"""Margin and embedding losses: multi_margin, multilabel_margin, margin_ranking, hinge_embedding,
cosine_embedding, triplet_margin, triplet_margin_with_distance.

Each functional follows DESIGN.md §5: resolve the reduction, validate, compute, reduce.

The piecewise-linear losses are fused: the forward runs on arrays in one go and also records the
loss's (piecewise-constant) slopes, and the backward multiplies the incoming gradient by them with
a differentiable op. The first derivative is therefore one multiplication, and the second
derivative is exact: zero in the input (the loss is piecewise linear), linear in the incoming
gradient. Where the slope itself depends on the input (``multi_margin_loss`` with ``p=2``,
``margin_ranking_loss``'s target, ``cosine_embedding_loss``) the backward is written with
differentiable ops when a graph is recorded (``create_graph=True``), and runs on the arrays with
values kept from the forward otherwise. This is how lossgrad gives ``multi_margin_loss`` and
``multilabel_margin_loss`` the double backward that torch lacks.

Ties follow torch: ``clamp_min`` (hinge, margin ranking, cosine embedding, triplet) passes the
gradient at exactly zero, the multi-class kernels (``z > 0``) do not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad import _parallel
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.nn.functional.distance import pairwise_distance
from lossgrad.ops._common import broadcast_error, promote, sum_to_shape
from lossgrad.ops.index import gather
from lossgrad.ops.pointwise import add, clamp_min, div, minimum, mul, neg, sqrt, sub
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import expand, reshape

_EPSILON = float(np.float32(1e-12))  # torch's ``constexpr float EPSILON`` of Loss.cpp


def _reduce_array(loss: np.ndarray, reduction: str, denominator: int | None = None) -> np.ndarray:
    """'none' | 'sum' | 'mean' of an unreduced loss array (mean of nothing is NaN)."""
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return np.asarray(total)
    n = loss.size if denominator is None else denominator
    # called inside fused forwards, which run with NumPy's warnings off
    return np.asarray(total / loss.dtype.type(n) if n else loss.dtype.type(np.nan), loss.dtype)


def _element_scale(reduction: str, n: int) -> float:
    """d(reduced)/d(element): 1/n for 'mean' (NaN when empty), else 1."""
    if reduction == "mean":
        return 1.0 / n if n else float("nan")
    return 1.0


def _per_sample(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    """The incoming gradient of a per-sample loss, shaped to broadcast over an input of
    ``shape`` (``(N, C)``: one row each; ``(C)`` or ``()``: a single sample)."""
    if g._data.ndim == 0:
        return g
    return reshape(g, (-1, 1) if len(shape) == 2 else ())


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


class _MultiMarginLoss(ArrayFunction):
    """Weston-Watkins multi-class hinge, fused, in blocks of rows (torch's kernel design).

    The forward keeps nothing but the input; the first-order backward recomputes the margins
    ``z`` block by block and writes the gradient straight into its output, so the peak memory
    is the gradient itself and every temporary stays in cache. When a graph is recorded with
    ``p=2`` the slope's dependence on the input is rebuilt with ops."""

    node_name = "MultiMarginLossBackward0"

    @staticmethod
    def forward(
        ctx: Any,
        input: np.ndarray,
        y: np.ndarray,
        p: int,
        margin: float,
        w: np.ndarray | None,
        reduction: str,
        out_shape: tuple[int, ...],
    ) -> np.ndarray:
        n, c = y.size, (input.shape[-1] if input.ndim else 1)
        x = np.ascontiguousarray(input.reshape(n, c))
        loss = np.empty(n, x.dtype)

        def block(r0: int, r1: int) -> None:
            # the active terms: z > 0 off the target (fmax also drops NaN, as torch's z > 0 test;
            # a masked np.sum is 8x slower)
            z, _ = _margins(x, y, margin, r0, r1)
            z[np.arange(r1 - r0), y[r0:r1]] = 0
            h = np.fmax(z, x.dtype.type(0), out=z)
            if p == 2:
                np.square(h, out=h)
            np.sum(h, axis=1, out=loss[r0:r1])

        _parallel.map_rows(block, n, c)
        loss /= x.dtype.type(c)
        if w is not None:
            loss *= w[y]
        ctx.save_for_backward(input)
        ctx.meta = (y, margin, p, w, reduction)
        return _reduce_array(loss.reshape(out_shape) if reduction == "none" else loss, reduction, n)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        y, margin, p, w, reduction = ctx.meta
        (input,) = ctx.saved_tensors
        n, c = y.size, (input._data.shape[-1] if input._data.ndim else 1)
        x = np.ascontiguousarray(input._data.reshape(n, c))
        # d l_n / d x_ni = w[y] (1 or 2 z_ni) / C on the active classes, minus their sum at y
        coef = x.dtype.type(_element_scale(reduction, n) * p / c)
        coef = coef * w[y][:, None] if w is not None else np.full((1, 1), coef)
        gs = _per_sample(g, input._data.shape)
        if grad_mode.is_grad_enabled():  # recording: slopes as constants, or rebuilt for p = 2
            active = np.zeros((n, c), bool)
            _parallel.map_rows(
                lambda r0, r1: np.copyto(active[r0:r1], _margins(x, y, margin, r0, r1)[1]), n, c
            )
            rate = active * coef
            if p == 1:
                slope = rate.copy()
                slope[np.arange(n), y] = -rate.sum(1)
                return mul(gs, Tensor._make(slope.reshape(input._data.shape))), *(None,) * 6
            xt = reshape(input, (n, c))
            z = add(sub(xt, gather(xt, 1, Tensor._make(y[:, None]))), margin)
            h = mul(z, Tensor._make(rate))
            onehot = np.zeros(x.shape, x.dtype)
            onehot[np.arange(n), y] = 1
            k = sub(h, mul(_sum(h, 1, True), Tensor._make(onehot)))
            return mul(gs, reshape(k, input._data.shape)), *(None,) * 6
        gd = gs._data.reshape(-1, 1) if gs._data.ndim else gs._data.reshape(1, 1)
        scale = coef * gd  # (n, 1) or (1, 1): the slope's factor per row
        out = np.empty((n, c), x.dtype)

        def block(r0: int, r1: int) -> None:
            z, active = _margins(x, y, margin, r0, r1)
            f = scale[r0:r1] if scale.shape[0] > 1 else scale
            o = out[r0:r1]
            if p == 1:
                np.multiply(active, f, out=o)
            else:  # 2 z f on the active terms; fmax makes the others 0, NaN margins included
                z[np.arange(r1 - r0), y[r0:r1]] = 0
                np.multiply(np.fmax(z, x.dtype.type(0), out=z), f, out=o)
            o[np.arange(r1 - r0), y[r0:r1]] = -o.sum(1)

        _parallel.map_rows(block, n, c)
        if out.shape != input._data.shape:  # (a view is copied when it becomes a .grad)
            out = out.reshape(input._data.shape)
        return Tensor._make(out), *(None,) * 6


def _margins(
    x: np.ndarray, y: np.ndarray, margin: float, r0: int, r1: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``r0:r1``: ``z = margin - x[y] + x`` and the active mask ``z > 0`` off the target
    class (block-sized temporaries, which stay in cache)."""
    xb, yb = x[r0:r1], y[r0:r1]
    local = np.arange(r1 - r0)
    z = np.add(xb, (x.dtype.type(margin) - xb[local, yb])[:, None])
    active = z > 0
    active[local, yb] = False
    return z, active


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
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
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    nd = input.dim()
    shape = input._data.shape
    if not ((nd == 2 and shape[1] != 0) or (nd == 1 and shape[0] != 0) or nd == 0):
        raise RuntimeError(
            "Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
            f"{list(shape)}"
        )
    n, c = (shape[0], shape[1]) if nd == 2 else (1, shape[0] if nd == 1 else 1)
    if target.dim() > 1 or target.numel() != n:
        raise RuntimeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of input "
            f"samples (batch size). Expected target size [{n}], but got {list(target.shape)}. "
            f"Input has shape {list(shape)}."
        )
    if weight is not None and weight.numel() != c:
        raise RuntimeError(f"inconsistent weight size, expected {c} but got {list(weight.shape)}")
    _check_float_kernel(input, "multi_margin_loss_cpu_kernel")
    _checks.check_scalar_type(target, np.int64)
    w = None
    if weight is not None:
        _checks.check_scalar_type(weight, input._data.dtype)
        if weight.requires_grad and grad_mode.is_grad_enabled():
            raise RuntimeError(
                "The function 'multi_margin_loss' is not differentiable with respect to argument "
                "'weight'. This input cannot have requires_grad True."
            )
        w = weight._data
    y = target._data.reshape(n)
    if y.size and (y.min() < 0 or y.max() >= c):
        raise RuntimeError("target out of range")
    out_shape = (n,) if reduction == "none" and target.dim() > 0 else ()
    return _MultiMarginLoss.apply(input, y, int(p), float(margin), w, reduction, out_shape)


# -- multilabel_margin_loss ---------------------------------------------------------------------


def _multilabel_slopes(
    x: np.ndarray, target: np.ndarray, want_slope: bool
) -> tuple[np.ndarray, Any]:
    """Per-sample loss sums and (optionally) slopes of the multilabel margin loss.

    The targets of row n are the entries of ``target[n]`` before its first -1 (duplicates count
    twice, as in torch's kernel). For each target slot j and each non-target class i, the pair
    is active when ``1 - x[y_j] + x[i] > 0``. Rows and slots are processed in blocks so that the
    ``(rows, slots, C)`` temporaries stay small; there is no loop over single samples or classes.
    """
    n, c = x.shape
    negative = target < 0
    length = np.where(negative.any(1), negative.argmax(1), c)  # of each row's target prefix
    width = int(length.max()) if n else 0
    valid = np.arange(width) < length[:, None]
    tgt = np.where(valid, target[:, :width], 0)
    rows = np.arange(n)[:, None]
    # the non-target classes (a bool mask, not a copy of the scores: the peak memory counts)
    not_target = np.ones((n, c), bool)
    r, k = np.nonzero(valid)
    not_target[r, tgt[r, k]] = False
    # 1 - a + x_i > 0 (rounded as torch does) exactly when x_i > -(1 - a): one comparison per pair
    base = x.dtype.type(1) - x[rows, tgt]
    thr = np.where(valid, -base, x.dtype.type(np.inf))
    # the scores to add up over active pairs: a dot product with the 0/1 mask sums exactly the
    # active ones when every score is finite; otherwise never-active entries (targets, NaN,
    # -inf) are zeroed and the active ones selected (no 0 * inf or NaN enters)
    summands = x
    if x.size and not (np.isfinite(x.min()) and np.isfinite(x.max())):
        summands = np.where(not_target & (x > -np.inf), x, x.dtype.type(0))
    sums = np.zeros(n, np.float64)
    slope = np.zeros((n, c), x.dtype) if want_slope else None
    # blocks of rows and slots with about 2^18 pairs each: the (rows, slots, C) temporaries stay
    # small (their float copy for the dot product included)
    rblock = max(1, min(n, (1 << 18) // max(1, c)))
    jblock = max(1, (1 << 18) // max(1, rblock * c))
    for i0 in range(0, n, rblock):
        i1 = min(n, i0 + rblock)
        xs, ts, nt, ss = x[i0:i1], thr[i0:i1], not_target[i0:i1], summands[i0:i1]
        local = np.arange(i1 - i0)[:, None]
        for j0 in range(0, width, jblock):
            j1 = min(width, j0 + jblock)
            active = xs[:, None, :] > ts[:, j0:j1, None]
            active &= nt[:, None, :]
            count = np.count_nonzero(active, axis=2)
            if summands is x:  # all finite: a 0/1 dot product
                picked = np.einsum("nji,ni->nj", active.astype(x.dtype), ss)
            else:  # an inactive inf must not meet a 0 (0 * inf = NaN)
                picked = np.where(active, ss[:, None, :], x.dtype.type(0)).sum(2)
            # count * (1 - a) over the active pairs: none when count == 0 (even if a is inf)
            part = np.where(count > 0, count * base[i0:i1, j0:j1].astype(np.float64), 0.0)
            sums[i0:i1] += (part + picked).sum(1)
            if slope is not None:
                sl = slope[i0:i1]
                sl += active.sum(1) if j1 - j0 > 1 else active[:, 0]
                np.add.at(sl, (local, tgt[i0:i1, j0:j1]), -count)
    return sums, slope


class _MultilabelMarginLoss(ArrayFunction):
    """Fused; the forward keeps the (piecewise-constant) gradient per unit of incoming gradient."""

    node_name = "MultilabelMarginLossBackward0"

    @staticmethod
    def forward(
        ctx: Any, input: np.ndarray, target: np.ndarray, reduction: str, out_shape: tuple[int, ...]
    ) -> np.ndarray:
        n, c = target.shape
        x = input.reshape(n, c)
        sums, slope = _multilabel_slopes(x, target, ctx.needs_input_grad[0])
        loss = (sums / c).astype(x.dtype)
        if slope is not None:
            slope *= x.dtype.type(_element_scale(reduction, n) / c)
            ctx.meta = Tensor._make(slope.reshape(input.shape))
        return _reduce_array(loss.reshape(out_shape) if reduction == "none" else loss, reduction, n)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        slope = ctx.meta
        return mul(_per_sample(g, slope._data.shape), slope), None, None, None


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
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
    nd = input.dim()
    shape = input._data.shape
    if not ((nd == 2 and shape[1] != 0) or (nd == 1 and shape[0] != 0) or nd == 0):
        raise RuntimeError(
            "Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
            f"{list(shape)}"
        )
    if nd <= 1:
        n, c = 1, (shape[0] if nd == 1 else 1)
        ok = target.dim() <= 1 and target.numel() == c
    else:
        n, c = shape
        ok = target.dim() == 2 and tuple(target.shape) == (n, c)
    if not ok:
        raise RuntimeError(
            f"inconsistent target size: {list(target.shape)} for input of size: {list(shape)}"
        )
    _check_float_kernel(input, "multilabel_margin_loss_forward_out_frame")
    _checks.check_scalar_type(target, np.int64)
    t = target._data.reshape(n, c)
    if t.size and (t.min() < -1 or t.max() >= c):
        raise RuntimeError("argument #2 'target' is out of range")
    out_shape = (n,) if reduction == "none" and nd == 2 else ()
    return _MultilabelMarginLoss.apply(input, t, reduction, out_shape)


# -- margin_ranking_loss ------------------------------------------------------------------------


class _MarginRankingLoss(ArrayFunction):
    @staticmethod
    def forward(
        ctx: Any, x1: np.ndarray, x2: np.ndarray, t: np.ndarray, margin: float, reduction: str
    ) -> np.ndarray:
        u = (-t) * (x1 - x2) + x1.dtype.type(margin)
        if any(ctx.needs_input_grad[:3]):
            ctx.save_for_backward(x1, x2, t)
            # clamp_min passes the gradient at 0: the kink is active
            ctx.meta = Tensor._make((u >= 0) * u.dtype.type(_element_scale(reduction, u.size)))
        return _reduce_array(np.maximum(u, u.dtype.type(0)), reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x1, x2, t = ctx.saved_tensors
        ga = mul(g, ctx.meta)
        g1 = g2 = gt = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            gx = mul(ga, neg(t))
            g1 = sum_to_shape(gx, x1._data.shape) if ctx.needs_input_grad[0] else None
            g2 = sum_to_shape(neg(gx), x2._data.shape) if ctx.needs_input_grad[1] else None
        if ctx.needs_input_grad[2]:
            gt = sum_to_shape(mul(ga, sub(x2, x1)), t._data.shape)
        return g1, g2, gt, None, None


_MARGIN_RANKING = _by_reduction(_MarginRankingLoss, "ClampMinBackward0")


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
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
    for name, t in (("input1", input1), ("input2", input2), ("target", target)):
        _checks.check_tensor(t, name)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} "
        )
    _, (a, b, t, _) = promote(input1, input2, target, float(margin))
    shape = _broadcast_shape(a, b, t)
    a, b, t = (expand(v, shape) for v in (a, b, t))
    return _MARGIN_RANKING[reduction].apply(a, b, t, float(margin), reduction)


def _broadcast_shape(*tensors: Tensor) -> tuple[int, ...]:
    shape: tuple[int, ...] = ()
    for t in tensors:
        try:
            shape = np.broadcast_shapes(shape, t._data.shape)
        except ValueError:
            raise broadcast_error(shape, t._data.shape) from None
    return shape


# -- hinge_embedding_loss -----------------------------------------------------------------------


class _HingeEmbeddingLoss(ArrayFunction):
    @staticmethod
    def forward(
        ctx: Any, x: np.ndarray, t: np.ndarray, margin: float, reduction: str
    ) -> np.ndarray:
        zero = x.dtype.type(0)
        m = x.dtype.type(margin) - x
        not_pos, not_neg = t != 1, t != -1
        loss = np.where(not_pos, np.maximum(m, zero), zero) + np.where(not_neg, x, zero)
        if ctx.needs_input_grad[0]:
            slope = not_neg.astype(x.dtype) - (not_pos & (m >= 0))
            slope *= x.dtype.type(_element_scale(reduction, loss.size))
            ctx.meta = (Tensor._make(np.broadcast_to(slope, loss.shape)), x.shape)
        return _reduce_array(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        slope, shape = ctx.meta
        return sum_to_shape(mul(g, slope), shape), None, None, None


_HINGE_EMBEDDING = _by_reduction(_HingeEmbeddingLoss, "AddBackward0")


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
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
    if input._data.dtype.kind != "f" and reduction == "mean":
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {_checks.scalar_type_name(input._data.dtype)}"
        )
    _broadcast_shape(input, target)
    return _HINGE_EMBEDDING[reduction].apply(input, target._data, float(margin), reduction)


# -- cosine_embedding_loss ----------------------------------------------------------------------


class _CosineEmbeddingLoss(ArrayFunction):
    """``1 - cos`` for similar pairs, ``max(0, cos - margin)`` for dissimilar ones, fused."""

    @staticmethod
    def forward(
        ctx: Any, x1: np.ndarray, x2: np.ndarray, t: np.ndarray, margin: float, reduction: str
    ) -> np.ndarray:
        axis = t.ndim
        eps = x1.dtype.type(_EPSILON)
        dot = np.einsum("...i,...i->...", x1, x2)
        m1 = np.einsum("...i,...i->...", x1, x1) + eps
        m2 = np.einsum("...i,...i->...", x2, x2) + eps
        denom = np.sqrt(m1 * m2)
        cos = dot / denom
        zero = cos.dtype.type(0)
        pos, neg_ = t == 1, t == -1
        hinge = cos - cos.dtype.type(margin)
        loss = np.where(pos, 1 - cos, zero) + np.where(neg_, np.maximum(hinge, zero), zero)
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            # dl/dcos: -1 (y = 1), 1 on the active hinge (y = -1), else 0
            dcos = (np.where(pos, -1, 0) + (neg_ & (hinge >= 0))).astype(x1.dtype)
            dcos *= x1.dtype.type(_element_scale(reduction, loss.size))
            ctx.save_for_backward(x1, x2)
            ctx.meta = (Tensor._make(np.broadcast_to(dcos, loss.shape)), axis, (m1, m2, denom, cos))
        return _reduce_array(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        """``dcos/dx1 = x2 / sqrt(m1 m2) - cos * x1 / m1``, symmetric for ``x2``. Without a
        recorded graph this runs on the arrays with the forward's row statistics; with one it is
        written with differentiable ops so that second derivatives come out exact."""
        x1, x2 = ctx.saved_tensors
        dcos, axis, stats = ctx.meta
        need1, need2 = ctx.needs_input_grad[:2]
        if not grad_mode.is_grad_enabled():
            m1, m2, denom, cos = stats

            def col(v: np.ndarray) -> np.ndarray:
                return v[..., None] if axis else v

            gc = g._data * dcos._data
            a, b = col(gc / denom), gc * cos
            g1 = Tensor._make(x2._data * a - x1._data * col(b / m1)) if need1 else None
            g2 = Tensor._make(x1._data * a - x2._data * col(b / m2)) if need2 else None
        else:
            gc = mul(g, dcos)
            dot = _sum(mul(x1, x2), axis, True)
            m1 = add(_sum(mul(x1, x1), axis, True), _EPSILON)
            m2 = add(_sum(mul(x2, x2), axis, True), _EPSILON)
            denom = sqrt(mul(m1, m2))
            cos = div(dot, denom)
            gc = gc if axis == 0 else reshape(gc, gc._data.shape + (1,))
            g1 = mul(gc, sub(div(x2, denom), mul(cos, div(x1, m1)))) if need1 else None
            g2 = mul(gc, sub(div(x1, denom), mul(cos, div(x2, m2)))) if need2 else None
        g1 = sum_to_shape(g1, x1._data.shape) if g1 is not None else None
        g2 = sum_to_shape(g2, x2._data.shape) if g2 is not None else None
        return g1, g2, None, None, None


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.

    Returns:
        A scalar, or ``(N)`` (``()``) for ``reduction='none'``.

    Note:
        torch's EPSILON (1e-12, a float32 constant) is added to the *squared* norms, so a zero
        vector gives ``cos = 0``; ``F.cosine_similarity`` uses a different convention. Other
        target ranks raise RuntimeError. Second derivatives are supported.

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
    dt, (a, b, _) = promote(input1, input2, 0.0)
    shape = _broadcast_shape(a, b)
    _broadcast_shape(Tensor._make(np.empty(shape[:td], bool)), target)
    return _COSINE_EMBEDDING[reduction].apply(a, b, target._data, float(margin), reduction)


# -- triplet losses -----------------------------------------------------------------------------


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
        size_average, reduce: deprecated legacy flags (override ``reduction``).
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
    _check_triplet(anchor, positive, negative, margin)

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
    dist = pairwise_distance if distance_function is None else distance_function
    return _reduction.apply(_triplet(dist, anchor, positive, negative, margin, swap), reduction)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
