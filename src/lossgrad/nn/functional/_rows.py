"""The row driver: a loss over rows of classes, declared once as a `Rows` spec.

A row loss reads an ``(M, C)`` array of scores (``M`` rows of ``C`` classes) and one target per
row, and gives one loss per row: cross-entropy, NLL, focal, the multi-class margins. A spec
states its math twice, in the two forms the two backward paths need:

* ``kernel``, a NumPy kernel over one block of rows: ``kernel(logits, targets, *params, loss,
  dldx, scale)`` writes the rows' losses into ``loss`` (``(n,)``) and ``scale`` times their
  gradients ``∂l_m/∂x_m`` into ``dldx`` (``(n, C)``; ``scale`` is the reduction's factor, folded
  in while the block is in cache). ``logits`` is a C-contiguous ``(n, C)`` block, ``targets``
  the block's targets (``targets.rows(r0, r1)``);
* ``derivative``, the same gradient written with lossgrad ops: ``derivative(logits, targets,
  *params, upstream)`` is the ``(M, C)`` Tensor ``upstream_m ∂l_m/∂x_m`` (``upstream`` the
  gradient of each row's loss: an ``(M, 1)`` or 0-d Tensor). Under ``create_graph=True`` the
  backward records it, so autograd gives the second and higher derivatives.

A spec with ``planes=True`` has a kernel written for either layout of a block, the class axis
always axis 1: besides ``(n, C)`` rows, the driver may hand it ``(b, C, p)`` class planes of a
spatial input (``b`` samples, ``p`` positions each, not transposed), with ``loss`` and the
targets in the block's ``(b, p)`` shape. Such a kernel broadcasts a per-row value ``v`` over the
classes as ``v[:, None]``, sums and maximizes over the classes with `class_sum` and
`class_max`, and finds each row's target in `flat` ``(block)`` at ``targets.offsets(block)``.

The driver owns everything else: the input's layout (an unbatched ``(C)`` input is one row; the
spatial positions of ``(N, C, d1, ..., dK)`` become rows, class axis last, unless the spec takes
class planes and the positions are many), blocks of rows over the thread pool, the ignored
rows (no loss, no gradient), the reduction (through `_reduction`: ``'mean'`` divides by the
targets' ``total_weight``, torch's weighted mean, or by the number of rows), the first-order
backward (the kept gradient, already scaled by the reduction, times the upstream gradient) and
the create_graph backward.

Targets are an object with ``tensor`` (a Tensor operand that gets a gradient, or None),
``rows(r0, r1, shape)`` (the targets of a block of rows, in the
block's per-row ``shape``: ``(n,)``, or ``(b, p)`` for class planes), ``ignored`` (a
boolean ``(M,)`` array, or None when no row is ignored), ``total_weight`` and ``out_shape``
(the unreduced loss's shape). `ClassTargets` is the one for class-index targets.

    >>> import numpy as np
    >>> import lossgrad as torch
    >>> from lossgrad.nn.functional import _rows
    >>> def pick_block(logits, targets, loss, dldx, scale):
    ...     positions = targets.positions(logits.shape[1])
    ...     loss[:] = -logits.reshape(-1)[positions]
    ...     dldx[:] = 0
    ...     dldx.reshape(-1)[positions] = -scale
    >>> def pick_derivative(logits, targets, upstream):
    ...     return -torch.tensor(targets.one_hot(2, np.float32)) * upstream
    >>> PICK = _rows.Rows(node="PickLossBackward0", kernel=pick_block, derivative=pick_derivative)
    >>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> targets = _rows.ClassTargets(np.array([1, 0]), out_shape=(2,))
    >>> loss = _rows.apply(PICK, x, targets, "sum")
    >>> loss.backward()
    >>> loss, x.grad
    (tensor(-5., grad_fn=<PickLossBackward0>), tensor([[ 0., -1.],
            [-1.,  0.]]))
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from lossgrad import _parallel
from lossgrad._backend import dot as _dot
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction, backward_via_tensors
from lossgrad.nn.functional import _kept, _reduction
from lossgrad.ops._common import row_offsets
from lossgrad.ops.pointwise import to_dtype, where
from lossgrad.ops.shape import movedim, reshape

#: Scratch slot of the driver's gradient block when no gradient is kept (kernels use 1 to 6).
GRAD_SLOT = 7


class Rows(NamedTuple):
    """A row loss (see the module docstring).

    Attributes:
        node: torch's ``grad_fn`` name, or a function of ``(reduction, *params)`` giving it.
        kernel: ``kernel(logits, targets, *params, loss, dldx, scale)``, the NumPy kernel.
        derivative: ``derivative(logits, targets, *params, upstream)``, ``upstream_m ∂l_m/∂x_m``
            in lossgrad ops.
        weighted_mean: ``'mean'`` divides by the targets' ``total_weight`` (else by ``M``).
        row_work: ``row_work(targets, C)``, the elements a kernel touches per row (default
            ``C``), which sizes the blocks.
        sparse_gradient: the kernel writes ``dldx`` only where it is not zero; the driver
            hands it zeros (``calloc``: fresh memory costs no pass).
        planes: the kernel also takes ``(b, C, p)`` class planes (see the module docstring).
        target_derivative: ``target_derivative(logits, targets, *params, upstream)``,
            ``upstream_m ∂l_m/∂t_m`` in lossgrad ops, for targets that are a Tensor operand
            (``targets.tensor``, of the input's shape): the gradient torch gives soft targets.
        softmax: the gradient passes through the row's softmax, so an ignored row's gradient
            is torch's ``0 - softmax * 0``: NaN where the softmax is (`_zero_rows`).
        half_total: ``half_total(*params)``, whether a float16 loss is reduced as torch's NLL
            kernel reduces it (`half_cascade_sum`, in float16), else None.
    """

    node: str | Callable[..., str]
    kernel: Callable[..., None]
    derivative: Callable[..., Tensor]
    weighted_mean: bool = True
    row_work: Callable[[Any, int], int] | None = None
    sparse_gradient: bool = False
    planes: bool = False
    target_derivative: Callable[..., Tensor] | None = None
    softmax: bool = False
    half_total: Callable[..., bool] | None = None


class ClassTargets:
    """Class-index targets of ``M`` rows, checked by the caller.

    Per row: ``index``, the target class (0 at ignored rows, so that it indexes safely);
    ``weight``, the class weight ``w[y]`` of the row's target (None when every row weighs 1);
    ``ignored``, True where the target equals ``ignore_index`` (None when no row is). With
    ``class_weight`` (the ``(C,)`` weights, or None), ``total_weight`` (the sum of ``weight``
    over the rows not ignored: torch's ``total_weight``, the divisor of the weighted mean) and
    ``out_shape``, the unreduced loss's shape.
    """

    __slots__ = ("index", "weight", "class_weight", "ignored", "total_weight", "out_shape")
    tensor = None  # no Tensor operand: class indices get no gradient

    def __init__(
        self,
        index: np.ndarray,
        weight: np.ndarray | None = None,
        class_weight: np.ndarray | None = None,
        ignored: np.ndarray | None = None,
        total_weight: float | None = None,
        out_shape: tuple[int, ...] = (),
    ) -> None:
        self.index, self.weight, self.class_weight = index, weight, class_weight
        self.ignored, self.out_shape = ignored, out_shape
        self.total_weight = float(index.size) if total_weight is None else total_weight

    def rows(self, r0: int, r1: int, shape: tuple[int, ...] | None = None) -> ClassTargets:
        """The targets of rows ``r0:r1`` (in ``shape``, that of a block of class planes)."""
        part = ClassTargets.__new__(ClassTargets)
        part.class_weight, part.total_weight, part.out_shape = (
            self.class_weight, self.total_weight, self.out_shape
        )  # fmt: skip
        part.index, part.weight, part.ignored = (
            None if values is None else values[r0:r1].reshape(shape or -1)
            for values in (self.index, self.weight, self.ignored)
        )
        return part

    def positions(self, classes: int) -> np.ndarray:
        """The flat offset of each row's target in a C-contiguous ``(rows, classes)`` array."""
        return row_offsets(self.index.size, classes) + self.index

    def offsets(self, block: np.ndarray) -> np.ndarray:
        """The offset of each row's target in `flat` ``(block)``, a kernel's ``(n, C)`` rows or
        ``(b, C, p)`` class planes (these targets being the block's)."""
        if block.ndim == 2:
            return row_offsets(*block.shape) + self.index
        sample_stride, class_stride = (stride // block.itemsize for stride in block.strides[:2])
        offsets = self.index * class_stride
        offsets += _plane_offsets(block.shape[0], block.shape[2], sample_stride)
        return offsets

    def one_hot(self, classes: int, dtype: Any = np.float64, values: Any = 1) -> np.ndarray:
        """An ``(M, classes)`` array of zeros with ``values`` (one per row, or a scalar) at each
        row's target class."""
        out = np.zeros((self.index.size, classes), dtype)
        if classes:
            out.reshape(-1)[self.positions(classes)] = values
        return out


@functools.lru_cache(maxsize=64)
def _plane_offsets(samples: int, positions: int, sample_stride: int) -> np.ndarray:
    """``offsets[i, j] = i * sample_stride + j`` (cached, read-only)."""
    out = np.arange(samples, dtype=np.int64)[:, None] * sample_stride + np.arange(positions)
    out.flags.writeable = False
    return out


def flat(block: np.ndarray) -> np.ndarray:
    """The memory of a kernel's block from its first element to its last, as one flat array
    (the block itself when it is contiguous: rows always are): where `ClassTargets.offsets`
    point."""
    if block.ndim == 2 or block.flags.c_contiguous:
        return block.reshape(-1)
    span = sum((size - 1) * stride for size, stride in zip(block.shape, block.strides))
    return np.lib.stride_tricks.as_strided(block, (span // block.itemsize + 1,), block.strides[-1:])


def class_sum(block: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """``sum_c weights[c] block[:, c]`` (plain sums without ``weights``) per row of a kernel's
    block: BLAS matrix-vector products over rows, sums of planes over class planes."""
    if block.ndim == 2:
        return np.dot(
            block, _parallel.ones(block.shape[1], block.dtype) if weights is None else weights
        )
    return np.add.reduce(block, axis=1) if weights is None else np.matmul(weights, block)


def class_max(block: np.ndarray) -> np.ndarray:
    """The maximum over the classes per row of a kernel's block (NaN where a row has one). Rows
    take each row's first maximum by ``argmax`` (which finds a NaN first) and one gather: at
    every size it costs less than NumPy's maximum along the rows (half, on a small block).
    Many short rows go column by column: NumPy's reduction along a short axis costs tens of
    nanoseconds per row, a call per column about a microsecond."""
    rows, classes = block.shape[:2]
    if block.ndim == 3:
        return np.maximum.reduce(block, axis=1)
    if classes > 16 or rows < 64 * classes:
        return block.reshape(-1)[row_offsets(rows, classes) + block.argmax(1)]
    row_max = block[:, 0].copy()
    for column in block.T[1:]:
        np.maximum(row_max, column, out=row_max)
    return row_max


def along_classes(values: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``(C,)`` per-class ``values`` shaped to broadcast over a kernel's block."""
    return values if block.ndim == 2 else values[:, None]


def apply(spec: Rows, input: Tensor, targets: Any, reduction: str, params: tuple = ()) -> Tensor:
    """The loss ``spec`` of the scores ``input`` (``()``, ``(C)``, ``(N, C)`` or ``(N, C, d1,
    ..., dK)``; a float dtype, which is the loss's) and ``targets``, reduced by ``reduction``
    (``'none'``, ``'sum'`` or ``'mean'``), with parameters ``params``."""
    node = spec.node if type(spec.node) is str else spec.node(reduction, *params)
    cls = _LOSS_CLASSES.get(node) or _loss_class(node)
    operand = targets.tensor
    if operand is not None:  # targets with a gradient
        return cls.apply(input, operand, (spec, targets, reduction, params))
    return cls.apply(input, (spec, targets, reduction, params))  # two arguments: the fast path


_LOSS_CLASSES: dict[str, type[ArrayFunction]] = {}


def _loss_class(node: str) -> type[ArrayFunction]:
    """The op class whose nodes are named ``node`` (one per name, shared by the specs)."""
    cls = _LOSS_CLASSES[node] = type(f"_Rows_{node}", (_RowLoss,), {"node_name": node})
    return cls


def as_rows(x: np.ndarray) -> np.ndarray:
    """``x`` as a C-contiguous ``(M, C)`` array: the class axis (axis 1, or the only one) last."""
    if x.ndim == 2:
        return x if x.flags.c_contiguous else np.ascontiguousarray(x)
    if x.ndim < 2:
        return x.reshape(1, -1) if x.ndim else x.reshape(1, 1)
    classes_last = (0, *range(2, x.ndim), 1)
    return np.ascontiguousarray(x.transpose(classes_last)).reshape(-1, x.shape[1])


def _from_rows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of `as_rows` for a K-d input: an ``(M, C)`` array back in its ``shape``."""
    moved = rows.reshape((shape[0], *shape[2:], shape[1]))
    classes_second = (0, len(shape) - 1, *range(1, len(shape) - 1))
    return np.ascontiguousarray(moved.transpose(classes_second))


def tensor_rows(x: Tensor) -> Tensor:
    """An input (or a Tensor of its shape) as ``(M, C)`` rows, with ops (differentiable)."""
    shape = x._data.shape
    if len(shape) == 2:
        return x
    if len(shape) < 2:
        return reshape(x, (1, -1) if shape else (1, 1))
    return reshape(movedim(x, 1, -1), (-1, shape[1]))


def _tensor_from_rows(rows: Tensor, shape: tuple[int, ...]) -> Tensor:
    """`_from_rows` with ops."""
    if len(shape) <= 2:
        return rows if len(shape) == 2 else reshape(rows, shape)
    return movedim(reshape(rows, (shape[0], *shape[2:], shape[1])), -1, 1)


def _zero_rows(kept: np.ndarray, ignored: np.ndarray, logits: np.ndarray | None = None) -> None:
    """Zero the gradient of the ``ignored`` rows in ``kept`` (rows, or ``(N, C, P)`` planes).
    Given the ``logits`` (a `Rows.softmax` spec), an ignored row whose softmax is NaN (a NaN or
    +inf logit, or every logit -inf: its maximum is not finite) gets NaN instead."""
    if kept.ndim == 2:
        fill = 0 if logits is None else _softmax_fill(logits[ignored])[:, None]
        kept[ignored] = fill
    else:
        fill = 0 if logits is None else _softmax_fill(logits)[:, None]
        np.copyto(kept, fill, where=ignored.reshape(kept.shape[0], 1, -1))


def _softmax_fill(logits: np.ndarray) -> np.ndarray:
    """0 per row of ``logits`` whose softmax is a number, NaN where it is not."""
    if not logits.shape[1]:
        return np.zeros(logits.shape[:1] + logits.shape[2:], logits.dtype)
    row_max = class_max(logits)
    return np.where(np.isfinite(row_max), logits.dtype.type(0), logits.dtype.type(np.nan))


def _run_blocks(
    spec: Rows,
    logits: np.ndarray,
    targets: Any,
    params: tuple,
    loss: np.ndarray,
    kept: np.ndarray | None,
    scale: Any,
    work: int,
) -> None:
    """The kernel over blocks of rows on the thread pool (``work`` elements per row)."""
    rows, classes = logits.shape
    kernel = spec.kernel

    def block(r0: int, r1: int) -> None:
        if kept is not None:
            dldx = kept[r0:r1]
        else:
            size = (r1 - r0) * classes
            dldx = _parallel.scratch(size, logits.dtype, GRAD_SLOT).reshape(r1 - r0, classes)
        part = targets if r1 - r0 == rows else targets.rows(r0, r1)
        kernel(logits[r0:r1], part, *params, loss[r0:r1], dldx, scale)

    _parallel.map_rows(block, rows, work)


def _as_planes(x: np.ndarray, planes: tuple[int, int, int]) -> np.ndarray:
    """``x`` as ``(N, C, P)`` class planes whose positions are adjacent in memory, as the
    kernels' offsets (`ClassTargets.offsets`) take them: a view when they are, else a copy."""
    view = x.reshape(planes)
    return view if view.strides[2] == view.itemsize else np.ascontiguousarray(view)


def _class_planes(spec: Rows, x: np.ndarray) -> tuple[int, int, int] | None:
    """``(N, C, positions)`` when the spec's kernel takes the class planes of the spatial input
    ``x``: many positions per class (each NumPy call then covers at least 64 of them per plane),
    else None (the positions become rows)."""
    if not spec.planes:
        return None
    samples, classes = x.shape[:2]
    positions = x.size // (samples * classes) if samples * classes else 0
    return (samples, classes, positions) if positions >= 64 * max(classes, 1) else None


def _run_planes(
    spec: Rows,
    logits: np.ndarray,
    targets: Any,
    params: tuple,
    loss: np.ndarray,
    dldx: np.ndarray,
    scale: Any,
    work: int,
) -> None:
    """The kernel over blocks of class planes of ``(N, C, P)`` logits on the thread pool
    (``work`` elements per position): whole samples when one fits a block, else runs of one
    sample's positions."""
    samples, classes, positions = logits.shape
    span = max(1, _parallel.wide_block(loss.size * work) // work)  # positions per block
    if span >= positions:
        per_block = span // positions
        blocks = [
            (n, min(n + per_block, samples), 0, positions) for n in range(0, samples, per_block)
        ]
    else:
        blocks = [
            (n, n + 1, p, min(p + span, positions))
            for n in range(samples)
            for p in range(0, positions, span)
        ]
    losses = loss.reshape(samples, positions)

    def run(first: int, last: int) -> None:
        for n0, n1, p0, p1 in blocks[first:last]:
            part = targets.rows(n0 * positions + p0, (n1 - 1) * positions + p1, (n1 - n0, p1 - p0))
            block = np.s_[n0:n1, :, p0:p1]
            kernel_loss = losses[n0:n1, p0:p1]
            spec.kernel(logits[block], part, *params, kernel_loss, dldx[block], scale)

    _parallel.map_blocks(run, len(blocks), block=1, work=loss.size * work)


def _kept_gradient(
    ctx: Any, spec: Rows, x: np.ndarray, logits: np.ndarray, planes: bool
) -> np.ndarray | None:
    """The array the kernel writes the input's gradient into, kept on ``ctx.kept`` (in the
    input's shape when that is a view of the layout), in the layout of ``logits``; None when
    the input needs no gradient."""
    if not ctx.needs_input_grad[0]:
        return None
    allocate = np.zeros if spec.sparse_gradient else np.empty
    if x.ndim == 2:
        kept = ctx.kept = allocate(x.shape, x.dtype)
        return kept
    ctx.kept = allocate(x.shape if x.ndim < 2 or planes else logits.shape, logits.dtype)
    return ctx.kept.reshape(logits.shape)


def _run_kernel(
    spec: Rows,
    logits: np.ndarray,
    targets: Any,
    params: tuple,
    loss: np.ndarray,
    kept: np.ndarray | None,
    scale: Any,
    planes: bool,
) -> None:
    """The spec's kernel over ``logits`` (rows, or class planes): the loss of each row into
    ``loss``, the gradient into ``kept`` (or scratch when None)."""
    classes, dtype = logits.shape[1], logits.dtype
    work = classes if spec.row_work is None else spec.row_work(targets, classes)
    if not classes:  # no classes: every row is ignored (or there are none)
        loss[:] = 0
    elif planes:
        dldx = kept if kept is not None else np.empty(logits.shape, dtype)
        _run_planes(spec, logits, targets, params, loss, dldx, scale, work)
    elif loss.size * work < _parallel.MIN_PARALLEL:  # one block
        if loss.size:
            dldx = kept if kept is not None else np.empty(logits.shape, dtype)
            spec.kernel(logits, targets, *params, loss, dldx, scale)
    else:
        _run_blocks(spec, logits, targets, params, loss, kept, scale, work)


#: ``(reduction, denominator, dtype)``: `_factors` of the reductions met so far.
_FACTORS: dict[tuple[str, float, np.dtype], tuple[float | None, Any, Any]] = {}


def _factors(reduction: str, denominator: float, dtype: np.dtype) -> tuple[float | None, Any, Any]:
    """The divisor of the loss's total (`_reduction.mean_divisor`: None when unreduced), the
    gradient's scale (`_reduction.gradient_scale`) of ``reduction`` and, for a float32 or
    float64 loss with a divisor that is not 0, the divisor in its dtype (`_RowLoss.forward`
    divides the total by it, as `_reduction.divide_total`; else None), cached: a training loop
    asks for the same ones at every step."""
    divisor = _reduction.mean_divisor(reduction, denominator)
    typed = dtype.type(divisor) if divisor and dtype.char in "fd" else None
    factors = (divisor, _reduction.gradient_scale(dtype, divisor), typed)
    if len(_FACTORS) > 4096:  # many distinct denominators: a bounded cache
        _FACTORS.clear()
    _FACTORS[reduction, denominator, dtype] = factors
    return factors


def _reduced(loss: np.ndarray, divisor: float, reduction: str) -> np.ndarray:
    """The reduced loss of the rows' ``loss`` (`_reduction.divide_total` of their total: a BLAS
    dot product with ones for float32 and float64, as `_parallel.total`)."""
    dtype = loss.dtype
    if dtype.char in "fd":
        total = _dot(loss, _parallel.ones(loss.size, dtype))
    else:
        total = loss.sum(dtype=_reduction.accumulation_dtype(dtype))
    return _reduction.divide_total(total, divisor, dtype, reduction)


class _RowLoss(ArrayFunction):
    """The op of every row loss: ``apply(input, (spec, targets, reduction, params))``."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, *operands: Any) -> np.ndarray:
        spec, targets, reduction, params = operands[-1]  # after the targets' Tensor, if any
        ctx.save_for_backward(x, *operands[:-1])
        ctx.spec, ctx.targets, ctx.params, ctx.in_shape = spec, targets, params, x.shape
        planes = None
        if x.ndim == 2 and x.flags.c_contiguous:  # the common call: the rows as given
            logits = x
        else:
            planes = _class_planes(spec, x) if x.ndim > 2 else None
            logits = as_rows(x) if planes is None else _as_planes(x, planes)
            if _in_float32(x):
                logits = logits.astype(np.float32)
        ctx.layout = logits.shape
        rows = logits.shape[0] if planes is None else planes[0] * planes[2]
        dtype = x.dtype
        half = _half_total(spec, params, dtype, reduction, targets, rows)
        denominator = targets.total_weight if spec.weighted_mean else rows
        key = (reduction, denominator if half is None else float(half[1]), dtype)
        divisor, scale, typed_divisor = _FACTORS.get(key) or _factors(*key)
        ctx.divisor = divisor
        kept = _kept_gradient(ctx, spec, x, logits, planes is not None)
        loss = np.empty(rows, logits.dtype)
        _run_kernel(spec, logits, targets, params, loss, kept, scale, planes is not None)
        if logits.dtype != dtype:
            loss = loss.astype(dtype)
            if kept is not None:
                ctx.kept = ctx.kept.astype(dtype)
                kept = ctx.kept.reshape(logits.shape)
        ignored = targets.ignored
        if ignored is not None:  # an ignored row has no loss and no gradient
            loss[ignored] = 0
            if kept is not None:
                _zero_rows(kept, ignored, logits if spec.softmax else None)
        if divisor is None:
            return loss.reshape(targets.out_shape)
        if half is not None:
            return _half_reduced(loss, half, reduction)
        if typed_divisor is not None:  # the total as one BLAS dot, divided in the loss's dtype
            return _dot(loss, _parallel.ones(loss.size, dtype)) / typed_divisor
        return _reduced(loss, divisor, reduction)

    @staticmethod
    def backward_array(ctx: Any, upstream: np.ndarray) -> tuple[Any, ...]:
        """The first-order backward: the kept gradient times the upstream gradient (one
        factor per row when unreduced); a target Tensor's gradient from its ops formula."""
        needs = ctx.needs_input_grad
        target_grad = None
        if len(needs) == 3 and needs[1]:
            upstream_rows = _upstream_rows(ctx, Tensor._make(upstream))
            target_grad = _target_gradient(ctx, ctx.saved_tensors[0], upstream_rows)._data
        kept = _kept.take(ctx)
        if kept is None:
            return backward_via_tensors(ctx, upstream)
        if ctx.divisor is not None:
            _kept.times_upstream(kept, upstream, reduced=True)
        else:  # one factor per row: (M, 1) against rows, (N, 1, P) against class planes
            layout = kept.reshape(ctx.layout)
            factor_shape = (ctx.layout[0], 1, *ctx.layout[2:])
            np.multiply(layout, upstream.reshape(factor_shape), out=layout)
            del layout
        grad = kept if kept.shape == ctx.in_shape else _from_rows(kept, ctx.in_shape)
        return (grad, None) if len(needs) == 2 else (grad, target_grad, None)

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Any, ...]:
        """The spec's ops formula times the upstream gradient (recorded under create_graph)."""
        x = ctx.saved_tensors[0]
        needs = ctx.needs_input_grad
        upstream_rows = _upstream_rows(ctx, upstream)
        grad = None
        if needs[0]:
            logits = tensor_rows(x)
            if _in_float32(x._data):
                logits = to_dtype(logits, np.dtype(np.float32))
            grad = ctx.spec.derivative(logits, ctx.targets, *ctx.params, upstream_rows)
            grad = _tensor_from_rows(to_dtype(grad, x._data.dtype), x._data.shape)
        if len(needs) == 2:
            return grad, None
        return grad, _target_gradient(ctx, x, upstream_rows) if needs[1] else None, None


def _half_total(
    spec: Rows, params: tuple, dtype: np.dtype, reduction: str, targets: Any, rows: int
) -> tuple[np.ndarray, np.float16] | None:
    """For a float16 loss that torch reduces in its NLL kernel (`Rows.half_total`): the rows
    it adds (those not ignored) and its ``total_weight`` in float16, the number of those rows
    or the cascade sum of their class weights (`half_cascade_sum`); else None."""
    if dtype != np.float16 or reduction == "none" or not rows:
        return None
    if spec.half_total is None or not spec.half_total(*params):
        return None
    ignored = targets.ignored
    positions = np.arange(rows) if ignored is None else np.flatnonzero(~ignored)
    if targets.weight is None:
        return positions, np.float16(positions.size)
    return positions, half_cascade_sum(targets.weight[positions], positions, rows)


def _half_reduced(
    loss: np.ndarray, half: tuple[np.ndarray, np.float16], reduction: str
) -> np.ndarray:
    """torch's float16 NLL reduction of the rows' ``loss``: their `half_cascade_sum`, divided
    in float16 by the total weight for ``'mean'`` (inf past 65504, NaN for 0 / 0, as torch)."""
    positions, total_weight = half
    total = half_cascade_sum(loss[positions], positions, loss.size)
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            total = total / total_weight
    return np.asarray(total, np.float16)


def half_cascade_sum(values: np.ndarray, positions: np.ndarray, count: int) -> np.float16:
    """torch's CPU NLL total of float16 ``values`` (those of the rows not ignored, at
    ``positions`` among ``count`` rows), in its order and in float16, each addition rounded:
    8 levels of partial sums, level 0 adding the values and level ``j`` handing its sum to
    level ``j + 1`` at each position whose ``j + 1`` low groups of ``power`` bits are all 0
    (``power`` 4 below 2^40 rows); the total adds the levels in order. A total past 65504 is
    ``inf``, as torch's."""
    power = max(4, (count - 1).bit_length() // 8)
    mask = (1 << power) - 1
    depth = np.zeros(positions.shape, np.int64)
    for level in range(7):  # depth: how many levels hand on their sum at each position
        depth += ((positions >> (level * power)) & mask == 0) & (depth == level)
    total, items = np.float16(0), values
    with np.errstate(over="ignore", invalid="ignore"):
        for level in range(8):
            ends = depth > level if level < 7 else np.zeros(depth.shape, bool)
            sums = _folded(items, np.cumsum(ends) - ends)  # segments: the ends before each
            closed = int(np.count_nonzero(ends))
            total = total + (sums[closed] if sums.size > closed else np.float16(0))
            items, depth = sums[:closed], depth[ends]
    return total


def _folded(items: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Per segment (``segment``: each item's, sorted, from 0), ``((0 + a) + b) + ...`` of its
    ``items`` in float16, one vectorized addition per place (padded with -0.0, which adds
    nothing to any value)."""
    if not items.size:
        return items
    starts = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])
    place = np.arange(items.size) - np.repeat(starts, np.diff(np.r_[starts, items.size]))
    padded = np.full((starts.size, int(place.max()) + 1), -0.0, np.float16)
    padded[segment, place] = items
    sums = np.zeros(starts.size, np.float16)
    for column in padded.T:
        sums += column
    return sums


def _in_float32(x: np.ndarray) -> bool:
    """Whether the rows of the input ``x`` are computed in float32, the loss and gradient
    rounded once: a float16 input whose class axis is not the last, as torch's Half
    log-softmax over a dimension that is not the last (over the last one, it rounds the sums
    of exponentials to float16: so do the kernels)."""
    return x.dtype == np.float16 and x.ndim > 2


def _upstream_rows(ctx: Any, upstream: Tensor) -> Tensor:
    """The upstream gradient of each row's loss: ``(M, 1)``, or 0-d for a reduced loss (0 at
    the ignored rows: no gradient there, not even ``0 * NaN``)."""
    if ctx.divisor is None:
        scale = reshape(upstream, (-1, 1))
    else:
        scale = _reduction.divide_grad(upstream, ctx.divisor)
    ignored = ctx.targets.ignored
    return scale if ignored is None else where(Tensor._make(~ignored[:, None]), scale, 0.0)


def _target_gradient(ctx: Any, x: Tensor, upstream_rows: Tensor) -> Tensor:
    """The gradient of the targets' Tensor (`Rows.target_derivative`), in the input's shape."""
    spec, targets = ctx.spec, ctx.targets
    grad = spec.target_derivative(tensor_rows(x), targets, *ctx.params, upstream_rows)
    return _tensor_from_rows(grad, x._data.shape)
