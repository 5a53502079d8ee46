"""Classification losses: nll_loss, cross_entropy, and the focal losses (lossgrad extensions).

Class-index targets are validated once, with torch's exception classes, into the index of each
position's target class along the class axis and each position's weight ``w[y]`` (0 where the
target equals ``ignore_index``). The weighted ``'mean'`` is the weighted sum divided by the sum
of ``w[y]`` over the positions that are not ignored, exactly torch's ``total_weight``.

sigmoid_focal_loss is a pointwise loss: a NumPy kernel that writes the loss and its gradient,
and the gradient written with lossgrad ops, from which autograd gives the second derivatives.

Each functional resolves the reduction, validates its arguments, computes, and reduces.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lossgrad import _parallel
from lossgrad._dtype import scalar_type_name
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction, backward_via_tensors
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.nn.functional._pointwise import Pointwise, scratch
from lossgrad.nn.functional._pointwise import apply as _pointwise
from lossgrad.ops._common import promote, row_offsets
from lossgrad.ops.activation import log_softmax as _log_softmax
from lossgrad.ops.activation import logsigmoid
from lossgrad.ops.activation import softmax as _softmax
from lossgrad.ops.pointwise import add, div, exp, expm1, mul, neg, pow, sub, where
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import reshape

# -- class-index targets -------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _one(dtype: np.dtype) -> np.ndarray:
    """A read-only 0-d one of ``dtype`` (the weight of every position when all weigh 1)."""
    out = np.ones((), dtype)
    out.flags.writeable = False
    return out


class _ClassTargets:
    """Class-index targets, checked once: where each position's target class sits along the
    class axis, and what the position weighs.

    A *position* is one sample of an ``(N, C)`` input, one sample and pixel of ``(N, C, d1,
    ...)``, or the single sample of a ``(C,)`` input. Per position:

    * ``target_index``: the target class (0 at ignored positions, so it can index safely);
    * ``flat_index``: the target's offset in a C-contiguous array of the input's shape
      (``n C R + y R + r`` with ``R`` the product of the spatial sizes);
    * ``weight``: ``w[y]``, or 1 without class weights (then a 0-d one that broadcasts), and 0
      at positions whose target equals ``ignore_index``;
    * ``counted``: the positions not ignored (None when none is);

    and ``total_weight``, the sum of ``weight``: torch's ``total_weight``, the divisor of the
    weighted ``'mean'``. The per-position arrays have the input's shape with the class axis of
    size 1 (``(1,)`` for an unbatched input), so they broadcast against the input. A target out
    of ``[0, C)`` that is not ignored raises torch's IndexError.
    """

    __slots__ = (
        "shape",
        "class_axis",
        "n_classes",
        "target_index",
        "flat_index",
        "counted",
        "weight",
        "total_weight",
        "out_shape",
    )

    def __init__(
        self, x: np.ndarray, target: np.ndarray, w: np.ndarray | None, ignore_index: int
    ) -> None:
        axis = 0 if x.ndim == 1 else 1
        c = x.shape[axis]
        t = target.reshape(1) if x.ndim == 1 else target
        # as unsigned, negative targets are huge: when ignore_index cannot be a class, one max
        # shows that every target is a class and none is ignored (the common case)
        unsigned = t.view(np.uint64) if t.dtype.kind == "i" else t
        if t.size and not 0 <= ignore_index < c and np.maximum.reduce(unsigned, None) < c:
            any_ignored = False
            safe = t
        else:
            ignored = t == ignore_index
            any_ignored = bool(ignored.any())
            bad = unsigned >= c
            if any_ignored:
                bad &= ~ignored
            if bool(bad.any()):
                bad = t[bad].reshape(-1)[0]
                raise IndexError(f"Target {int(bad)} is out of bounds.")
            safe = np.where(ignored, 0, t) if any_ignored else t
        if safe.dtype != np.int64:
            safe = safe.astype(np.int64)
        if x.ndim > 1:  # position arrays keep a size-1 class axis
            pshape = (x.shape[0], 1) + x.shape[2:]
            safe = safe.reshape(pshape)
            if any_ignored:
                ignored = ignored.reshape(pshape)
        if w is not None:
            wt = w[safe]
            if any_ignored:
                wt[ignored] = 0
            self.total_weight = float(wt.sum(dtype=x.dtype))
        elif any_ignored:
            wt = (~ignored).astype(x.dtype)
            self.total_weight = float(safe.size - np.count_nonzero(ignored))
        else:  # every position weighs 1: a scalar broadcasts wherever a weight array would
            wt = _one(x.dtype)
            self.total_weight = float(safe.size)
        self.shape, self.class_axis, self.n_classes, self.target_index, self.weight = (
            x.shape,
            axis,
            c,
            safe,
            wt,
        )
        self.counted = ~ignored if any_ignored else None
        self.out_shape = () if x.ndim == 1 else target.shape
        # flat offsets of the targets in a C-contiguous array of x's shape: n C R + y R + r
        if x.ndim == 2:
            lin = safe + row_offsets(x.shape[0], c)[:, None]
        elif x.ndim == 1:
            lin = safe
        else:
            inner = int(np.prod(x.shape[2:], dtype=np.int64))
            n_ax = np.arange(x.shape[0], dtype=np.int64).reshape((-1,) + (1,) * (x.ndim - 1))
            lin = safe * inner + n_ax * (c * inner)
            lin += np.arange(inner, dtype=np.int64).reshape((1, 1) + x.shape[2:])
        self.flat_index = lin

    def pick(self, a: np.ndarray) -> np.ndarray:
        """``a`` at each position's target class (zeros when there are no classes at all)."""
        if not self.n_classes:
            return np.zeros(self.target_index.shape, a.dtype)
        return a.reshape(-1)[self.flat_index]

    def put(self, out: np.ndarray, values: Any) -> None:
        """Write one value per position at its target class, in place (``out`` C-contiguous)."""
        if self.n_classes:
            out.reshape(-1)[self.flat_index] = values

    def position_scale(self, g: np.ndarray | Tensor, reduction: str) -> Any:
        """The incoming gradient per position, 0 at ignored positions (never NaN there)."""
        if isinstance(g, Tensor):
            g = reshape(g, self.target_index.shape) if reduction == "none" else g
            if reduction == "mean":  # torch: NaN everywhere it is not ignored when denom == 0
                g = div(g, self.total_weight) if self.total_weight else mul(g, float("nan"))
            if self.counted is None:
                return g
            return where(Tensor._make(self.counted), g, 0.0)
        a = g.reshape(self.target_index.shape) if reduction == "none" else g
        if reduction == "mean":
            a = a / a.dtype.type(self.total_weight if self.total_weight else np.nan)
        if self.counted is None:
            return a
        return np.where(self.counted, a, np.zeros((), a.dtype))


