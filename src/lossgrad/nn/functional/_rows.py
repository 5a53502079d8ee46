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

The driver owns everything else: the input's layout (an unbatched ``(C)`` input is one row; the
spatial positions of ``(N, C, d1, ..., dK)`` become rows, class axis last), blocks of rows over
the thread pool, the ignored rows (no loss, no gradient), the reduction (through `_reduction`:
``'mean'`` divides by the targets' ``total_weight``, torch's weighted mean, or by the number of
rows), the first-order backward (the kept gradient, already scaled by the reduction, times the
upstream gradient) and the create_graph backward.

Targets are an object with ``rows(r0, r1)`` (the targets of a block of rows), ``ignored`` (a
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

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from lossgrad import _parallel
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction, backward_via_tensors
from lossgrad.nn.functional import _kept, _reduction
from lossgrad.ops._common import row_offsets
from lossgrad.ops.pointwise import where
from lossgrad.ops.shape import movedim, reshape

#: Scratch slot of the driver's gradient block when no gradient is kept (kernels use 1 to 6).
GRAD_SLOT = 7


class Rows(NamedTuple):
    """A row loss (see the module docstring).

    Attributes:
        node: torch's ``grad_fn`` name, or a function of the loss's parameters giving it.
        kernel: ``kernel(logits, targets, *params, loss, dldx, scale)``, the NumPy kernel.
        derivative: ``derivative(logits, targets, *params, upstream)``, ``upstream_m ∂l_m/∂x_m``
            in lossgrad ops.
        weighted_mean: ``'mean'`` divides by the targets' ``total_weight`` (else by ``M``).
        row_work: ``row_work(targets, C)``, the elements a kernel touches per row (default
            ``C``), which sizes the blocks.
        sparse_gradient: the kernel writes ``dldx`` only where it is not zero; the driver
            hands it zeros (``calloc``: fresh memory costs no pass).
    """

    node: str | Callable[..., str]
    kernel: Callable[..., None]
    derivative: Callable[..., Tensor]
    weighted_mean: bool = True
    row_work: Callable[[Any, int], int] | None = None
    sparse_gradient: bool = False


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

    def rows(self, r0: int, r1: int) -> ClassTargets:
        """The targets of rows ``r0:r1``."""
        part = ClassTargets.__new__(ClassTargets)
        part.index, part.class_weight = self.index[r0:r1], self.class_weight
        part.weight = None if self.weight is None else self.weight[r0:r1]
        part.ignored = None if self.ignored is None else self.ignored[r0:r1]
        part.total_weight, part.out_shape = self.total_weight, self.out_shape
        return part

    def positions(self, classes: int) -> np.ndarray:
        """The flat offset of each row's target in a C-contiguous ``(rows, classes)`` array."""
        return row_offsets(self.index.size, classes) + self.index

    def one_hot(self, classes: int, dtype: Any = np.float64, values: Any = 1) -> np.ndarray:
        """An ``(M, classes)`` array of zeros with ``values`` (one per row, or a scalar) at each
        row's target class."""
        out = np.zeros((self.index.size, classes), dtype)
        if classes:
            out.reshape(-1)[self.positions(classes)] = values
        return out


def apply(spec: Rows, input: Tensor, targets: Any, reduction: str, params: tuple = ()) -> Tensor:
    """The loss ``spec`` of the scores ``input`` (``()``, ``(C)``, ``(N, C)`` or ``(N, C, d1,
    ..., dK)``; a float dtype, which is the loss's) and ``targets``, reduced by ``reduction``
    (``'none'``, ``'sum'`` or ``'mean'``), with parameters ``params``."""
    node = spec.node if type(spec.node) is str else spec.node(*params)
    cls = _LOSS_CLASSES.get(node) or _loss_class(node)
    return cls.apply(input, (spec, targets, reduction, params))  # two arguments: the fast path


_LOSS_CLASSES: dict[str, type[ArrayFunction]] = {}


def _loss_class(node: str) -> type[ArrayFunction]:
    """The op class whose nodes are named ``node`` (one per name, shared by the specs)."""
    cls = _LOSS_CLASSES[node] = type(f"_Rows_{node}", (_RowLoss,), {"node_name": node})
    return cls


def _as_rows(x: np.ndarray) -> np.ndarray:
    """``x`` as a C-contiguous ``(M, C)`` array: the class axis (axis 1, or the only one) last."""
    if x.ndim == 2:
        return x if x.flags.c_contiguous else np.ascontiguousarray(x)
    if x.ndim < 2:
        return x.reshape(1, -1) if x.ndim else x.reshape(1, 1)
    return np.ascontiguousarray(np.moveaxis(x, 1, -1)).reshape(-1, x.shape[1])


def _from_rows(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of `_as_rows` for a K-d input: an ``(M, C)`` array back in its ``shape``."""
    moved = rows.reshape((shape[0], *shape[2:], shape[1]))
    return np.ascontiguousarray(np.moveaxis(moved, -1, 1))


def _tensor_rows(x: Tensor) -> Tensor:
    """`_as_rows` with ops (differentiable)."""
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


class _RowLoss(ArrayFunction):
    """The op of every row loss: ``apply(input, (spec, targets, reduction, params))``."""

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, call: tuple[Rows, Any, str, tuple]) -> np.ndarray:
        spec, targets, reduction, params = call
        ctx.save_for_backward(x)
        ctx.spec, ctx.targets, ctx.params, ctx.in_shape = spec, targets, params, x.shape
        logits = _as_rows(x)
        rows, classes = ctx.rows_shape = logits.shape
        dtype = x.dtype
        denominator = targets.total_weight if spec.weighted_mean else rows
        divisor = ctx.divisor = _reduction.mean_divisor(reduction, denominator)
        scale = _reduction.gradient_scale(dtype, divisor)
        kept = None
        if ctx.needs_input_grad[0]:  # in the input's shape when that is a view of the rows
            allocate = np.zeros if spec.sparse_gradient else np.empty
            ctx.kept = allocate(x.shape if x.ndim <= 2 else (rows, classes), dtype)
            kept = ctx.kept.reshape(rows, classes)
        loss = np.empty(rows, dtype)
        work = classes if spec.row_work is None else spec.row_work(targets, classes)
        if not classes:  # no classes: every row is ignored (or there are none)
            loss[:] = 0
        elif rows * work < _parallel.MIN_PARALLEL:  # one block
            if rows:
                dldx = kept if kept is not None else np.empty((rows, classes), dtype)
                spec.kernel(logits, targets, *params, loss, dldx, scale)
        else:
            _run_blocks(spec, logits, targets, params, loss, kept, scale, work)
        ignored = targets.ignored
        if ignored is not None:  # an ignored row has no loss and no gradient
            loss[ignored] = 0
            if kept is not None:
                kept[ignored] = 0
        if divisor is None:
            return loss.reshape(targets.out_shape)
        accumulate = _reduction.accumulation_dtype(dtype)
        if not rows:
            total = accumulate.type(0)
        else:
            total = _parallel.total(loss) if accumulate == dtype else loss.sum(dtype=accumulate)
        return _reduction.divide_total(total, divisor, dtype, reduction)

    @staticmethod
    def backward_array(ctx: Any, upstream: np.ndarray) -> tuple[Any, ...]:
        """The first-order backward: the kept gradient times the upstream gradient (one
        factor per row when unreduced)."""
        kept = _kept.take(ctx)
        if kept is None:
            return backward_via_tensors(ctx, upstream)
        if ctx.divisor is not None:
            _kept.times_upstream(kept, upstream, reduced=True)
        else:
            rows = kept.reshape(ctx.rows_shape)
            np.multiply(rows, upstream.reshape(-1, 1), out=rows)
            del rows
        grad = kept if kept.shape == ctx.in_shape else _from_rows(kept, ctx.in_shape)
        return grad, None

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Any, ...]:
        """The spec's ops formula times the upstream gradient (recorded under create_graph)."""
        (x,) = ctx.saved_tensors
        targets = ctx.targets
        if ctx.divisor is None:
            scale = reshape(upstream, (-1, 1))
        else:
            scale = _reduction.divide_grad(upstream, ctx.divisor)
        if targets.ignored is not None:  # no gradient (not even 0 * NaN) at an ignored row
            scale = where(Tensor._make(~targets.ignored[:, None]), scale, 0.0)
        grad = ctx.spec.derivative(_tensor_rows(x), targets, *ctx.params, scale)
        return _tensor_from_rows(grad, x._data.shape), None
