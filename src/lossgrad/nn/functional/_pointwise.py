"""The pointwise driver: a loss of elementwise operands, declared once as a `Pointwise` spec.

A spec states a loss's math twice, in the two forms the two backward paths need:

* ``block``, a NumPy kernel over one block of flat operands: it writes the unreduced loss into
  ``loss`` and ∂l/∂x (the gradient of the first operand) into ``dldx``, and returns the loss
  block. Every argument is a 1-d array of the block's length (``None`` for an absent optional
  operand), followed by the loss's parameters in order;
* ``derivatives``, the same derivatives written with lossgrad ops, one per operand (None where
  there is none). Under ``create_graph=True`` the backward records this formula, so autograd
  gives the second and higher derivatives.

The driver owns everything else: broadcasting the operands to one shape (torch's
``broadcast_tensors``), contiguous flat copies of strided or broadcast operands, blocks of a
few hundred thousand elements over the thread pool, the reduction (through `_reduction`), the
first-order backward (the kept ∂l/∂x, already multiplied by the reduction's scale, handed out
as the gradient) and the create_graph backward (the formula times the upstream gradient).

A spec may add ``block_sum``, the kernel's sum over a block computed more cheaply (say, as dot
products) for float32/float64 reductions; ``dldx_factor``, a constant the kernel leaves out of
its ``dldx`` (the driver folds it into the reduction's scale); ``antisymmetric`` for a loss
of ``x - y``, whose second operand's gradient is ``-dldx`` (kept once for both); and, in place
of ``derivatives``, ``gradients``: the gradients themselves, upstream gradient included, for a
loss whose overflow and NaN positions depend on where torch multiplies that gradient in (mse's
kernel scales ``x - y`` by ``2 / n`` before it; bce_with_logits's multiplies it by the weight
before it divides by ``n``). A loss torch composes from ops (kl_div, poisson_nll, gaussian_nll)
gives ``composite_gradients`` instead: the same, but handed the upstream gradient already
through the reduction's backward, as torch's ``MeanBackward0`` hands it to the elementwise ops;
its first-order backward takes them too where the reduced loss is not finite (the kept ∂l/∂x
times the upstream overflows where torch's order need not). Such a loss also gives
``composite``, torch's composite itself: `apply` takes the operands as the functional has them
and reduces the composite wherever the fused op cannot round and fail as torch's ops do
(integer or float16 operands, a broadcast operand that requires grad); else it promotes them.

    >>> import numpy as np
    >>> import lossgrad as torch
    >>> from lossgrad.nn.functional import _pointwise
    >>> def square_block(x, y, loss, dldx):
    ...     np.subtract(x, y, out=dldx)
    ...     return np.multiply(dldx, dldx, out=loss)
    >>> SQUARE = _pointwise.Pointwise(
    ...     node="SquareLossBackward0",
    ...     block=square_block,
    ...     derivatives=lambda x, y: (2 * (x - y), 2 * (y - x)),
    ...     dldx_factor=lambda: 2.0,
    ...     antisymmetric=True,
    ... )
    >>> x = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> loss = _pointwise.apply(SQUARE, (x, torch.zeros(2)), "sum")
    >>> loss.backward()
    >>> loss, x.grad
    (tensor(5., grad_fn=<SquareLossBackward0>), tensor([2., 4.]))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from lossgrad import _parallel
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction, backward_via_tensors
from lossgrad.nn.functional import _checks, _kept, _reduction
from lossgrad.ops._common import promote
from lossgrad.ops.pointwise import mul

#: Scratch slots of the driver: a reduced loss's block, an unkept gradient's block. Kernels
#: take their temporaries from `scratch` with the slots in between.
LOSS_SLOT, GRAD_SLOT = 0, 7


class Pointwise(NamedTuple):
    """A pointwise loss (see the module docstring).

    Attributes:
        node: torch's ``grad_fn`` name, or a function of ``(reduction, *params)`` giving it (a
            loss torch composes from ops is named after its last op).
        block: ``block(*operands, *params, loss, dldx) -> loss``, the NumPy kernel.
        derivatives: ``derivatives(*operands, *params)``, one ∂l/∂operand per operand written
            with lossgrad ops (None where an operand has no gradient); the create_graph
            backward multiplies them by ``upstream / divisor``. None when ``gradients`` or
            ``composite_gradients`` is given.
        gradients: ``gradients(upstream, divisor, *operands, *params)``, the gradients
            themselves written with lossgrad ops, in torch's order of operations (``upstream``
            the upstream gradient, ``divisor`` the reduction's: None, or the element count of a
            ``'mean'``); None for an operand that does not require grad is allowed. Optional,
            in place of ``derivatives``.
        composite_gradients: ``composite_gradients(grad, *operands, *params)``, the gradients of
            a loss torch composes from ops, written with lossgrad ops in the order of its
            composite's backward, where ``grad`` is the upstream gradient over the reduction's
            divisor (`_reduction.divide_grad`: what the composite's final ``mean`` or ``sum``
            hands back); None for an operand that does not require grad is allowed. Optional,
            in place of ``derivatives``.
        block_sum: ``block_sum(*operands, *params, loss, dldx)``: the block's total (``loss``
            is scratch); it also writes ``dldx``. It may return None instead (say, for
            operands it has no shortcut for, or where its shortcut would not be accurate):
            the driver then sums the kernel's block. Optional.
        sum_applies_scale: ``block_sum`` takes one more argument, the factor ∂l/∂x is to be
            multiplied by (the reduction's and ``dldx_factor``'s; None for none), and applies it
            itself, where torch's backward does: before a division that would overflow first.
        antisymmetric: the second operand's gradient is ``-dldx``.
        dldx_factor: ``dldx_factor(*params)``, a constant factor of ∂l/∂x that ``block`` does
            not apply. Optional.
        half: ``half(*operands, *params)``, the unreduced loss written with lossgrad ops in
            the order of torch's float16 computation: for float16 operands, where torch rounds
            each op to float16, the loss's value is this formula's (the gradients are then the
            ops formula's). Optional.
        composite: ``composite(*operands, *params)``, the unreduced loss of a loss torch
            composes from ops, written with lossgrad ops op for op (so autograd of it is
            torch's backward). `apply` then takes the operands unpromoted and reduces this in
            place of the fused op where that cannot reproduce torch's ops (`_fused_operands`):
            an operand that is not floating point (torch's integer arithmetic and dtypes),
            float16 ones (each op rounding in float16), or one that requires grad and is
            broadcast (torch's backward sums its gradient over the broadcast dims between its
            ops, which moves roundings, overflows and NaN). Optional.
        work: the kernel's cost per element relative to a few arithmetic passes (default 1):
            the driver splits a loss over the thread pool from ``MIN_PARALLEL / work``
            elements, so a kernel of exponentials and logarithms, which pays for a second thread
            on fewer elements, says 2 (benchmarks/NOTES.md).
    """

    node: str | Callable[..., str]
    block: Callable[..., np.ndarray]
    derivatives: Callable[..., tuple[Tensor | None, ...]] | None = None
    gradients: Callable[..., tuple[Tensor | None, ...]] | None = None
    composite_gradients: Callable[..., tuple[Tensor | None, ...]] | None = None
    block_sum: Callable[..., Any] | None = None
    sum_applies_scale: bool = False
    antisymmetric: bool = False
    dldx_factor: Callable[..., float] | None = None
    half: Callable[..., Tensor] | None = None
    composite: Callable[..., Tensor] | None = None
    work: float = 1.0


def scratch(like: np.ndarray, slot: int) -> np.ndarray:
    """A temporary for a kernel: a per-thread buffer of ``like``'s size and dtype (contents
    undefined); ``slot`` (1 to 6) tells apart the buffers a kernel uses at the same time."""
    return _parallel.scratch(like.size, like.dtype, slot)


def apply(
    spec: Pointwise,
    operands: Sequence[Tensor | None],
    reduction: str,
    params: tuple[Any, ...] = (),
) -> Tensor:
    """The loss ``spec`` of ``operands`` (Tensors of one float dtype, which broadcast together;
    the first one's dtype is the loss's; for a spec with a ``composite``, Tensors of any
    dtypes), reduced by ``reduction`` (``'none'``, ``'sum'``, ``'mean'`` or ``'batchmean'``),
    with parameters ``params``."""
    if spec.composite is not None:
        fused = _fused_operands(operands)
        if fused is None:
            return _reduction.apply(spec.composite(*operands, *params), reduction)
        operands = fused
    node = spec.node if type(spec.node) is str else spec.node(reduction, *params)
    cls = _LOSS_CLASSES.get(node) or _loss_class(node)
    shape = operands[0]._data.shape
    for other in operands:
        if other is not None and other._data.shape != shape:
            operands = _broadcast(operands)
            break
    return cls.apply(*operands, (spec, reduction, params))  # one constant: a cheaper recording


def by_reduction(unreduced: str | Callable[..., str]) -> Callable[..., str]:
    """The ``node`` of a loss torch composes from ops, named after its last op: ``unreduced``
    for ``'none'`` (a name, or a function of the loss's parameters giving it), else
    ``MeanBackward0``, ``SumBackward0`` or, for ``'batchmean'``, ``DivBackward0``."""
    names = {"mean": "MeanBackward0", "sum": "SumBackward0", "batchmean": "DivBackward0"}
    if isinstance(unreduced, str):
        names["none"] = unreduced
        return lambda reduction, *params: names[reduction]
    return lambda reduction, *params: names.get(reduction) or unreduced(*params)


def _fused_operands(operands: Sequence[Tensor]) -> list[Tensor] | None:
    """The operands of a spec with a ``composite``, promoted to one dtype for its fused op;
    None where torch's composite must compute the loss (see `Pointwise`): an operand that is not
    floating point, float16 ones, or a broadcast operand that requires grad."""
    dtype, promoted = promote(*operands)
    if dtype.char == "e":  # float16
        return None
    first_shape, broadcast = operands[0]._data.shape, False
    for t in operands:  # (plain loops: this runs on every call of such a loss)
        if t._data.dtype.kind != "f":
            return None
        broadcast = broadcast or t._data.shape != first_shape
    if broadcast:
        shape = _checks.broadcast_shape(*operands)
        for t in operands:
            if t.requires_grad and t._data.shape != shape:
                return None
    return promoted


def _broadcast(operands: Sequence[Tensor | None]) -> Sequence[Tensor | None]:
    """The operands expanded (no copy) to their common shape."""
    from lossgrad.ops.shape import expand

    shape = _checks.broadcast_shape(*operands)
    return [t if t is None or t._data.shape == shape else expand(t, shape) for t in operands]


_LOSS_CLASSES: dict[str, type[ArrayFunction]] = {}


def _loss_class(node: str) -> type[ArrayFunction]:
    """The op class whose nodes are named ``node`` (one per name, shared by the specs)."""
    cls = _LOSS_CLASSES.get(node)
    if cls is None:
        cls = _LOSS_CLASSES[node] = type(
            f"_Pointwise_{node}", (_PointwiseLoss,), {"node_name": node}
        )
    return cls


def _flat(a: np.ndarray | None) -> np.ndarray | None:
    """``a`` as a flat C-contiguous array (a copy only when it is strided or broadcast)."""
    if a is None:
        return None
    return a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1)


def _kept_gradient(ctx: Any, spec: Pointwise, like: np.ndarray, count: int) -> np.ndarray | None:
    """The flat array the forward writes ∂l/∂x into for the first-order backward (kept on
    ``ctx.kept``), or None when that array alone cannot give the gradients the graph needs: no
    gradient at all, or one of an operand whose derivative is not ``±dldx``."""
    needs = ctx.needs_input_grad
    own = needs[1] and not spec.antisymmetric
    if not (needs[0] or needs[1]) or own or any(needs[2:count]):
        return None
    ctx.kept = np.empty(like.shape, like.dtype)
    return ctx.kept.reshape(-1)


def _run_block(
    spec: Pointwise,
    blocks: list[np.ndarray | None],
    params: tuple[Any, ...],
    loss: np.ndarray,
    dldx: np.ndarray,
    scale: Any,
    accumulate: np.dtype | None,
) -> Any:
    """One block of a pointwise loss: the kernel on the operands' ``blocks``, its loss into
    ``loss`` and ∂l/∂x into ``dldx`` (times ``scale`` unless None); returns the block's total in
    ``accumulate`` (None: an unreduced loss, nothing returned)."""
    block_sum = spec.block_sum if accumulate is not None and loss.dtype.char in "fd" else None
    total = None
    if block_sum is not None:
        scaled = (scale,) if spec.sum_applies_scale else ()
        total = block_sum(*blocks, *params, loss, dldx, *scaled)
        if total is not None and type(total) is not accumulate.type:  # type: ignore[union-attr]
            total = accumulate.type(total)  # type: ignore[union-attr]
        scale = None if scaled and total is not None else scale
    if total is None:  # no block sum, or none this time: the kernel
        result = spec.block(*blocks, *params, loss, dldx)
        if accumulate is None:
            if result is not loss:
                loss[...] = result
        elif accumulate == loss.dtype:
            total = _parallel.total(result)
        else:
            total = result.sum(dtype=accumulate)  # float16: added in float32
    if scale is not None:  # the gradient for an upstream 1, while the block is in cache
        np.multiply(dldx, scale, out=dldx)
    return total


def _half_value(
    spec: Pointwise, operands: list[np.ndarray | None], params: tuple[Any, ...], reduction: str
) -> np.ndarray | None:
    """The loss of float16 operands by the spec's ``half`` formula (ops rounding in float16 as
    torch's do), reduced; None for other dtypes or a spec without one."""
    if spec.half is None or operands[0].dtype != np.float16:  # type: ignore[union-attr]
        return None
    unreduced = spec.half(*[a if a is None else Tensor._make(a) for a in operands], *params)
    return _reduction.reduce_array(unreduced._data, reduction)


class _PointwiseLoss(ArrayFunction):
    """The op of every pointwise loss: ``apply(*operands, (spec, reduction, params))``."""

    @staticmethod
    def forward(ctx: Any, *args: Any) -> np.ndarray:
        operands = args[:-1]
        spec, reduction, params = args[-1]
        ctx.save_for_backward(*operands)
        ctx.spec, ctx.params = spec, params
        first = operands[0]
        shape, dtype, size = first.shape, first.dtype, first.size
        divisor = ctx.divisor = _reduction.divisor(reduction, shape, size)
        half = _half_value(spec, operands, params, reduction)
        if half is not None:  # no kept gradient: the backward takes the ops formula
            return half
        flat = [
            a if a is None or a.ndim == 1 and a.flags.c_contiguous else _flat(a) for a in operands
        ]
        kept = _kept_gradient(ctx, spec, first, len(operands))
        if kept is None or (divisor is None and spec.dldx_factor is None):
            scale = None
        else:
            factor = 1.0 if spec.dldx_factor is None else spec.dldx_factor(*params)
            scale = _reduction.kept_scale(dtype, divisor, factor)
        accumulate = None if divisor is None else _reduction.accumulation_dtype(dtype)
        out = np.empty(shape, dtype) if divisor is None else None
        work = int(size * spec.work)
        if work < _parallel.MIN_PARALLEL:  # one block, on this thread
            dldx = _parallel.scratch(size, dtype, GRAD_SLOT) if kept is None else kept
            loss = _parallel.scratch(size, dtype, LOSS_SLOT) if out is None else out.reshape(-1)
            total = _run_block(spec, flat, params, loss, dldx, scale, accumulate)
        else:
            loss_flat = None if out is None else out.reshape(-1)

            def run(lo: int, hi: int) -> Any:
                blocks = [None if a is None else a[lo:hi] for a in flat]
                dldx = _parallel.scratch(hi - lo, dtype, GRAD_SLOT) if kept is None else kept[lo:hi]
                loss = (
                    _parallel.scratch(hi - lo, dtype, LOSS_SLOT)
                    if loss_flat is None
                    else loss_flat[lo:hi]
                )
                return _run_block(spec, blocks, params, loss, dldx, scale, accumulate)

            block = _parallel.wide_block(size)
            if out is None:
                total = _parallel.block_sum(run, size, accumulate, block, work)
            else:
                _parallel.map_blocks(run, size, block, work)
        if out is not None:
            return out
        if spec.composite_gradients is not None and not math.isfinite(total):
            ctx.kept = None  # an overflow: torch's composite backward, its upstream in its place
        return _reduction.divide_total(total, divisor, dtype, reduction)

    @staticmethod
    def backward_array(ctx: Any, upstream: np.ndarray) -> tuple[Any, ...]:
        """The first-order backward: the kept ∂l/∂x times the upstream gradient (and its
        negation for an antisymmetric loss's second operand); without one, `backward`. An
        unreduced loss torch composes from ops takes `backward` too where the product is not
        finite: the composite's order of operations decides where an overflow falls."""
        kept = _kept.take(ctx)
        if kept is None:
            return backward_via_tensors(ctx, upstream)
        dldx = _kept.times_upstream(kept, upstream, reduced=ctx.divisor is not None)
        composite = ctx.spec.composite_gradients is not None and ctx.divisor is None
        if composite and not math.isfinite(_parallel.total(dldx.reshape(-1))):
            return backward_via_tensors(ctx, upstream)
        needs = ctx.needs_input_grad
        absent = (None,) * (len(needs) - 2)
        if not needs[0]:
            return (None, np.negative(dldx, out=dldx), *absent)
        return (dldx, np.negative(dldx) if needs[1] else None, *absent)

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Any, ...]:
        """The spec's ops formula times the upstream gradient (recorded under create_graph)."""
        operands, spec, needs = ctx.saved_tensors, ctx.spec, ctx.needs_input_grad
        if spec.gradients is not None:
            grads = spec.gradients(upstream, ctx.divisor, *operands, *ctx.params)
            grads = [g if need else None for g, need in zip(grads, needs, strict=False)]
        elif spec.composite_gradients is not None:
            grad = _reduction.divide_grad(upstream, ctx.divisor)
            grads = spec.composite_gradients(grad, *operands, *ctx.params)
            grads = [g if need else None for g, need in zip(grads, needs, strict=False)]
        else:
            scale = _reduction.divide_grad(upstream, ctx.divisor)
            grads = [
                mul(d, scale) if need and d is not None else None
                for d, need in zip(spec.derivatives(*operands, *ctx.params), needs, strict=False)
            ]
        return (*grads, *([None] * (len(needs) - len(grads))))


def scratches(like: np.ndarray, count: int) -> tuple[np.ndarray, ...]:
    """``count`` temporaries for a kernel: `scratch` slots 1 to ``count``."""
    return tuple(scratch(like, slot) for slot in range(1, count + 1))


def weighted(
    block: Callable[..., np.ndarray],
    derivatives: Callable[..., tuple[Tensor | None, ...]] | None = None,
    half: Callable[..., Tensor] | None = None,
) -> dict[str, Callable[..., Any]]:
    """The ``block`` (and ``derivatives``, ``half``) of a spec whose last operand is an
    elementwise weight (None for none) that multiplies the loss as torch's kernels do
    (``loss.mul_(weight)`` once the loss is computed), from those of the unweighted loss (of
    no parameters): the loss and ∂l/∂x, the derivatives (None for the weight's) and the
    float16 loss, each times the weight. Pass as ``Pointwise(..., **weighted(block, ...))``."""

    def weighted_block(*args: Any) -> np.ndarray:
        *operands, weight, loss, dldx = args
        loss = block(*operands, loss, dldx)
        if weight is not None:
            loss *= weight
            dldx *= weight
        return loss

    def weighted_derivatives(*operands: Any) -> tuple[Tensor | None, ...]:
        *operands, weight = operands
        found = derivatives(*operands)  # type: ignore[misc]
        return (*(d if weight is None or d is None else mul(d, weight) for d in found), None)

    def weighted_half(*operands: Any) -> Tensor:
        *operands, weight = operands
        loss = half(*operands)  # type: ignore[misc]
        return loss if weight is None else mul(loss, weight)

    found: dict[str, Callable[..., Any]] = {"block": weighted_block}
    if derivatives is not None:
        found["derivatives"] = weighted_derivatives
    if half is not None:
        found["half"] = weighted_half
    return found


def factored(
    factors: Callable[..., tuple[np.ndarray, np.ndarray]],
) -> dict[str, Callable[..., Any]]:
    """The ``block`` and ``block_sum`` of a spec whose loss is the product of two factors:
    ``factors(*operands, *params, dldx)`` returns them for one block and writes ∂l/∂x into
    ``dldx``; the block is their product, its sum their dot product (no product array).
    Pass as ``Pointwise(..., **factored(factors))``."""

    def block(*args: Any) -> np.ndarray:
        *inputs, loss, dldx = args
        return np.multiply(*factors(*inputs, dldx), out=loss)

    def block_sum(*args: Any) -> Any:
        *inputs, _, dldx = args
        return _parallel.total(*factors(*inputs, dldx))

    return {"block": block, "block_sum": block_sum}