class _ClassLossArgs(NamedTuple):
    """The constant arguments of the fused class-target losses: the checked targets, the
    reduction, the loss's parameter (cross-entropy's label smoothing, focal's gamma) and the
    class weights (or None)."""

    targets: _ClassTargets
    reduction: str
    parameter: float = 0.0
    weight: np.ndarray | None = None


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
) -> _ClassTargets:
    _check_index_target(input, target)
    if weight is not None:
        _check_weight(weight, input, 0 if input.dim() == 1 else 1)
    x = input._data
    if x.dtype.kind != "f":
        raise NotImplementedError(
            f"\"nll_loss_out_frame\" not implemented for '{scalar_type_name(x.dtype)}'"
        )
    w = None
    if weight is not None:
        if weight.requires_grad and grad_mode.is_grad_enabled():
            raise RuntimeError(
                "The function 'nll_loss_forward' is not differentiable with respect to argument "
                "'weight'. This input cannot have requires_grad True."
            )
        w = weight._data
        if w.dtype != x.dtype:
            raise RuntimeError(
                f"expected scalar type {scalar_type_name(x.dtype)} "
                f"but found {scalar_type_name(w.dtype)}"
            )
    return _ClassTargets(x, target._data, w, ignore_index)


def _reduce_positions(loss: np.ndarray, targets: _ClassTargets, reduction: str) -> np.ndarray:
    """Per-position losses (zero where ignored) to torch's output: the weighted ``'mean'``
    divides by ``total_weight`` (NaN when no weight counts, whatever the smoothing term adds,
    as torch's NLL part is then 0/0)."""
    loss = loss.reshape(targets.out_shape)
    return _reduction.reduce_array(loss, reduction, denominator=targets.total_weight)


# -- index pick / scatter along the class axis (each other's backward) -----------------------------


class _ClassPick(ArrayFunction):
    """``x[..., idx, ...]`` along the class axis: one value per position."""

    node_name = "GatherBackward0"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, targets: _ClassTargets) -> np.ndarray:
        ctx.meta = (x.shape, targets)
        return targets.pick(x)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        shape, targets = ctx.meta
        return _ClassScatter.apply(g, shape, targets), None


class _ClassScatter(ArrayFunction):
    """Zeros shaped like ``like`` with one value per position written at its target class.

    ``like`` is a shape, or the input Tensor itself: then the result depends on it with a zero
    derivative, as torch's ``nll_loss_backward`` does (so a second ``grad`` reaches the input).
    """

    node_name = "NllLossBackwardBackward0"

    @staticmethod
    def forward(ctx: Any, v: np.ndarray, like: Any, targets: _ClassTargets) -> np.ndarray:
        shape = like.shape if isinstance(like, np.ndarray) else like
        ctx.meta = (shape, targets)
        out = np.zeros(shape, v.dtype)
        targets.put(out, v)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        shape, targets = ctx.meta
        zero = Tensor._make(np.zeros(shape, g._data.dtype)) if ctx.needs_input_grad[1] else None
        return _ClassPick.apply(g, targets), zero, None


# -- nll_loss ------------------------------------------------------------------------------------


class _NllLoss(ArrayFunction):
    """Fused pick, weight, mask and reduce; backward scatters ``-w[y]`` times the scale."""

    node_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, args: _ClassLossArgs) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.args = args
        targets, reduction = args.targets, args.reduction
        loss = targets.pick(x)
        if targets.weight.ndim:  # else every position weighs 1
            loss *= targets.weight
        np.negative(loss, out=loss)
        if targets.counted is not None:
            loss[~targets.counted] = 0
        return _reduce_positions(loss, targets, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        targets, reduction = ctx.args.targets, ctx.args.reduction
        scale = targets.position_scale(g, reduction)
        (x,) = ctx.saved_tensors
        v = mul(scale, Tensor._make(-targets.weight))
        return _ClassScatter.apply(v, x, targets), None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        targets, reduction = ctx.args.targets, ctx.args.reduction
        v = targets.position_scale(g, reduction)
        v = v * -targets.weight if targets.weight.ndim else -v
        out = np.zeros(targets.shape, v.dtype)
        targets.put(out, v)
        return out, None


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
    targets = _class_targets(input, target, weight, ignore_index)
    return _NllLoss.apply(input, _ClassLossArgs(targets, reduction))


# -- cross_entropy --------------------------------------------------------------------------------


#: Row log-sum-exps within +- this bound show that a row needs no max shift (see
#: ``_exp_rows``): its sum of exponentials lies within ``2**+-60``.
_UNSHIFTED_LSE = 41.5


class _CrossEntropy(ArrayFunction):
    """log-softmax and NLL (with label smoothing) fused over class-index targets.

    With target mass ``q[n, c] = (1 - eps) w[y_n] [c = y_n] + (eps / C) w[c]`` (0 at ignored
    positions) and ``A_n = sum_c q[n, c]``, the per-position loss is
    ``A_n * lse_n - sum_c q[n, c] x[n, c]`` and its gradient is ``A_n softmax(x)_n - q_n``.

    Forward (``_softmax_parts``): ``e = exp(x - m)`` and its sums ``se`` along the class axis,
    ``m`` the class maximum (or 0 where that is provably safe), so ``lse = m + log(se)``. ``e`` is
    kept: the first-order backward (``backward_array``) scales it in place into the gradient
    (one more pass) and writes the ``-q`` entries. A large input reduced to a scalar does that
    already in the forward, block by block while ``e`` is in cache, for an upstream gradient of
    1 (what ``loss.backward()`` sends); the backward then only rescales for any other gradient.
    ``backward`` records the same gradient with lossgrad ops (softmax of the saved input), so it
    can be differentiated again.
    """

    node_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, args: _ClassLossArgs) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.args = args
        targets, reduction, eps, w = args.targets, args.reduction, args.parameter, args.weight
        finish = target = None
        if (
            ctx.needs_input_grad[0]
            and reduction != "none"
            and (reduction == "sum" or targets.total_weight)
            and _blocked(x)
        ):
            one = targets.position_scale(np.ones((), x.dtype), reduction)
            finish, target = _grad_rows(targets, eps, w, one, x.dtype)
        e, se, lse, st, sw = _softmax_parts(x, targets, eps, w, finish)
        loss = lse - st
        if targets.weight.ndim:  # else every position weighs 1
            loss *= targets.weight
        if eps > 0:
            wsum = x.dtype.type(w.sum() if w is not None else targets.n_classes)
            smooth = lse * wsum - sw
            loss *= x.dtype.type(1 - eps)
            loss += smooth * x.dtype.type(eps / targets.n_classes)
        if targets.counted is not None:
            loss[~targets.counted] = 0
        if se is None:  # e holds the gradient for a unit upstream gradient, but its targets
            targets.put(e, targets.pick(e) - target)
        ctx.cache = (e, se)
        return _reduce_positions(loss, targets, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        args = ctx.args
        targets, reduction, eps, w = args.targets, args.reduction, args.parameter, args.weight
        (xt,) = ctx.saved_tensors
        x = xt._data
        mass, total = _target_mass(targets, eps, w, x.dtype)
        scale = targets.position_scale(g, reduction)
        q = np.zeros(x.shape, x.dtype)
        targets.put(q, mass)
        if eps > 0:
            q += _smooth_mass(targets, w, eps, x)
        p = _softmax(xt, targets.class_axis)
        gx = mul(sub(mul(p, Tensor._make(total)), Tensor._make(q)), scale)
        return gx, None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        args = ctx.args
        targets, reduction, eps, w = args.targets, args.reduction, args.parameter, args.weight
        cache, ctx.cache = ctx.cache, None
        if cache is None:  # a retained graph run twice: recompute the exponentials
            (x,) = ctx._saved_arrays()
            e, se = _softmax_parts(x, targets, eps, w)[:2]
        else:
            e, se = cache
        if se is None:  # the forward's gradient for g = 1
            if g != 1:
                _parallel.scale(e, g)
            return e, None
        scale = targets.position_scale(g, reduction)
        if e.ndim == 2 and e.size >= _parallel.MIN_PARALLEL:
            block, target = _grad_rows(targets, eps, w, scale, e.dtype)
            _parallel.map_rows(lambda r0, r1: block(e, se, slice(r0, r1)), *e.shape)
        else:  # the same arithmetic in one piece
            num, sm, target = _grad_coefs(targets, eps, w, scale, e.dtype)
            np.multiply(e, num / se, out=e)
            if sm is not None:
                e -= scale * sm
        targets.put(e, targets.pick(e) - target)
        return e, None


_RowFn = Callable[[np.ndarray, np.ndarray, slice], None]


def _grad_rows(
    targets: _ClassTargets, eps: float, w: np.ndarray | None, scale: Any, dtype: np.dtype
) -> tuple[_RowFn, Any]:
    """Cross-entropy's first-order gradient ``scale * (A softmax(x) - q)`` from ``e`` and ``se``,
    for a large ``(N, C)`` input, in blocks of rows.

    Returns ``block(e, se, rows)``, which turns ``e[rows]`` into ``scale * (A e / se - the
    smoothing share of q)`` in place (``rows`` a slice of rows), and the values ``scale * q``
    that ``e`` still has to lose at the targets afterwards (``_grad_coefs``).
    """
    num, sm, target = _grad_coefs(targets, eps, w, scale, dtype)

    def block(e: np.ndarray, se: np.ndarray, rows: slice) -> None:
        eb = e[rows]
        np.multiply(eb, (num[rows] if np.ndim(num) else num) / se[rows], out=eb)
        if sm is not None:
            np.subtract(eb, (scale[rows] if np.ndim(scale) else scale) * sm, out=eb)

    return block, target


def _grad_coefs(
    targets: _ClassTargets, eps: float, w: np.ndarray | None, scale: Any, dtype: np.dtype
) -> tuple[Any, Any, Any]:
    """The gradient ``scale * (A softmax(x) - q)`` as ``e * (num / se) - scale * sm`` off the
    targets and ``target`` less at them: returns ``num = scale * A`` (per position), ``sm`` (the
    smoothing share ``(eps / C) w[c]`` along the class axis, or None) and ``target``, the
    target share of ``scale * q``."""
    mass, total = _target_mass(targets, eps, w, dtype)
    if eps <= 0 and not targets.weight.ndim:  # q is 1 at the target, 0 elsewhere
        return scale, None, scale
    sm = _class_row(w, eps / targets.n_classes, targets, dtype) if eps > 0 else None
    return scale * total, sm, scale * mass


def _target_mass(
    targets: _ClassTargets, eps: float, w: np.ndarray | None, dtype: np.dtype
) -> tuple[Any, Any]:
    """Per position: the target class's share of ``q`` (without smoothing), and ``A_n``."""
    if eps <= 0:
        return targets.weight, targets.weight
    mass = targets.weight * dtype.type(1 - eps)
    smooth = dtype.type(eps / targets.n_classes * (w.sum() if w is not None else targets.n_classes))
    return mass, mass + (
        smooth if targets.counted is None else np.where(targets.counted, smooth, 0)
    )


def _softmax_parts(
    x: np.ndarray,
    targets: _ClassTargets,
    eps: float,
    w: np.ndarray | None,
    finish: _RowFn | None = None,
) -> tuple[np.ndarray, Any, np.ndarray, np.ndarray, np.ndarray | None]:
    """The forward's passes: ``e = exp(x - m)`` (C-contiguous, ours), its sums ``se`` along the
    class axis and their logs ``lse - m``, the shifted target logit ``x[y] - m`` and, with label
    smoothing, the shifted weighted sum ``sum_c w[c] (x - m)[c]``, all position-shaped. ``m`` is
    the class maximum, or 0 where ``_exp_rows`` shows that exact.

    ``finish`` (a ``block`` of ``_grad_rows``), when given, may be applied to ``e`` block by
    block while it is in cache (``_exp_rows`` does); ``se`` is then returned as None."""
    if _blocked(x):
        return _exp_rows(x, targets, eps, w, finish)
    axis = targets.class_axis
    if targets.n_classes:
        m = np.maximum.reduce(x, axis=axis, keepdims=True)
    else:
        m = np.full(targets.target_index.shape, -np.inf, x.dtype)
    # C order: targets.put writes through a flat view
    s = x - m if x.flags.c_contiguous else np.subtract(x, m, order="C")
    st = targets.pick(s)
    sw = _class_dot(s, w, axis) if eps > 0 else None
    np.exp(s, out=s)
    se = _class_dot(s, None, axis)
    return s, se, np.log(se), st, sw  # log(0) only without classes; ops run quiet


def _blocked(x: np.ndarray) -> bool:
    """Whether ``_softmax_parts`` takes ``_exp_rows`` for ``x``."""
    return (
        x.ndim == 2
        and x.size >= _parallel.MIN_PARALLEL
        and x.dtype.char in "fd"
        and x.flags.c_contiguous
    )


def _exp_rows(
    x: np.ndarray, targets: _ClassTargets, eps: float, w: np.ndarray | None, finish: _RowFn | None
) -> tuple[np.ndarray, Any, np.ndarray, np.ndarray, np.ndarray | None]:
    """``_softmax_parts`` for a large C-contiguous float32/64 ``(N, C)`` input, in blocks of
    rows over the thread pool.

    It first tries ``m = 0``: ``exp(x)`` and its row sums (BLAS), with no max pass and no shifted
    copy. Row log-sum-exps within ``+-````_UNSHIFTED_LSE`` (sums within ``2**+-60``) prove
    that as exact as the shifted form: nothing overflows, the row's largest term is at least
    ``2**-60 / C`` (a normal float), and the terms that fall subnormal add under ``C * 2**-66``
    of the sum, far below rounding. Rows outside (logits beyond about +-40, ``inf`` or NaN) are
    redone with their maximum shifted out; ``finish`` runs on each block once its rows are final.
    """
    n, c = x.shape
    dt = x.dtype
    ones = _parallel.ones(c, dt)[:, None]
    wv = ones if w is None else w[:, None]
    sw = np.empty((n, 1), dt) if eps > 0 else None
    e = np.empty((n, c), dt)
    se = np.empty((n, 1), dt)
    lse = np.empty((n, 1), dt)

    def block(r0: int, r1: int) -> tuple[int, int] | None:
        eb = e[r0:r1]
        np.exp(x[r0:r1], out=eb)
        np.dot(eb, ones, out=se[r0:r1])
        if sw is not None:
            np.dot(x[r0:r1], wv, out=sw[r0:r1])
        lb = np.log(se[r0:r1], out=lse[r0:r1])
        if finish is None:
            return None
        if not np.abs(lb).max() <= _UNSHIFTED_LSE:
            return (r0, r1)  # finished once its rows are redone
        finish(e, se, slice(r0, r1))
        return None

    pending = [b for b in _parallel.map_rows(block, n, c) if b is not None]
    st = x.reshape(-1)[targets.flat_index]
    if not np.abs(lse).max() <= _UNSHIFTED_LSE:
        rows = np.flatnonzero(~(np.abs(lse) <= _UNSHIFTED_LSE))
        s = x[rows]
        m = np.max(s, axis=1, keepdims=True)
        s -= m
        if sw is not None:
            sw[rows] = s @ wv
        np.exp(s, out=s)
        e[rows] = s
        se[rows] = s @ ones
        lse[rows] = np.log(se[rows])
        st[rows] -= m
    if finish is None:
        return e, se, lse, st, sw
    for r0, r1 in pending:
        finish(e, se, slice(r0, r1))
    return e, None, lse, st, sw


class _CrossEntropySmoothed(_CrossEntropy):
    """The same function with label smoothing (torch's graph ends in an add there)."""

    node_name = "AddBackward0"


def _class_dot(a: np.ndarray, w: np.ndarray | None, axis: int) -> np.ndarray:
    """``sum_c w[c] a[..., c, ...]`` along the class axis, keeping it (w=None: plain sum).

    For an ``(N, C)`` array this is one matrix-vector product (BLAS reads the array once,
    faster than a NumPy row sum, and with less overhead on small arrays)."""
    if a.ndim == 2 and axis == 1:
        return np.dot(a, _parallel.ones(a.shape[1], a.dtype)[:, None] if w is None else w[:, None])
    if w is None:
        return a.sum(axis=axis, keepdims=True)
    shape = [1] * a.ndim
    shape[axis] = -1
    return np.sum(a * w.reshape(shape), axis=axis, keepdims=True)


def _class_row(w: np.ndarray | None, factor: float, targets: _ClassTargets, dtype: np.dtype) -> Any:
    """``factor * w[c]`` shaped to broadcast along the input's class axis (a scalar for no
    weight)."""
    if w is None:
        return dtype.type(factor)
    shape = [1] * len(targets.shape)
    shape[targets.class_axis] = -1
    return w.reshape(shape) * dtype.type(factor)


def _smooth_mass(targets: _ClassTargets, w: np.ndarray | None, eps: float, x: np.ndarray) -> Any:
    """``(eps / C) w[c]`` at every position that is not ignored (broadcastable to ``x``)."""
    out = _class_row(w, eps / targets.n_classes, targets, x.dtype)
    if targets.counted is not None:
        out = np.where(targets.counted, out, np.zeros((), x.dtype))
    return out


def _cross_entropy_probs(
    input: Tensor, target: Tensor, weight: Tensor | None, eps: float
) -> tuple[Tensor, float]:
    """Class-probability targets, composed as torch does: ``-(log_softmax(x) * y' * w)``.

    Returns the unreduced loss and the ``'mean'`` denominator ``numel / C``."""
    if target._data.dtype.kind != "f":
        raise RuntimeError(
            "Expected floating point type for target with class probabilities, got "
            f"{scalar_type_name(target._data.dtype)}"
        )
    _check_logits(input)
    axis = 0 if input.dim() == 1 else 1
    _check_weight(weight, input, axis, "cross_entropy: ")
    c = input.shape[axis]
    if eps > 0:
        _check_smoothing(eps)
    logp = _log_softmax(input, axis)
    y = add(mul(target, 1 - eps), eps / c) if eps > 0 else target
    prod = mul(logp, y)
    if weight is not None:
        shape = [1] * input.dim()
        shape[axis] = c
        prod = mul(prod, reshape(weight, shape))
    loss = neg(_sum(prod, axis))
    denom = input.numel() // c if c else 0
    return loss, float(denom)


def _check_logits(input: Tensor) -> None:
    """log_softmax's checks: a floating input with a class dimension."""
    dt = input._data.dtype
    if dt.kind != "f":
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
        loss, denom = _cross_entropy_probs(input, target, weight, eps)
        return _reduction.apply(loss, reduction, denominator=denom), denom
    _check_logits(input)
    if eps > 0:
        _check_smoothing(eps)
    targets = _class_targets(input, target, weight, ignore_index)
    if eps > 0 and input.dim() == 1 and target.dim() == 1:
        raise RuntimeError("output with shape [] doesn't match the broadcast shape [1]")
    w = weight._data if weight is not None else None
    fn = _CrossEntropySmoothed if eps > 0 else _CrossEntropy
    args = _ClassLossArgs(targets, reduction, max(eps, 0.0), w)
    return fn.apply(input, args), targets.total_weight


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
        rows where it provably changes nothing beyond rounding); second derivatives are
        supported on both paths.

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
    if input._data.shape != target._data.shape:  # class indices: one fused function
        _check_logits(input)
        targets = _class_targets(input, target, weight, ignore_index)
        w = weight._data if weight is not None else None
        return _Focal.apply(input, _ClassLossArgs(targets, reduction, float(gamma), w))
    ce, denom = _cross_entropy(input, target, weight, ignore_index, "none", 0.0)
    nonzero = Tensor._make(ce._data != 0)
    safe = where(nonzero, ce, 1.0)
    modulated = mul(pow(neg(expm1(neg(safe))), gamma), safe)
    loss = where(nonzero, modulated, 0.0)
    return _reduction.apply(loss, reduction, denominator=denom)


class _Focal(ArrayFunction):
    """Focal loss over class-index targets, fused with the cross-entropy it modulates.

    With ``ce`` and its exponentials from ``_softmax_parts`` (as ``_CrossEntropy``) and
    ``u = -expm1(-ce)``: ``l = u**gamma * ce``, ``dl/dce = u**gamma + gamma u**(gamma - 1)
    exp(-ce) ce`` (both 0 where ``ce == 0``), and the gradient in ``x`` is ``dl/dce`` times
    cross-entropy's ``w[y] (softmax(x) - onehot(y))``. The first-order backward scales the kept
    exponentials in place; ``backward`` records the same gradient with lossgrad ops.
    """

    node_name = "FocalLossBackward0"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, args: _ClassLossArgs) -> np.ndarray:
        ctx.save_for_backward(x)
        ctx.args = args
        targets, reduction, gamma, w = args.targets, args.reduction, args.parameter, args.weight
        e, se, ce, st, _ = _softmax_parts(x, targets, 0.0, w)
        ce -= st
        if targets.weight.ndim:
            ce *= targets.weight
        if targets.counted is not None:
            ce[~targets.counted] = 0
        dt = x.dtype.type
        nz = ce != 0
        u = np.expm1(-ce)
        np.negative(u, out=u)
        ug = np.where(nz, u, dt(1)) ** dt(gamma - 1)  # u**(gamma - 1), finite where ce == 0
        ug[~nz] = 0
        # dl/dce = u**(gamma-1) (u + gamma exp(-ce) ce), with exp(-ce) = 1 - u
        dl = (1 - u) * ce
        dl *= dt(gamma)
        dl += u
        dl *= ug
        ug *= u
        ug *= ce  # the loss
        ctx.cache = (e, se, dl, nz)
        return _reduce_positions(ug, targets, reduction)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        args = ctx.args
        targets, reduction, gamma, w = args.targets, args.reduction, args.parameter, args.weight
        (xt,) = ctx.saved_tensors
        x = xt._data
        ce = _CrossEntropy.apply(xt, _ClassLossArgs(targets, "none", 0.0, w))
        ce = reshape(ce, targets.target_index.shape)
        nz = Tensor._make(ce._data != 0)
        safe = where(nz, ce, 1.0)
        u = neg(expm1(neg(safe)))
        dl = mul(pow(u, gamma - 1), add(u, mul(mul(exp(neg(safe)), safe), gamma)))
        scale = where(nz, mul(targets.position_scale(g, reduction), dl), 0.0)
        q = np.zeros(x.shape, x.dtype)
        targets.put(q, targets.weight)
        p = _softmax(xt, targets.class_axis)
        return mul(sub(mul(p, Tensor._make(targets.weight)), Tensor._make(q)), scale), None

    @staticmethod
    def backward_array(ctx: Any, g: np.ndarray) -> tuple[Any, ...]:
        targets, reduction = ctx.args.targets, ctx.args.reduction
        cache, ctx.cache = ctx.cache, None
        if cache is None:  # a retained graph run twice: recompute
            return backward_via_tensors(ctx, g)
        e, se, dl, nz = cache
        scale = targets.position_scale(g, reduction) * dl
        scale[~nz] = 0  # whatever g is (as the composite's where)
        if targets.weight.ndim:
            scale *= targets.weight
        factor = scale / se
        if e.ndim == 2 and e.size >= _parallel.MIN_PARALLEL:
            _parallel.map_rows(
                lambda r0, r1: np.multiply(e[r0:r1], factor[r0:r1], out=e[r0:r1]), *e.shape
            )
        else:
            np.multiply(e, factor, out=e)
        targets.put(e, targets.pick(e) - scale)
        return e, None


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
        a, b = _np_logsigmoids(x)
        out = _np_log_one_minus_pt(a, b, y)
        ctx.save_for_backward(x, y, out)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        x, y, out = ctx.saved_tensors
        a, b = logsigmoid(x), logsigmoid(neg(x))
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = mul(g, _dlw_dx(a, b, out, y))
        if ctx.needs_input_grad[1]:
            gy = mul(g, _dlw_dy(a, b, out))
        return gx, gy


def _np_logsigmoids(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``logsigmoid(x)`` and ``logsigmoid(-x)``, sharing ``log1p(exp(-|x|))``."""
    soft = np.abs(x, out=np.empty_like(x))  # arrays also for a 0-d x (in-place ops follow)
    np.negative(soft, out=soft)
    np.exp(soft, out=soft)
    np.log1p(soft, out=soft)
    a = np.minimum(x, 0, out=np.empty_like(x))
    a -= soft
    b = np.maximum(x, 0, out=np.empty_like(x))
    np.negative(b, out=b)
    b -= soft
    return a, b


def _np_log_one_minus_pt(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log((1 - y) e^a + y e^b)``; a select when every target is exactly 0 or 1."""
    if ((y == 0) | (y == 1)).all():
        return np.where(y != 0, b, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.logaddexp(np.log1p(-y) + a, np.log(y) + b)
    return out.astype(a.dtype, copy=False)


def _dlw_dx(a: Any, b: Any, lw: Any, y: Any) -> Any:
    """d log(1 - p_t)/dx = (1 - 2y) sigmoid(x) sigmoid(-x) / (1 - p_t), in log space (ops)."""
    return mul(sub(1.0, mul(y, 2.0)), exp(sub(add(a, b), lw)))


def _dlw_dy(a: Any, b: Any, lw: Any) -> Any:
    """d log(1 - p_t)/dy = (sigmoid(-x) - sigmoid(x)) / (1 - p_t), in log space (ops)."""
    return sub(exp(sub(b, lw)), exp(sub(a, lw)))


def _sigmoid_focal_block(
    x: np.ndarray, y: np.ndarray, alpha: float, gamma: float, loss: np.ndarray, dldx: np.ndarray
) -> np.ndarray:
    """``l = alpha_t (1 - p_t)^gamma ce`` into ``loss`` and ∂l/∂x into ``dldx``."""
    modulation, ce = _sigmoid_focal_parts(x, y, alpha, gamma, dldx)
    return np.multiply(modulation, ce, out=loss)


def _sigmoid_focal_sum(
    x: np.ndarray, y: np.ndarray, alpha: float, gamma: float, loss: np.ndarray, dldx: np.ndarray
) -> Any:
    modulation, ce = _sigmoid_focal_parts(x, y, alpha, gamma, dldx)
    return _parallel.total(modulation, ce)


def _sigmoid_focal_parts(
    x: np.ndarray, y: np.ndarray, alpha: float, gamma: float, dldx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(alpha_t (1 - p_t)^gamma, ce)`` of one block, ∂l/∂x into ``dldx``: the shorter formula
    of `_sigmoid_focal_binary` when every target is 0 or 1."""
    if bool(((y == 0) | (y == 1)).all()):
        return _sigmoid_focal_binary(x, y, alpha, gamma, dldx)
    return _sigmoid_focal_soft(x, y, alpha, gamma, dldx)


def _sigmoid_focal_derivatives(
    x: Tensor, y: Tensor, alpha: float, gamma: float
) -> tuple[Tensor, Tensor]:
    """∂l/∂x and ∂l/∂y in log space (`_LogOneMinusPt` and log-sigmoids), as the docstring of
    `sigmoid_focal_loss` writes them."""
    log_p, log_not_p = logsigmoid(x), logsigmoid(neg(x))
    log_w = _LogOneMinusPt.apply(x, y)
    ce = sub(mul(sub(1.0, y), x), log_p)
    modulation = exp(mul(log_w, float(gamma)))
    inner_x, inner_y = sub(exp(log_p), y), neg(x)
    if gamma != 0:  # the focal terms (left out at 0: 0 * inf at an infinite logit)
        gamma_ce = mul(ce, gamma)
        inner_x = add(inner_x, mul(gamma_ce, _dlw_dx(log_p, log_not_p, log_w, y)))
        inner_y = add(mul(gamma_ce, _dlw_dy(log_p, log_not_p, log_w)), inner_y)
    if alpha < 0:
        return mul(modulation, inner_x), mul(modulation, inner_y)
    alpha_t = add(mul(y, 2 * alpha - 1), 1 - alpha)
    dldy = add(mul(modulation, mul(alpha_t, inner_y)), mul(mul(ce, modulation), 2 * alpha - 1))
    return mul(modulation, mul(alpha_t, inner_x)), dldy


_SIGMOID_FOCAL = Pointwise(
    node="SigmoidFocalLossBackward0",
    block=_sigmoid_focal_block,
    block_sum=_sigmoid_focal_sum,
    derivatives=_sigmoid_focal_derivatives,
)


def _sigmoid_focal_binary(
    x: np.ndarray, y: np.ndarray, alpha: float, gamma: float, dx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`_sigmoid_focal_parts` with every target 0 or 1.

    With ``s = 1 - 2y`` and ``z = s x`` (so ``p_t = sigmoid(-z)``), ``sp = log1p(exp(-|x|))``:
    ``ce = relu(z) + sp``, ``m = 1 - p_t = exp(min(z, 0) - sp)``, ``l = alpha_t m**gamma ce``
    and ``dl/dx = s alpha_t m**gamma (m + gamma ce (1 - m))``. ``relu(z) = (z + |x|) / 2``
    exactly (cheaper than a clip); per-thread scratch buffers hold the temporaries.
    """
    dt = x.dtype
    ax = scratch(x, 1)
    sp = scratch(x, 2)
    s = scratch(x, 3)
    z = scratch(x, 4)
    ce = scratch(x, 5)
    np.abs(x, out=ax)
    np.negative(ax, out=sp)
    np.exp(sp, out=sp)
    np.log1p(sp, out=sp)
    np.multiply(y, dt.type(-2), out=s)
    s += 1
    np.multiply(x, s, out=z)
    np.add(z, ax, out=ce)
    ce *= dt.type(0.5)  # relu(z)
    lm = np.subtract(z, ce, out=z)  # min(z, 0)
    lm -= sp  # log(m)
    ce += sp
    m = np.exp(lm, out=ax)
    if gamma == 2:
        w = np.multiply(m, m, out=lm)
    elif gamma == 1:
        np.copyto(lm, m)
        w = lm
    else:  # m**gamma = exp(gamma * log(m))
        lm *= dt.type(gamma)
        w = np.exp(lm, out=lm)
    if alpha >= 0:  # alpha_t = 1/2 - (alpha - 1/2) s
        np.multiply(s, dt.type(0.5 - alpha), out=sp)
        sp += dt.type(0.5)
        w *= sp
    if gamma == 0:  # no focal term (0 * inf at an infinite logit would be NaN)
        np.copyto(dx, m)
    else:
        np.subtract(dt.type(1), m, out=dx)
        dx *= ce
        dx *= dt.type(gamma)
        dx += m
    dx *= w
    dx *= s
    return w, ce


def _sigmoid_focal_soft(
    x: np.ndarray, y: np.ndarray, alpha: float, gamma: float, dx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`_sigmoid_focal_parts` for any targets in ``[0, 1]``."""
    dt = x.dtype.type
    a, b = _np_logsigmoids(x)
    lw = _np_log_one_minus_pt(a, b, y)
    ce = (1 - y) * x
    ce -= a
    mod = np.exp(lw * dt(gamma)) if gamma != 0 else np.ones_like(x)
    at = y * dt(2 * alpha - 1) + dt(1 - alpha) if alpha >= 0 else None
    w = mod if at is None else mod * at
    if gamma == 0:  # w (sigmoid(x) - y): no focal term (0 * inf at an infinite logit)
        np.exp(a, out=dx)
    else:  # w ((sigmoid(x) - y) + gamma ce dlw/dx)
        np.exp(a + b - lw, out=dx)
        dx *= 1 - 2 * y
        dx *= ce * dt(gamma)
        dx += np.exp(a)
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
    if tuple(targets.shape) != tuple(inputs.shape):
        raise ValueError(
            f"Target size ({targets.size()}) must be the same as input size ({inputs.size()})"
        )
    if inputs._data.dtype.kind != "f":
        raise NotImplementedError(
            f"\"log_sigmoid_cpu\" not implemented for '{scalar_type_name(inputs._data.dtype)}'"
        )
    if targets._data.dtype.kind != "f":
        raise RuntimeError(
            "result type Float can't be cast to the desired output type "
            f"{scalar_type_name(targets._data.dtype)}"
        )
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(
            f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: "
            "'none', 'mean', 'sum'"
        )
    _, (x, y) = promote(inputs, targets)
    return _pointwise(_SIGMOID_FOCAL, (x, y), reduction, (float(alpha), float(gamma)))


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
