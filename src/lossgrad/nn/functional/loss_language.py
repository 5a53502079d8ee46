"""Losses for language models: the linear head and cross-entropy in one (``linear_cross_entropy``).

``linear_cross_entropy(input, linear_weight, target)`` is ``cross_entropy(linear(input,
linear_weight), target)``: torch 2.13's function, with its signature and its two paths.

* ``options=None`` (the reference path) is literally that composition, so every target kind,
  ``weight``, ``ignore_index``, ``label_smoothing``, K-dimensional ``out_features`` and reduction
  behave as ``cross_entropy`` does, with first and second derivatives.
* ``options=LinearCrossEntropyOptions(...)`` (the chunked path) never holds the ``N x V`` logits
  or their gradient: rows are processed ``batch_chunk_size`` at a time. For the scalar
  reductions the gradient is made in the forward, chunk by chunk, as torch's chunked path does
  (``_ChunkedHeadTotal``: three matrix products per chunk); for ``'none'`` and the extra outputs
  the forward keeps only the log-sum-exp terms and the backward recomputes each block's softmax
  (``_ChunkedHead``). Unlike torch's chunked path (silently first-order), when a graph is
  recorded lossgrad's backward differentiates the definition written with lossgrad ops, so
  ``create_graph=True`` and ``gradgradcheck`` work here too. The cases torch's chunked path
  does not cover (K-dimensional ``out_features``, ``label_smoothing != 0``, non-int64 or
  probability targets) fall back to the reference path with torch's warning.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from lossgrad import _dtype, _parallel
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad as autograd_grad
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _kept, _reduction
from lossgrad.nn.functional._checks import check_same_shapes
from lossgrad.nn.functional._fused import fused, fused_inputs
from lossgrad.nn.functional.loss_classification import cross_entropy
from lossgrad.ops.activation import log_softmax, logsigmoid, relu, softmax
from lossgrad.ops.index import index_select, sort
from lossgrad.ops.linalg import linear, matmul
from lossgrad.ops.pointwise import abs as abs_
from lossgrad.ops.pointwise import (
    add,
    clamp,
    div,
    exp,
    expm1,
    log,
    minimum,
    mul,
    neg,
    rsub,
    sigmoid,
    square,
    sub,
    tanh,
    where,
)
from lossgrad.ops.reduce import logsumexp
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import cat, reshape, squeeze, stack, t, unsqueeze

_ACC_POLICIES = ("accurate", "balanced", "compact", "auto")


@dataclasses.dataclass(slots=True, frozen=True)
class LinearCrossEntropyOptions:
    """Options of ``linear_cross_entropy``'s chunked path (torch's ``LinearCrossEntropyOptions``).

    Passing an instance (even ``LinearCrossEntropyOptions()``) selects the chunked path. The
    fields and their validation are torch's. The chunk size is resolved as torch resolves it on
    a CPU float32/float64 input: ``chunking_method='auto'`` means ``'aspect_ratio:2'``, i.e.
    ``next_pow2(ceil(N / ceil(V / D))) // 2`` rows per chunk (capped at ``N``); an explicit
    ``batch_chunk_size`` disables the heuristic. With the default ``'auto'`` lossgrad takes at
    least ``D / 2`` rows per chunk (a ``chunk x V`` block half the head's size): each chunk's
    three matrix products re-read the whole ``V x D`` head (BLAS packs it again each time, and
    runs below half its speed on a few rows), so on the CPU tiny chunks cost time, up to twice
    as much, without lowering the peak much: the head's gradient, held anyway, is twice the
    block. ``acc_policy``, ``acc_dtype`` and ``allow_retain_graph`` are accepted and validated
    for compatibility: lossgrad accumulates in the input's dtype (what torch does for
    float32/float64 input) and keeps or recomputes from saved inputs, so ``retain_graph=True``
    always works.

    Example:
        >>> from lossgrad.nn import LinearCrossEntropyOptions
        >>> LinearCrossEntropyOptions(batch_chunk_size=256).batch_chunk_size
        256
    """

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: Literal["accurate", "balanced", "compact", "auto"] = "auto"
    acc_dtype: Any = None

    def __post_init__(self) -> None:
        if self.acc_policy not in _ACC_POLICIES:
            raise ValueError(f"invalid acc_policy: {self.acc_policy!r}")
        if self.chunking_method is not None and self.chunking_method != "auto":
            name, sep, factor = self.chunking_method.partition(":")
            factor = factor if sep else "1"
            if not (name == "aspect_ratio" and factor.isdigit() and int(factor) > 0):
                raise ValueError(f"invalid chunking_method: {self.chunking_method!r}")
        if not (
            self.batch_chunk_size is None
            or (isinstance(self.batch_chunk_size, int) and self.batch_chunk_size > 0)
        ):
            raise ValueError(
                f"batch_chunk_size must be positive int or None, got {self.batch_chunk_size!r}"
            )
        supported = (None, _dtype.float16, _dtype.float32, _dtype.float64)
        if self.acc_dtype not in supported:
            raise ValueError(
                "acc_dtype must be one of {None, torch.float16, torch.float32, torch.float64}, "
                f"got {self.acc_dtype!r}. Pass acc_dtype=None to let the op pick automatically."
            )

    def rows_per_chunk(self, num_batches: int, in_features: int, num_classes: int) -> int:
        """The number of rows each chunk holds, resolved as torch does on the CPU."""
        method = self.chunking_method
        if method == "auto":
            method = None if self.batch_chunk_size is not None else "aspect_ratio:2"
        if self.batch_chunk_size is None:
            chunk = num_batches
        else:
            chunk = min(self.batch_chunk_size, num_batches)
        if method is not None:
            factor = int(method.partition(":")[2] or 1)
            rows_per_class_block = -(-num_batches // -(-num_classes // in_features))
            chunk = min((1 << (rows_per_class_block - 1).bit_length()) // factor, num_batches)
            if self.batch_chunk_size is not None and self.batch_chunk_size != chunk:
                raise ValueError(
                    f"batch_chunk_size (={self.batch_chunk_size}) and chunking_method "
                    f"('{method}') give different chunk sizes ({self.batch_chunk_size} vs "
                    f"{chunk}); pass only one."
                )
        return max(1, chunk)


def _row_chunks(num_rows: int, chunk: int) -> range:
    return range(0, num_rows, chunk)


def _chunk_logits(
    input: np.ndarray, linear_weight: np.ndarray, bias: Any, softcap: Any, scratch: Any = None
) -> np.ndarray:
    """``c tanh((input W^T + b) / c)`` for one block (``softcap`` ``c``; None: no capping),
    written into the front of the flat buffer ``scratch`` when given (one block's memory is
    reused from chunk to chunk instead of a new block allocated while the last is alive)."""
    out = None
    if scratch is not None:
        size = input.shape[0] * linear_weight.shape[0]
        out = scratch[:size].reshape(input.shape[0], linear_weight.shape[0])
    logits = np.matmul(input, linear_weight.T, out=out)
    if bias is not None:
        logits += bias
    if softcap is not None:
        np.multiply(
            np.tanh(np.divide(logits, softcap, out=logits), out=logits), softcap, out=logits
        )
    return logits


def _log_sum_exp_rows(logits: np.ndarray) -> np.ndarray:
    """``log sum_c exp(logits[:, c])`` with the row maximum shifted out (finite rows); the
    exponentials overwrite ``logits``."""
    row_max = logits.max(axis=1, keepdims=True)
    row_max[~np.isfinite(row_max)] = 0
    total = np.exp(np.subtract(logits, row_max, out=logits), out=logits).sum(axis=1, keepdims=True)
    return (np.log(total) + row_max)[:, 0]


def _scratch(rows: int, columns: int, dtype: Any) -> np.ndarray:
    """A flat buffer for blocks of at most ``rows x columns`` elements."""
    return np.empty(rows * columns, dtype)


def _cap_slope(capped: np.ndarray, softcap: float, scratch: np.ndarray) -> np.ndarray:
    """``1 - (z / c)**2``, the cap's slope, from the capped logits ``z``, into ``scratch``."""
    slope = scratch[: capped.size].reshape(capped.shape)
    np.square(np.divide(capped, softcap, out=slope), out=slope)
    return np.subtract(1, slope, out=slope)


class _SoftCap(ArrayFunction):
    """Gemma 2's logit soft-capping ``c tanh(z / c)`` as one op, in blocks (`_parallel.map_blocks`;
    the composite's three passes and three full-size arrays, and four more in its backward,
    were a quarter of ``cross_entropy(..., softcap=c)``'s time). The same values as the
    composite ``mul(tanh(div(z, c)), c)``, and as its gradient ``((g c)(1 - t**2)) / c`` with
    ``t = tanh(z / c)`` kept (torch's tanh backward between its mul and div), bit for bit; a
    recorded backward differentiates the composite."""

    node_name = "SoftcapBackward"

    @staticmethod
    def forward(ctx: Any, logits: np.ndarray, softcap: float) -> np.ndarray:
        scaled_tanh, capped = np.empty(logits.shape, logits.dtype), np.empty_like(logits)
        flat_logits, flat_tanh, flat_capped = (a.reshape(-1) for a in (logits, scaled_tanh, capped))

        def block(lo: int, hi: int) -> None:
            part = flat_tanh[lo:hi]
            np.tanh(np.divide(flat_logits[lo:hi], softcap, out=part), out=part)
            np.multiply(part, softcap, out=flat_capped[lo:hi])

        _parallel.map_blocks(block, logits.size, _parallel.wide_block(logits.size))
        ctx.save_for_backward(logits, scaled_tanh)
        ctx.softcap = softcap
        return capped

    @staticmethod
    def backward_array(ctx: Any, upstream: np.ndarray) -> tuple[Any, ...]:
        _, scaled_tanh = ctx._saved_arrays()
        softcap, flat_tanh = ctx.softcap, scaled_tanh.reshape(-1)
        flat_upstream = np.ascontiguousarray(np.broadcast_to(upstream, scaled_tanh.shape)).reshape(
            -1
        )
        grad = np.empty(scaled_tanh.shape, scaled_tanh.dtype)
        flat_grad = grad.reshape(-1)

        def block(lo: int, hi: int) -> None:
            slope = _parallel.scratch(hi - lo, grad.dtype)
            np.subtract(1, np.multiply(flat_tanh[lo:hi], flat_tanh[lo:hi], out=slope), out=slope)
            part = np.multiply(flat_upstream[lo:hi], softcap, out=flat_grad[lo:hi])
            np.divide(np.multiply(part, slope, out=part), softcap, out=part)

        _parallel.map_blocks(block, grad.size, _parallel.wide_block(grad.size))
        return grad, None

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Any, ...]:
        logits, _ = ctx.saved_tensors
        capped = _softcap_composite(logits, ctx.softcap)
        return autograd_grad(capped, logits, upstream, create_graph=True)[0], None


def _softcap_composite(logits: Tensor, softcap: float) -> Tensor:
    return mul(tanh(div(logits, softcap)), softcap)


def _softcapped(logits: Tensor, softcap: Any) -> Tensor:
    if softcap is None:
        return logits
    if logits.dtype.itemsize < 4:  # float16 and bfloat16: the composite's rounding per op
        return _softcap_composite(logits, softcap)
    return _SoftCap.apply(logits, softcap)


class _ChunkedHead(ArrayFunction):
    """Per-row log-sum-exp ``lse_n`` and target logit ``z[n, y_n]`` of the logits ``z =
    cap(input W^T + b)`` (``cap(u) = c tanh(u / c)`` with ``softcap`` ``c``, or the identity),
    chunk by chunk; the cross-entropy of a token is ``lse_n - z[n, y_n]``.

    The forward runs over chunks of rows and keeps each row's log-sum-exp (and writes each row's
    argmax into ``predicted`` when given); the first-order backward runs over blocks of the
    vocabulary; both hold one block of ``chunk x V`` elements at a time. With the upstream
    gradients ``a_n`` (of ``lse``) and ``b_n`` (of the target logit), ``dL/dz = a softmax(z) +
    b onehot(y)``, times ``1 - (z / c)**2`` through the cap. ``backward`` (run when a graph is
    recorded) is the same gradient written with lossgrad ops, chunk by chunk, so autograd
    differentiates it again.
    """

    @staticmethod
    def forward(ctx: Any, input, linear_weight, bias, target, chunk, softcap, predicted):  # type: ignore[no-untyped-def]
        lse = np.empty(input.shape[0], input.dtype)
        target_logit = np.empty(input.shape[0], input.dtype)
        scratch = _scratch(min(chunk, input.shape[0]), linear_weight.shape[0], input.dtype)
        for start in _row_chunks(input.shape[0], chunk):
            rows = slice(start, start + chunk)
            logits = _chunk_logits(input[rows], linear_weight, bias, softcap, scratch)
            target_logit[rows] = logits[np.arange(logits.shape[0]), target[rows]]
            if predicted is not None:
                predicted[rows] = logits.argmax(axis=1)
            lse[rows] = _log_sum_exp_rows(logits)
        ctx.save_for_backward(input, linear_weight, bias)
        ctx.target, ctx.chunk, ctx.softcap, ctx.lse = target, chunk, softcap, lse
        return lse, target_logit

    @staticmethod
    def backward_array(
        ctx: Any, grad_lse: np.ndarray, grad_target_logit: np.ndarray
    ) -> tuple[Any, ...]:
        """The first-order gradient, block by block over the vocabulary: with the forward's
        log-sum-exp kept, each ``N x block`` slice of ``G = dL/dlogits`` gives its rows of
        ``dW = G^T input`` and ``db`` directly (no accumulation buffer the size of the head) and
        adds ``G W`` to ``dinput``; a block holds as many elements as a chunk."""
        input, linear_weight, bias = ctx._saved_arrays()
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        num_rows, num_classes = input.shape[0], linear_weight.shape[0]
        target, softcap = ctx.target, ctx.softcap
        grad_lse = grad_lse.astype(input.dtype, copy=False)[:, None]
        block = max(1, ctx.chunk * num_classes // max(num_rows, 1))
        grad_input = np.zeros_like(input) if need_input else None
        grad_weight = np.empty_like(linear_weight) if need_weight else None
        grad_bias = np.empty_like(bias) if need_bias else None
        rows = np.arange(num_rows)
        scratch = _scratch(num_rows, min(block, num_classes), input.dtype)
        slope_scratch = None if softcap is None else np.empty_like(scratch)
        for start in range(0, num_classes, block):
            columns = slice(start, start + block)
            column_bias = bias[columns] if bias is not None else None
            logits = _chunk_logits(input, linear_weight[columns], column_bias, softcap, scratch)
            cap_slope = None if softcap is None else _cap_slope(logits, softcap, slope_scratch)
            probs = np.exp(np.subtract(logits, ctx.lse[:, None], out=logits), out=logits)
            probs *= grad_lse
            hit = (target >= start) & (target < start + block)
            probs[rows[hit], target[hit] - start] += grad_target_logit[hit]
            if cap_slope is not None:
                probs *= cap_slope
            if need_weight:
                np.matmul(probs.T, input, out=grad_weight[columns])
            if need_bias:
                grad_bias[columns] = probs.sum(axis=0)
            if need_input:
                grad_input += probs @ linear_weight[columns]
        return grad_input, grad_weight, grad_bias, None, None, None, None

    @staticmethod
    def backward(ctx: Any, grad_lse: Tensor, grad_target_logit: Tensor) -> tuple[Any, ...]:
        input, linear_weight, bias = ctx.saved_tensors
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        num_classes = linear_weight.shape[0]
        input_chunks, grad_weight, grad_bias = [], None, None
        for start in _row_chunks(input.shape[0], ctx.chunk):
            rows = slice(start, start + ctx.chunk)
            input_rows = input[rows]
            target_rows = ctx.target[rows]
            one_hot = np.zeros((target_rows.size, num_classes), input_rows._data.dtype)
            one_hot[np.arange(target_rows.size), target_rows] = 1
            raw_logits = linear(input_rows, linear_weight, bias)
            probs = softmax(_softcapped(raw_logits, ctx.softcap), 1)
            grad_logits = add(
                mul(probs, unsqueeze(grad_lse[rows], 1)),
                mul(Tensor._make(one_hot), unsqueeze(grad_target_logit[rows], 1)),
            )
            if ctx.softcap is not None:
                cap_slope = rsub(square(tanh(div(raw_logits, ctx.softcap))), 1.0)
                grad_logits = mul(grad_logits, cap_slope)
            if need_input:
                input_chunks.append(matmul(grad_logits, linear_weight))
            if need_weight:
                chunk_weight = matmul(t(grad_logits), input_rows)
                grad_weight = chunk_weight if grad_weight is None else grad_weight + chunk_weight
            if need_bias:
                chunk_bias = _sum(grad_logits, 0)
                grad_bias = chunk_bias if grad_bias is None else grad_bias + chunk_bias
        grad_input = cat(input_chunks) if need_input else None
        return grad_input, grad_weight, grad_bias, None, None, None, None


def _add_transposed_product(
    out: np.ndarray, left: np.ndarray, right: np.ndarray, first: bool
) -> None:
    """``out (+)= left^T right`` a block of ``out``'s rows at a time (a small temporary instead
    of one the size of ``out``; the addition split over the thread pool)."""
    if first:
        np.matmul(left.T, right, out=out)
        return
    block = max(1, (1 << 21) // max(right.shape[1], 1))
    scratch = np.empty((min(block, out.shape[0]), right.shape[1]), out.dtype)
    for start in range(0, out.shape[0], block):
        target = out[start : start + block]
        product = scratch[: target.shape[0]]
        np.matmul(left[:, start : start + block].T, right, out=product)

        def add(
            lo: int, hi: int, target: np.ndarray = target, product: np.ndarray = product
        ) -> None:
            np.add(target[lo:hi], product[lo:hi], out=target[lo:hi])

        _parallel.map_rows(add, *target.shape)


def _kept_grads_times(ctx: Any, grad: np.ndarray) -> list[Any]:
    """The gradients a head's forward kept (``ctx.kept_grads``) times the scalar ``grad``: in
    place on the node's last use, on copies while the graph is retained (as ``_kept.take``)."""
    ctx._saved_arrays()  # torch's errors for a freed graph or an input modified in place
    kept, last_use = ctx.kept_grads, ctx.last_use
    if last_use:
        ctx.kept_grads = None
    return [
        None
        if array is None
        else _kept.times_upstream(array if last_use else array.copy(), grad, True)
        for array in kept
    ]


class _HeadTotal(ArrayFunction):
    """A scalar loss of a head's three operands (input, weight, bias; then three constants)
    whose forward made its first-order gradients and kept them as ``ctx.kept_grads``: the
    backward scales them by the upstream gradient (`_kept_grads_times`). With a graph recorded
    it differentiates ``ctx.composite(input, weight, bias)``, the loss's definition in ops, so
    second derivatives work."""

    @staticmethod
    def backward_array(ctx: Any, grad: np.ndarray) -> tuple[Any, ...]:
        return (*_kept_grads_times(ctx, grad), None, None, None)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        inputs = ctx.saved_tensors
        with grad_mode.enable_grad():
            loss = ctx.composite(*inputs)
            grads = _kept.definition_grads(loss, inputs, ctx.needs_input_grad[:3], grad)
        return (*grads, None, None, None)


#: The names of the nodes torch's chunked ``linear_cross_entropy`` returns (a custom operator's
#: generated backward): lossgrad's chunked results carry them too.
_TORCH_CHUNKED_NODE = "GeneratedBackwardFor_torch_nn__linear_cross_entropy_batch_chunked_default"


class _ChunkedResult(ArrayFunction):
    """The identity, as the node torch's chunked path returns with ``'mean'`` and ``'sum'``:
    for a result of lossgrad's ops (a class weight that requires grad)."""

    node_name = _TORCH_CHUNKED_NODE + "Backward"

    @staticmethod
    def forward(ctx: Any, result: np.ndarray) -> np.ndarray:
        return result.view()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad

    @staticmethod
    def backward_array(ctx: Any, grad: np.ndarray) -> np.ndarray:
        return grad


class _ChunkedNoReduction(_ChunkedResult):
    """The same with ``'none'``."""

    node_name = _TORCH_CHUNKED_NODE.replace("chunked_default", "chunked_no_reduction_default") + (
        "Backward"
    )


class _ChunkedHeadTotal(_HeadTotal):
    """The scalar chunked loss ``sum_n p_n (c_n (lse_n - z[n, y_n]) + s e_n lse_n**2)`` of the
    logits ``z = cap(input W^T + b)``, with the token coefficients ``c`` (class weight over the
    'mean' denominator, 0 for ignored tokens), ``e`` (the z-loss's) and ``p_n`` the detached
    target probability with token scaling (else 1).

    For the scalar reductions the gradient is computed inside the forward, as torch's chunked
    path and Liger do: each chunk's logits are made once, turned into their gradient ``G = (c +
    2 s e lse) softmax(z) - c onehot(y)`` (times ``p`` and the cap's slope) in place, and give
    ``G W`` and ``G^T input`` at once; the backward scales them by the upstream gradient. Three
    matrix products per chunk instead of the four of a forward that recomputes in the backward,
    over the tokens of a nonzero coefficient only (the logits of an ignored token are never
    made). ``backward`` (a graph recorded) differentiates the composite definition
    (``_ChunkedHead`` and ops) instead, so second derivatives work.
    """

    node_name = _TORCH_CHUNKED_NODE + "Backward"

    @staticmethod
    def forward(ctx: Any, input, linear_weight, bias, target, coefficients, settings):  # type: ignore[no-untyped-def]
        chunk, softcap, lse_square_scale, use_token_scaling = settings
        token_coefficient, z_coefficient = coefficients
        z_coefficient = lse_square_scale * z_coefficient
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        keep = need_input or need_weight or need_bias
        # a token of coefficients 0 (ignored) adds 0 to the loss and every gradient: no logits
        kept = np.flatnonzero((token_coefficient != 0) | (z_coefficient != 0))
        every_row = kept.size == input.shape[0]
        kept_input = input if every_row else input[kept]
        grad_input = None
        if need_input:
            grad_input = np.empty_like(input) if every_row else np.zeros_like(input)
        grad_weight = None
        if need_weight:
            grad_weight = (
                np.empty_like(linear_weight) if kept.size else np.zeros_like(linear_weight)
            )
        grad_bias = np.zeros_like(bias) if need_bias else None
        total = np.zeros((), input.dtype)
        scratch = _scratch(min(chunk, kept.size), linear_weight.shape[0], input.dtype)
        for start in _row_chunks(kept.size, chunk):
            rows = slice(start, start + chunk)
            logits = _chunk_logits(kept_input[rows], linear_weight, bias, softcap, scratch)
            weights = token_coefficient[kept[rows]], z_coefficient[kept[rows]]
            total += _head_total_rows(
                logits, target[kept[rows]], weights, (softcap, use_token_scaling), keep
            )
            if not keep:
                continue
            if need_input:  # G W as (W^T G^T)^T: OpenBLAS threads G W's long inner dimension badly
                grad_input[rows if every_row else kept[rows]] = np.matmul(
                    linear_weight.T, logits.T
                ).T
            if need_weight:
                _add_transposed_product(grad_weight, logits, kept_input[rows], start == 0)
            if need_bias:
                grad_bias += logits.sum(axis=0)
        ctx.save_for_backward(input, linear_weight, bias)
        ctx.composite = functools.partial(_head_total_definition, target, coefficients, settings)
        ctx.kept_grads = grad_input, grad_weight, grad_bias
        return total


def _head_total_rows(logits, target, weights, settings, keep):  # type: ignore[no-untyped-def]
    """``sum_n p_n (c_n (lse_n - z[n, y_n]) + e_n lse_n**2)`` of a chunk's logits ``z``
    (``weights``: ``c`` and ``e``, the z-loss's scale included; ``p_n`` the target probability
    with token scaling, else 1); with ``keep`` the logits turn in place into their gradient ``G
    = (c + 2 e lse) softmax(z) - c onehot(y)`` (times ``p`` and the cap's slope). Blocks of rows
    on the thread pool: every pass over a block runs while it is in the core's cache (one pass
    over the chunk from memory instead of four)."""
    softcap, use_token_scaling = settings
    token_weight, z_weight = weights

    def rows(lo: int, hi: int) -> Any:
        block = logits[lo:hi]
        index = np.arange(hi - lo), target[lo:hi]
        target_logit = block[index]
        cap_slope = None
        if keep and softcap is not None:
            cap_slope = _cap_slope(block, softcap, _parallel.scratch(block.size, block.dtype))
        row_max = block.max(axis=1)
        row_max[~np.isfinite(row_max)] = 0
        exps = np.exp(np.subtract(block, row_max[:, None], out=block), out=block)
        sums = exps.sum(axis=1)
        lse = np.log(sums) + row_max
        weight_nll, weight_z = token_weight[lo:hi], z_weight[lo:hi]
        if use_token_scaling:
            prob = np.exp(target_logit - lse)
            weight_nll, weight_z = weight_nll * prob, weight_z * prob
        part = np.dot(weight_nll, lse - target_logit) + np.dot(weight_z, lse * lse)
        if keep:
            np.multiply(exps, ((weight_nll + 2 * weight_z * lse) / sums)[:, None], out=exps)
            exps[index] -= weight_nll
            if cap_slope is not None:
                exps *= cap_slope
        return part

    return sum(_parallel.map_rows(rows, logits.shape[0], logits.shape[1]))


def _head_total_definition(target, coefficients, settings, input, linear_weight, bias):  # type: ignore[no-untyped-def]
    """``_ChunkedHeadTotal``'s loss in ops, through ``_ChunkedHead`` (its create_graph path)."""
    chunk, softcap, lse_square_scale, use_token_scaling = settings
    token_coefficient, z_coefficient = (Tensor._make(c) for c in coefficients)
    log_sum_exp, target_logit = _ChunkedHead.apply(
        input, linear_weight, bias, target, chunk, softcap, None
    )
    per_token = add(
        mul(sub(log_sum_exp, target_logit), token_coefficient),
        mul(square(log_sum_exp), mul(z_coefficient, lse_square_scale)),
    )
    if use_token_scaling:
        per_token = mul(per_token, Tensor._make(np.exp(target_logit._data - log_sum_exp._data)))
    return _sum(per_token)


class CrossEntropyOutput(NamedTuple):
    """What ``cross_entropy`` / ``linear_cross_entropy`` return when asked for the z-loss or the
    token accuracy."""

    loss: Tensor
    z_loss: Tensor | None
    token_accuracy: Tensor | None


class _Extras(NamedTuple):
    """lossgrad's language-model options of ``cross_entropy`` and ``linear_cross_entropy``."""

    lse_square_scale: float = 0.0
    softcap: float | None = None
    return_z_loss: bool = False
    return_token_accuracy: bool = False
    use_token_scaling: bool = False

    def check(self, target: Tensor) -> None:
        if self.softcap is not None and not self.softcap > 0:
            raise ValueError(f"softcap must be a positive number or None, got {self.softcap}")
        if not math.isfinite(self.lse_square_scale):
            raise ValueError(f"lse_square_scale must be finite, got {self.lse_square_scale}")
        if target.dtype.is_floating_point:
            raise TypeError(
                "lse_square_scale, softcap, return_z_loss, return_token_accuracy and "
                "use_token_scaling need class-index (int64) targets, got target of dtype "
                f"{target.dtype}"
            )


_NO_EXTRAS = _Extras()


def _total_with_extras(
    token_losses, denominator, log_sum_exp, valid, correct, target_prob, reduction, extras
):  # type: ignore[no-untyped-def]
    """Reduce the per-token cross-entropy ``token_losses`` (class-weighted: 'mean' divides by
    ``denominator``) plus the z-loss ``s lse**2`` (not class-weighted: 'mean' divides by the
    number of tokens not ignored), both times the detached target probability with
    ``use_token_scaling``; Liger-Kernel's conventions."""
    valid_tensor = Tensor._make(valid)
    z_loss = where(valid_tensor, mul(square(log_sum_exp), extras.lse_square_scale), 0.0)
    if extras.use_token_scaling:
        scaling = Tensor._make(np.where(valid, target_prob, 0).astype(log_sum_exp._data.dtype))
        token_losses, z_loss = mul(token_losses, scaling), mul(z_loss, scaling)
    loss = _reduction.apply(token_losses, reduction, denominator=denominator)
    z_loss = _reduction.apply(z_loss, reduction, denominator=float(valid.sum()))
    if extras.lse_square_scale != 0.0:
        loss = add(loss, z_loss)
    if not (extras.return_z_loss or extras.return_token_accuracy):
        return loss
    accuracy = None
    if extras.return_token_accuracy:
        correct = Tensor._make((correct & valid).astype(log_sum_exp._data.dtype))
        accuracy = correct if reduction == "none" else div(_sum(correct), float(valid.sum()))
    return CrossEntropyOutput(loss, z_loss if extras.return_z_loss else None, accuracy)


def _target_weight(weight, target, valid, dtype):  # type: ignore[no-untyped-def]
    """``w[y_n]`` for the tokens not ignored, 0 for the others (1 for all kept when no weight)."""
    if weight is None:
        return Tensor._make(valid.astype(dtype))
    safe_target = Tensor._make(np.where(valid, target, 0).reshape(-1))
    picked = reshape(index_select(weight, 0, safe_target), valid.shape)
    return where(Tensor._make(valid), picked, 0.0)


def _cross_entropy_with_extras(
    input, target, weight, ignore_index, reduction, label_smoothing, extras
):  # type: ignore[no-untyped-def]
    """``cross_entropy`` with lossgrad's language-model options (composite ops, so first and
    second derivatives come from autograd): the logits ``input`` are soft-capped, the
    cross-entropy is torch's, the z-loss, token scaling and accuracy are added on top.
    ``extras``: the five options in ``_Extras``' order."""
    extras = _Extras(*extras)
    extras.check(target)
    logits = _softcapped(input, extras.softcap)
    token_losses = cross_entropy(
        logits,
        target,
        weight=weight,
        reduction="none",
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )
    class_dim = 1 if input.dim() >= 2 else 0
    labels = target._data.astype(np.int64)
    valid = labels != ignore_index
    safe_target = np.expand_dims(np.where(valid, labels, 0), class_dim)
    log_sum_exp = logsumexp(logits, class_dim)
    target_logit = np.take_along_axis(logits._data, safe_target, class_dim).squeeze(class_dim)
    with np.errstate(over="ignore", invalid="ignore"):
        target_prob = np.exp(target_logit - log_sum_exp._data)
    correct = np.argmax(logits._data, axis=class_dim) == labels
    denominator = _sum(_target_weight(weight, labels, valid, token_losses._data.dtype))
    return _total_with_extras(
        token_losses, denominator, log_sum_exp, valid, correct, target_prob, reduction, extras
    )


def _chunked(
    input, linear_weight, target, linear_bias, weight, reduction, ignore_index, options, extras
):  # type: ignore[no-untyped-def]
    """The chunked path: per-token log-sum-exp and target logit from ``_ChunkedHead``, then the
    cross-entropy, class weights, extras and the reduction with lossgrad ops (so ``weight`` is
    differentiable too)."""
    batched = input.dim() == 2
    if not batched and extras == _NO_EXTRAS:  # torch's order: a batch of one, then squeezed
        batch = (unsqueeze(input, 0), linear_weight, unsqueeze(target, 0), linear_bias, weight)
        return squeeze(_chunked(*batch, reduction, ignore_index, options, extras), 0)
    if not batched:
        input, target = unsqueeze(input, 0), unsqueeze(target, 0)
    num_batches, in_features = input.shape
    chunk = options.rows_per_chunk(num_batches, in_features, linear_weight.shape[0])
    if options.chunking_method == "auto" and options.batch_chunk_size is None:
        chunk = max(chunk, min(num_batches, in_features // 2))
    labels = target._data
    valid = labels != ignore_index
    safe_target = np.where(valid, labels, 0)
    scalar = reduction != "none" and not (extras.return_z_loss or extras.return_token_accuracy)
    if scalar and (weight is None or not weight.requires_grad):
        return _chunked_total(
            input,
            linear_weight,
            linear_bias,
            weight,
            valid,
            safe_target,
            reduction,
            (chunk, extras),
        )
    predicted = np.empty(num_batches, np.int64) if extras.return_token_accuracy else None
    log_sum_exp, target_logit = _ChunkedHead.apply(
        input, linear_weight, linear_bias, safe_target, chunk, extras.softcap, predicted
    )
    token_weight = _target_weight(weight, labels, valid, log_sum_exp._data.dtype)
    token_losses = mul(
        where(Tensor._make(valid), sub(log_sum_exp, target_logit), 0.0), token_weight
    )
    denominator = _sum(token_weight)
    if not batched:
        token_losses, log_sum_exp, target_logit = (
            squeeze(token_losses, 0),
            squeeze(log_sum_exp, 0),
            squeeze(target_logit, 0),
        )
        valid, labels = valid[0], labels[0]
        predicted = None if predicted is None else predicted[0]
    if extras == _NO_EXTRAS:
        total = _reduction.apply(token_losses, reduction, denominator=denominator)
        named = _ChunkedNoReduction if reduction == "none" else _ChunkedResult
        return named.apply(total) if total.requires_grad else total
    with np.errstate(over="ignore", invalid="ignore"):
        target_prob = np.exp(target_logit._data - log_sum_exp._data)
    return _total_with_extras(
        token_losses,
        denominator,
        log_sum_exp,
        valid,
        predicted == labels,
        target_prob,
        reduction,
        extras,
    )


def _chunked_total(
    input, linear_weight, linear_bias, weight, valid, safe_target, reduction, settings
):  # type: ignore[no-untyped-def]
    """The chunked path's scalar reductions through ``_ChunkedHeadTotal`` (gradient made in the
    forward). Every token ignored under 'mean' gives NaN (0 / 0) with a zero gradient, as the
    reference path."""
    chunk, extras = settings
    dtype = input._data.dtype
    token_weight = valid.astype(dtype)
    if weight is not None:
        token_weight *= weight._data[safe_target].astype(dtype)
    z_weight = valid.astype(dtype)
    empty = reduction == "mean" and token_weight.sum() == 0
    if reduction == "mean":
        token_weight /= 1 if empty else token_weight.sum()
        z_weight /= max(z_weight.sum(), 1)
    loss = _ChunkedHeadTotal.apply(
        input,
        linear_weight,
        linear_bias,
        safe_target,
        (token_weight, z_weight),
        (chunk, extras.softcap, extras.lse_square_scale, extras.use_token_scaling),
    )
    return add(loss, math.nan) if empty else loss


def _fallback_warning(reduction, label_smoothing, target, out_features, linear_bias) -> None:  # type: ignore[no-untyped-def]
    bias_shape = tuple(linear_bias.shape) if linear_bias is not None else None
    warnings.warn(
        "linear_cross_entropy: ``options`` ignored; chunked path needs "
        "reduction in {'mean','sum','none'}, label_smoothing == 0, target.dtype"
        " == int64, out_features == (). Got "
        f"reduction={reduction!r}, label_smoothing={label_smoothing}, "
        f"target.dtype={target.dtype}, out_features={tuple(out_features)}"
        f", tracing=False, linear_bias.shape={bias_shape}.",
        stacklevel=3,
    )


def _check_head(input, linear_weight, linear_bias) -> None:  # type: ignore[no-untyped-def]
    """torch's shape checks of ``linear_cross_entropy``'s hidden states, head and bias."""
    if input.dim() < 1 or input.dim() > 2:
        raise RuntimeError(f"expected input with dimensionality 1 or 2, got {input.dim()}")
    if linear_weight.dim() < 2:
        raise RuntimeError(
            f"expected linear_weight with dimensionality at least 2, got {linear_weight.dim()}"
        )
    num_batches = tuple(input.shape[:-1])
    in_features = input.shape[-1]
    if in_features != linear_weight.shape[-1]:
        raise RuntimeError(
            "expected equal input and linear_weight last dimensions (in_features), "
            f"got {input.shape[-1]} and {linear_weight.shape[-1]}, respectively"
        )
    num_classes = linear_weight.shape[0]
    out_features = tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (num_classes, *out_features):
        raise RuntimeError(
            f"expected linear_bias shape {(num_classes, *out_features)}, "
            f"got {tuple(linear_bias.shape)}"
        )
    if out_features and not num_batches:
        raise RuntimeError(
            f"K-dimensional loss defined by linear_weight shape {tuple(linear_weight.shape)} "
            f"requires batched input, (N, {in_features}), got unbatched input with shape "
            f"{tuple(input.shape)}"
        )


def linear_cross_entropy(
    input: Tensor,
    linear_weight: Tensor,
    target: Tensor,
    *,
    linear_bias: Tensor | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: LinearCrossEntropyOptions | None = None,
    lse_square_scale: float = 0.0,
    softcap: float | None = None,
    return_z_loss: bool = False,
    return_token_accuracy: bool = False,
    use_token_scaling: bool = False,
) -> Any:
    """Cross-entropy of the logits ``z = input @ linear_weight^T + linear_bias`` (torch 2.13).

    With ``z`` of shape ``(N, C, *out_features)`` this is ``cross_entropy(z, target, weight,
    ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)``; for class
    indices, per token::

        l_n = w[y_n] * (lse_n - z[n, y_n]),   lse_n = log sum_c exp(z[n, c])

    and ``'mean'`` divides by ``sum_n w[y_n]`` over the tokens not ignored. Gradient: with
    ``G[n, c] = g_n w[y_n] (softmax(z[n])_c - [c = y_n])``, ``dL/dinput = G W``,
    ``dL/dW = G^T input`` and ``dL/db = sum_n G[n]``.

    Two paths, as in torch: ``options=None`` builds the logits (the reference path);
    ``options=LinearCrossEntropyOptions(...)`` processes ``batch_chunk_size`` rows at a time and
    never holds the ``N x C`` logits or their gradient. Unlike torch's chunked path, lossgrad's
    supports second derivatives (``create_graph=True``). Configurations the chunked path does not
    cover (``out_features != ()``, ``label_smoothing != 0``, a target that is not int64) fall
    back to the reference path with torch's UserWarning.

    Args:
        input: hidden states ``(D)`` or ``(N, D)``.
        linear_weight: the head ``(C, D)`` or ``(C, d1, ..., dK, D)`` (K-dimensional loss).
        target: class indices (int64) ``()``, ``(N)`` or ``(N, d1, ..., dK)``; or class
            probabilities of the logits' shape.
        linear_bias: optional bias ``(C)`` or ``(C, d1, ..., dK)``.
        weight: optional per-class weight ``(C)``.
        reduction: ``'none'`` | ``'mean'`` | ``'sum'``. Default ``'mean'``.
        ignore_index: class index to skip; ``None`` means -100 for index targets and must stay
            ``None`` for probability targets.
        label_smoothing: in [0, 1]. Default 0.0.
        options: ``None`` (reference path) or ``LinearCrossEntropyOptions`` (chunked path).
        lse_square_scale: ``s`` of the z-loss ``s * lse_n**2`` (PaLM's auxiliary term) added to
            each token not ignored; lossgrad extension, default 0 (torch's behaviour).
        softcap: ``c`` of the logit soft-capping ``z <- c * tanh(z / c)`` (Gemma 2) applied
            before everything else; lossgrad extension, default None (off).
        return_z_loss: also return the z-loss term alone. lossgrad extension.
        return_token_accuracy: also return the fraction of tokens (not ignored) whose argmax
            logit is the target. lossgrad extension.
        use_token_scaling: multiply each token's loss (and z-loss) by the probability the
            model gives its target, detached (Liger's token scaling: a token-weighted loss).
            lossgrad extension, default False.

    Returns:
        A scalar, or the per-token loss for ``reduction='none'``. With ``return_z_loss`` or
        ``return_token_accuracy``: a ``CrossEntropyOutput(loss, z_loss, token_accuracy)``
        namedtuple (None for what was not asked).

    The extensions follow Liger-Kernel's ``LigerFusedLinearCrossEntropyLoss`` conventions: the
    z-loss is not scaled by ``weight``; under ``'mean'`` it is divided by the number of tokens
    not ignored, and the returned ``z_loss`` is reduced as the loss; the token accuracy is per
    token (0 for ignored tokens) under ``'none'`` and the mean over tokens not ignored
    otherwise. They apply to class-index targets, on both paths (the chunked path computes them
    chunk by chunk, second derivatives included); ``cross_entropy`` has the same options.

    Note:
        Every token ignored gives NaN for ``'mean'`` (0 / 0) and 0 for ``'sum'``, as in torch;
        the ``'none'`` entry of an ignored token is 0 with zero gradient.
        Reference: PyTorch 2.13 ``torch.nn.functional.linear_cross_entropy``; the chunked
        recomputation follows Wijmans et al., "Cut Your Losses in Large-Vocabulary Language
        Models" (2024).

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> hidden = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> head = torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
        >>> F.linear_cross_entropy(hidden, head, torch.tensor([0, 2]))
        tensor(0.6691)
        >>> opts = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=1)
        >>> F.linear_cross_entropy(hidden, head, torch.tensor([0, 2]), options=opts)
        tensor(0.6691)
    """
    _check_head(input, linear_weight, linear_bias)
    num_batches, in_features = tuple(input.shape[:-1]), input.shape[-1]
    num_classes, out_features = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    logits_shape = (*num_batches, num_classes, *out_features)
    if tuple(target.shape) == logits_shape and ignore_index is not None:
        raise RuntimeError("ignore_index cannot be specified when target contains probabilities")
    ignore_index = ignore_index if ignore_index is not None else -100
    extras = _Extras(
        lse_square_scale, softcap, return_z_loss, return_token_accuracy, use_token_scaling
    )
    if extras != _NO_EXTRAS:
        extras.check(target)
    if options is not None:
        chunkable = (
            not out_features
            and reduction in ("mean", "sum", "none")
            and label_smoothing == 0.0
            and target.dtype == _dtype.int64
        )
        if chunkable:
            return _chunked(
                input,
                linear_weight,
                target,
                linear_bias,
                weight,
                reduction,
                ignore_index,
                options,
                extras,
            )
        _fallback_warning(reduction, label_smoothing, target, out_features, linear_bias)
    if out_features:
        flat_classes = int(np.prod(out_features)) * num_classes
        linear_weight = reshape(linear_weight, (flat_classes, in_features))
        if linear_bias is not None:
            linear_bias = reshape(linear_bias, (flat_classes,))
    logits = reshape(linear(input, linear_weight, linear_bias), logits_shape)
    if extras != _NO_EXTRAS:
        return _cross_entropy_with_extras(
            logits, target, weight, ignore_index, reduction, label_smoothing, extras
        )
    return cross_entropy(
        logits,
        target,
        weight=weight,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )


# -- per-sequence log-probabilities ------------------------------------------------------------


def sequence_log_probs(
    logits: Tensor, labels: Tensor, *, ignore_index: int = -100, average: bool = False
) -> Tensor:
    """Log-probability of each label sequence under the logits, summed or averaged over tokens.

    For logits ``z`` of shape ``(B, T, V)`` and labels ``y`` ``(B, T)``, with ``m[b, t] = [y[b, t]
    != ignore_index]``::

        s_b = sum_t m[b, t] * log_softmax(z[b, t])[y[b, t]]      (average: / max(sum_t m[b, t], 1))

    Gradient: ``ds_b/dz[b, t] = m[b, t] (onehot(y[b, t]) - softmax(z[b, t]))`` (divided by the
    count when averaging). The labels are used as given: shift them (``labels[:, 1:]`` against
    ``logits[:, :-1]``) before the call for next-token prediction, as TRL and Liger do. A row whose
    tokens are all ignored gives 0 (TRL clamps the count at 1; Liger's average would be 0/0).

    Args:
        logits: ``(B, T, V)``.
        labels: int64 ``(B, T)``.
        ignore_index: label value that marks tokens outside the completion. Default -100.
        average: length-average instead of sum (Liger's ``average_log_prob``). Default False.

    Returns:
        ``(B,)`` log-probabilities.

    Example:
        >>> import lossgrad as torch
        >>> logits = torch.zeros(1, 3, 4)
        >>> torch.nn.functional.sequence_log_probs(logits, torch.tensor([[1, 2, -100]]))
        tensor([-2.7726])
    """
    if logits.dim() != 3 or tuple(labels.shape) != tuple(logits.shape[:2]):
        raise ValueError(
            "sequence_log_probs expects logits (B, T, V) and labels (B, T), got logits of shape "
            f"{tuple(logits.shape)} and labels of shape {tuple(labels.shape)}"
        )
    batch, length, vocab = logits.shape
    token_logps = neg(
        cross_entropy(
            reshape(logits, (batch * length, vocab)),
            reshape(labels, (batch * length,)),
            ignore_index=ignore_index,
            reduction="none",
        )
    )
    return _sequence_total(reshape(token_logps, (batch, length)), labels, ignore_index, average)


def _sequence_total(token_logps, labels, ignore_index, average):  # type: ignore[no-untyped-def]
    total = _sum(token_logps, 1)
    if not average:
        return total
    counts = np.maximum((labels._data != ignore_index).sum(1), 1).astype(total._data.dtype)
    return div(total, Tensor._make(counts))


def linear_sequence_log_probs(
    hidden: Tensor,
    linear_weight: Tensor,
    labels: Tensor,
    *,
    linear_bias: Tensor | None = None,
    ignore_index: int = -100,
    average: bool = False,
    options: LinearCrossEntropyOptions | None = None,
) -> Tensor:
    """``sequence_log_probs(linear(hidden, linear_weight, linear_bias), labels)`` without ever
    holding the ``B*T x V`` logits: the head and the log-softmax run through
    ``linear_cross_entropy``'s chunked path (``options``, default
    ``LinearCrossEntropyOptions()``), so first and second derivatives are available.

    Args:
        hidden: ``(B, T, D)`` hidden states.
        linear_weight: ``(V, D)`` head.
        labels: int64 ``(B, T)``.
        linear_bias: optional ``(V)``.
        ignore_index, average: as in ``sequence_log_probs``.
        options: chunking options of the head.

    Returns:
        ``(B,)`` log-probabilities.

    Example:
        >>> import lossgrad as torch
        >>> hidden, head = torch.zeros(1, 3, 2), torch.zeros(4, 2)
        >>> labels = torch.tensor([[1, 2, -100]])
        >>> torch.nn.functional.linear_sequence_log_probs(hidden, head, labels)
        tensor([-2.7726])
    """
    if hidden.dim() != 3 or tuple(labels.shape) != tuple(hidden.shape[:2]):
        raise ValueError(
            "linear_sequence_log_probs expects hidden (B, T, D) and labels (B, T), got hidden of "
            f"shape {tuple(hidden.shape)} and labels of shape {tuple(labels.shape)}"
        )
    token_logps = _linear_token_log_probs(
        hidden, linear_weight, labels, linear_bias, ignore_index, options
    )
    return _sequence_total(token_logps, labels, ignore_index, average)


def _linear_token_log_probs(hidden, linear_weight, labels, linear_bias, ignore_index, options):  # type: ignore[no-untyped-def]
    """``(B, T)`` label log-probabilities of the head's logits through the chunked path (0 for
    ignored tokens)."""
    batch, length, features = hidden.shape
    token_nll = linear_cross_entropy(
        reshape(hidden, (batch * length, features)),
        linear_weight,
        reshape(labels, (batch * length,)),
        linear_bias=linear_bias,
        ignore_index=ignore_index,
        reduction="none",
        options=options if options is not None else LinearCrossEntropyOptions(),
    )
    return reshape(neg(token_nll), (batch, length))


# -- preference losses (given per-sequence log-probabilities) -------------------------------------

_DPO_LOSS_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sigmoid_norm",
    "sft",
)


def _length_divisor(lengths, dtype):  # type: ignore[no-untyped-def]
    """``max(lengths, 1)`` in ``dtype`` (TRL's completion-length normalisation), or 1."""
    if lengths is None:
        return dtype.type(1)
    counts = lengths._data if isinstance(lengths, Tensor) else np.asarray(lengths)
    return np.maximum(counts, 1).astype(dtype)


def _per_length(score, lengths):  # type: ignore[no-untyped-def]
    """``score / max(lengths, 1)``, or ``score`` without lengths."""
    if lengths is None:
        return score
    return div(score, Tensor._make(_length_divisor(lengths, score._data.dtype)))


def _smoothed_logistic(margin, label_smoothing):  # type: ignore[no-untyped-def]
    """``-(1 - eps) log sigma(margin) - eps log sigma(-margin)``."""
    if label_smoothing == 0:
        return neg(logsigmoid(margin))
    return sub(
        mul(logsigmoid(margin), -(1 - label_smoothing)),
        mul(logsigmoid(neg(margin)), label_smoothing),
    )


def _logistic_preference(logps, margin, margin_array, label_smoothing, reduction, scale=1.0):  # type: ignore[no-untyped-def]
    """``scale`` times the reduced ``_smoothed_logistic`` of the margin ``u = margin(*logps)``
    (lossgrad ops, the definition), for ``'mean'`` and ``'sum'`` as one fused kernel:
    ``margin_array(*arrays)`` gives ``u`` and its derivative by each input, and ``dl/du =
    scale (eps sigma(u) - (1 - eps) sigma(-u))``."""
    clean, flipped = scale * (1 - label_smoothing), scale * label_smoothing

    def composite(*tensors):  # type: ignore[no-untyped-def]
        term = _reduction.apply(_smoothed_logistic(margin(*tensors), label_smoothing), reduction)
        return term if scale == 1 else mul(term, scale)

    def kernel(*arrays):  # type: ignore[no-untyped-def]
        u, margin_slopes = margin_array(*arrays)
        softplus_neg, softplus_pos = np.logaddexp(0, -u), np.logaddexp(0, u)
        losses = clean * softplus_neg
        slope = np.exp(-softplus_pos) * -clean
        if flipped:
            losses += flipped * softplus_pos
            slope += flipped * np.exp(-softplus_neg)
        return losses, [margin_slope * slope for margin_slope in margin_slopes]

    return fused_inputs(logps, kernel, composite, reduction)


def _dpo_per_pair(
    loss_type,
    chosen,
    rejected,
    policy,
    reference,
    beta,
    label_smoothing,
    discopop_tau,
    chosen_lengths,
    rejected_lengths,
):  # type: ignore[no-untyped-def]
    """One ``loss_type`` of TRL's ``DPOTrainer._compute_loss``, per pair."""
    margin = mul(sub(chosen, rejected), beta)
    if loss_type == "sigmoid":
        return neg(logsigmoid(margin))
    if loss_type == "hinge":
        return relu(rsub(margin, 1.0))
    if loss_type in ("ipo", "sigmoid_norm"):
        delta = sub(_per_length(chosen, chosen_lengths), _per_length(rejected, rejected_lengths))
        if loss_type == "sigmoid_norm":
            return neg(logsigmoid(mul(delta, beta)))
        return square(sub(delta, 1 / (2 * beta)))
    if loss_type == "exo_pair":
        log_chosen_target = math.log1p(-label_smoothing)
        log_rejected_target = math.log(label_smoothing)
        return add(
            mul(sigmoid(margin), sub(logsigmoid(margin), log_chosen_target)),
            mul(sigmoid(neg(margin)), sub(logsigmoid(neg(margin)), log_rejected_target)),
        )
    if loss_type == "nca_pair":
        chosen_reward, rejected_reward = mul(chosen, beta), mul(rejected, beta)
        return sub(
            sub(neg(logsigmoid(chosen_reward)), mul(logsigmoid(neg(chosen_reward)), 0.5)),
            mul(logsigmoid(neg(rejected_reward)), 0.5),
        )
    if loss_type == "robust":
        clean = mul(logsigmoid(margin), -(1 - label_smoothing))
        flipped = mul(logsigmoid(neg(margin)), -label_smoothing)
        return div(sub(clean, flipped), 1 - 2 * label_smoothing)
    if loss_type == "bco_pair":
        return sub(neg(logsigmoid(mul(chosen, beta))), logsigmoid(neg(mul(rejected, beta))))
    if loss_type == "sppo_hard":
        return add(square(sub(chosen, 0.5 / beta)), square(add(rejected, 0.5 / beta)))
    if loss_type in ("aot", "aot_unpaired"):
        if loss_type == "aot":
            first, second = sub(policy[0], policy[1]), sub(reference[0], reference[1])
        else:
            first, second = chosen, rejected
        delta = sub(sort(first, 0)[0], sort(second, 0)[0])
        return _smoothed_logistic(mul(delta, beta), label_smoothing)
    if loss_type == "apo_zero":
        return add(rsub(sigmoid(mul(chosen, beta)), 1.0), sigmoid(mul(rejected, beta)))
    if loss_type == "apo_down":
        return add(sigmoid(mul(chosen, beta)), rsub(sigmoid(margin), 1.0))
    if loss_type == "sft":
        return _sft_per_pair(policy[0], chosen_lengths)
    if loss_type == "discopop":
        scaled = div(margin, discopop_tau)
        # exp(-d) m as exp(-d + log m): finite where exp(-d) overflows and m underflows
        exponential = exp(sub(logsigmoid(scaled), margin))
        return add(mul(neg(logsigmoid(margin)), rsub(sigmoid(scaled), 1.0)), exponential)
    raise ValueError(f"Unknown loss_type: {loss_type!r}. Should be one of {list(_DPO_LOSS_TYPES)}")


def _sft_per_pair(policy_chosen_logps, chosen_lengths):  # type: ignore[no-untyped-def]
    """TRL's ``sft`` term: the chosen tokens' mean negative log-likelihood, for every pair."""
    if chosen_lengths is None:
        raise ValueError("loss_type='sft' needs chosen_lengths (the chosen completions' lengths)")
    counts = chosen_lengths._data if isinstance(chosen_lengths, Tensor) else chosen_lengths
    mean_nll = div(neg(_sum(policy_chosen_logps)), max(float(np.sum(counts)), 1.0))
    return mean_nll.expand(tuple(policy_chosen_logps.shape))


def _check_dpo_options(types, weights, beta, label_smoothing):  # type: ignore[no-untyped-def]
    if len(weights) != len(types):
        raise ValueError(
            f"loss_weights must have one weight per loss_type: got {len(weights)} weights for "
            f"loss_type={types}"
        )
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    if "exo_pair" in types and not label_smoothing > 0:
        raise ValueError(
            f"label_smoothing must be > 0 for loss_type='exo_pair', got {label_smoothing}"
        )
    if "robust" in types and not 0.0 <= label_smoothing < 0.5:
        raise ValueError(
            f"label_smoothing must lie in [0.0, 0.5) for loss_type='robust', got {label_smoothing}"
        )


def _softplus(u: np.ndarray) -> np.ndarray:
    return np.logaddexp(0, u)


def _sigmoid(u: np.ndarray) -> np.ndarray:
    """``exp(-softplus(-u))``: no overflow for any ``u``."""
    return np.exp(-np.logaddexp(0, -u))


def _log_ratio_kernel(loss_type, beta, label_smoothing, discopop_tau, lengths):  # type: ignore[no-untyped-def]
    """``loss_type``'s per-pair loss of the log-ratio arrays ``c``, ``r`` and its derivatives,
    ``(c, r) -> (loss, dl/dc, dl/dr)``, for `dpo_loss`'s fused first-order path (`_dpo_per_pair`
    is the definition, in lossgrad ops: the recorded backward and ``'none'`` take it; the tests
    hold the two to TRL's and Liger's values and gradients); None for ``sft``. ``aot`` takes the
    policy's and the reference's margins in place of ``c`` and ``r``; ``lengths`` are the
    chosen and rejected completions' token counts (or None) of ``ipo`` and ``sigmoid_norm``.

    With ``d = beta (c - r)``, ``a = beta c``, ``b = beta r``, ``s(u) = sigmoid(u)`` and
    ``sp(u) = softplus(u) = -log s(-u)``: ``sigmoid`` is ``sp(-d)``, ``dl/dd = -s(-d)``; ``hinge``
    ``relu(1 - d)``, ``dl/dd = -[1 - d > 0]``; ``robust`` ``((1 - eps) sp(-d) - eps sp(d)) / (1 -
    2 eps)``; ``exo_pair`` ``q (log q - log(1 - eps)) + (1 - q)(log(1 - q) - log eps)``, ``q =
    s(d)``, ``dl/dd = q (1 - q)(d - log((1 - eps) / eps))``; ``discopop`` ``sp(-d)(1 - m) + exp(-d +
    log m)``, ``m = s(d / tau)``, ``dl/dd = -s(-d)(1 - m) - sp(-d) m (1 - m) / tau + exp(-d + log
    m)((1 - m) / tau - 1)``; ``nca_pair`` ``sp(-a) + sp(a) / 2 + sp(b) / 2``; ``bco_pair`` ``sp(-a)
    + sp(b)``; ``apo_zero`` ``1 - s(a) + s(b)``; ``apo_down`` ``s(a) + 1 - s(d)``; ``sppo_hard``
    ``(c - 1 / (2 beta))**2 + (r + 1 / (2 beta))**2``; with ``e = c / n_w - r / n_l`` (the
    counts clamped at 1), ``ipo`` ``(e - 1 / (2 beta))**2`` and ``sigmoid_norm`` ``sp(-beta e)``;
    ``aot`` and ``aot_unpaired`` ``(1 - eps) sp(-u) + eps sp(u)``, ``u = beta (sort(c) -
    sort(r))``, each derivative going to the element that sort put there.
    """
    eps, tau = label_smoothing, discopop_tau

    def of_margin(loss_and_slope):  # type: ignore[no-untyped-def]
        def kernel(c, r):  # type: ignore[no-untyped-def]
            loss, slope = loss_and_slope((c - r) * beta)
            return loss, slope * beta, slope * -beta

        return kernel

    def of_rewards(chosen_term, rejected_term):  # type: ignore[no-untyped-def]
        def kernel(c, r):  # type: ignore[no-untyped-def]
            chosen_loss, chosen_slope = chosen_term(c * beta)
            rejected_loss, rejected_slope = rejected_term(r * beta)
            return chosen_loss + rejected_loss, chosen_slope * beta, rejected_slope * beta

        return kernel

    def sigmoid_slope(u):  # type: ignore[no-untyped-def]
        return _sigmoid(u) * _sigmoid(-u)

    def discopop(d):  # type: ignore[no-untyped-def]
        keep = _sigmoid(-d / tau)
        modulation = np.exp(-_softplus(-d / tau) - d)
        loss = _softplus(-d) * keep + modulation
        slope = -_sigmoid(-d) * keep - _softplus(-d) * (1 - keep) * keep / tau
        return loss, slope + modulation * (keep / tau - 1)

    def apo_down(c, r):  # type: ignore[no-untyped-def]
        chosen_slope, margin_slope = sigmoid_slope(c * beta), sigmoid_slope((c - r) * beta)
        loss = _sigmoid(c * beta) + (1 - _sigmoid((c - r) * beta))
        return loss, (chosen_slope - margin_slope) * beta, margin_slope * beta

    def sppo_hard(c, r):  # type: ignore[no-untyped-def]
        chosen, rejected = c - 0.5 / beta, r + 0.5 / beta
        return np.square(chosen) + np.square(rejected), 2 * chosen, 2 * rejected

    def of_length_normalized(loss_and_slope):  # type: ignore[no-untyped-def]
        def kernel(c, r):  # type: ignore[no-untyped-def]
            chosen_count, rejected_count = (_length_divisor(n, c.dtype) for n in lengths)
            loss, slope = loss_and_slope(c / chosen_count - r / rejected_count)
            return loss, slope / chosen_count, -slope / rejected_count

        return kernel

    def sorted_logistic(c, r):  # type: ignore[no-untyped-def]
        orders = [np.argsort(scores, axis=0, kind="stable") for scores in (c, r)]
        chosen, rejected = (np.take_along_axis(x, order, 0) for x, order in zip((c, r), orders))
        margin = (chosen - rejected) * beta
        loss = (1 - eps) * _softplus(-margin) + eps * _softplus(margin)
        slope = ((1 - eps) * -_sigmoid(-margin) + eps * _sigmoid(margin)) * beta
        chosen_slope, rejected_slope = np.empty_like(c), np.empty_like(r)
        np.put_along_axis(chosen_slope, orders[0], slope, 0)
        np.put_along_axis(rejected_slope, orders[1], -slope, 0)
        return loss, chosen_slope, rejected_slope

    kernels = {
        "sigmoid": of_margin(lambda d: (_softplus(-d), -_sigmoid(-d))),
        "hinge": of_margin(lambda d: (np.maximum(1 - d, 0), -(1 - d > 0).astype(d.dtype))),
        "robust": of_margin(
            lambda d: (
                ((1 - eps) * _softplus(-d) - eps * _softplus(d)) / (1 - 2 * eps),
                (-(1 - eps) * _sigmoid(-d) - eps * _sigmoid(d)) / (1 - 2 * eps),
            )
        ),
        "exo_pair": of_margin(
            lambda d: (
                _sigmoid(d) * (-_softplus(-d) - math.log1p(-eps))
                + _sigmoid(-d) * (-_softplus(d) - math.log(eps)),
                sigmoid_slope(d) * (d - (math.log1p(-eps) - math.log(eps))),
            )
        ),
        "discopop": of_margin(discopop),
        "nca_pair": of_rewards(
            lambda a: (_softplus(-a) + _softplus(a) / 2, _sigmoid(a) / 2 - _sigmoid(-a)),
            lambda b: (_softplus(b) / 2, _sigmoid(b) / 2),
        ),
        "bco_pair": of_rewards(
            lambda a: (_softplus(-a), -_sigmoid(-a)), lambda b: (_softplus(b), _sigmoid(b))
        ),
        "apo_zero": of_rewards(
            lambda a: (1 - _sigmoid(a), -sigmoid_slope(a)),
            lambda b: (_sigmoid(b), sigmoid_slope(b)),
        ),
        "apo_down": apo_down,
        "sppo_hard": sppo_hard,
        "ipo": of_length_normalized(
            lambda e: (np.square(e - 1 / (2 * beta)), 2 * (e - 1 / (2 * beta)))
        ),
        "sigmoid_norm": of_length_normalized(
            lambda e: (_softplus(-(e * beta)), -_sigmoid(-(e * beta)) * beta)
        ),
        "aot": sorted_logistic,
        "aot_unpaired": sorted_logistic,
    }
    return kernels.get(loss_type)


def dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    reference_chosen_logps: Tensor,
    reference_rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    loss_type: str | Sequence[str] = "sigmoid",
    loss_weights: Sequence[float] | None = None,
    label_smoothing: float = 0.0,
    discopop_tau: float = 0.05,
    chosen_lengths: Any = None,
    rejected_lengths: Any = None,
    reduction: str = "mean",
    f_divergence_type: str = "reverse_kl",
    f_alpha_divergence_coef: float = 0.5,
    wpo_weights: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Direct preference optimisation and its variants, TRL 1.16's ``DPOTrainer`` losses.

    With the log-ratios ``c = log pi(y_w) - log pi_ref(y_w)``, ``r = log pi(y_l) - log
    pi_ref(y_l)`` and ``d = beta (c - r)``, per pair (``loss_type``):

    - ``sigmoid``: ``-log sigma(d)``; ``hinge``: ``relu(1 - d)``;
    - ``ipo``: ``(c / |y_w| - r / |y_l| - 1 / (2 beta))**2`` (TRL's length normalisation: pass
      ``chosen_lengths`` / ``rejected_lengths``, the completion token counts, clamped at 1;
      without them the sums are used as given); ``sigmoid_norm``: ``-log sigma(beta (c / |y_w| -
      r / |y_l|))``;
    - ``robust`` (cDPO, ``eps = label_smoothing`` in [0, 0.5)): ``(-(1 - eps) log sigma(d) + eps
      log sigma(-d)) / (1 - 2 eps)``; ``exo_pair`` (``eps > 0``): ``sigma(d)(log sigma(d) - log(1
      - eps)) + sigma(-d)(log sigma(-d) - log eps)``;
    - ``nca_pair``: ``-log sigma(beta c) - log sigma(-beta c)/2 - log sigma(-beta r)/2``;
      ``bco_pair``: ``-log sigma(beta c) - log sigma(-beta r)``; ``sppo_hard``: ``(c - 1/(2
      beta))**2 + (r + 1/(2 beta))**2``;
    - ``aot`` / ``aot_unpaired``: the smoothed logistic loss of ``beta (sort(a) - sort(b))`` over
      the batch, with ``(a, b) = (log pi(y_w) - log pi(y_l), log pi_ref(y_w) - log pi_ref(y_l))``
      resp. ``(c, r)``;
    - ``apo_zero``: ``1 - sigma(beta c) + sigma(beta r)``; ``apo_down``: ``sigma(beta c) + 1 -
      sigma(d)``; ``discopop``: ``-log sigma(d) (1 - m) + exp(-d) m``, ``m = sigma(d / tau)``,
      its second term computed as ``exp(-d + log m)`` (finite for any margin when ``tau < 1``,
      where TRL's ``exp(-d) * m`` gives ``inf * 0 = NaN`` below ``d`` = -88.7 in float32);
    - ``sft``: ``-sum_b log pi(y_w,b) / sum_b |y_w,b|``, the chosen completions' mean token
      negative log-likelihood (needs ``chosen_lengths``), the same for every pair.

    ``f_divergence_type`` (f-DPO, Wang et al. 2023) replaces the log-ratios ``u`` in ``c`` and
    ``r`` by ``f'(exp(u))``: ``'reverse_kl'`` ``u`` (DPO), ``'forward_kl'`` ``1 - exp(-u)``,
    ``'js_divergence'`` ``log 2 + log sigma(u)``, ``'alpha_divergence'`` ``(exp((alpha - 1)
    u) - 1) / (alpha - 1)`` (``alpha = f_alpha_divergence_coef``; ``(alpha - 1) u`` clamped at
    80 as TRL does; ``u`` itself when ``alpha = 1``); for the loss types TRL allows with it
    (``sigmoid``, ``sigmoid_norm``, ``hinge``, ``ipo``, ``exo_pair``, ``robust``, ``discopop``,
    ``sft``). ``wpo_weights = (w_w, w_l)`` (WPO, Zhou et al. 2024; TRL's ``use_weighting``;
    ``wpo_sequence_weights`` computes them) multiplies each pair's loss by ``w_w w_l``, detached.

    A list of loss types is combined as ``sum_k loss_weights[k] * mean(loss_k)`` (TRL's
    ``loss_weights``, default all 1). Gradients follow from these formulas: the ``'mean'`` and
    ``'sum'`` of one loss type (other than ``sft``, without f-divergence or WPO weights) run as
    one NumPy kernel that writes the loss and its first derivatives; second derivatives
    differentiate the formulas in lossgrad ops. TRL's ``ld_alpha`` (LD-DPO) weighs the tokens
    beyond the shorter completion inside the per-sequence log-probabilities: it is an input of
    this loss, not an option.

    Reference: trl 1.16 ``trl/trainer/dpo_trainer.py``, the trainer's loss computation, lines
    1385-1516 (one branch per loss type); Liger-Kernel 0.8.5
    ``LigerFusedLinearDPOFunction.preference_loss_fn`` (same formulas, ``ipo`` refused);
    Rafailov et al. 2023 (DPO), Azar et al. 2023 (IPO).

    Args:
        policy_chosen_logps, policy_rejected_logps: ``(B,)`` summed log-probabilities of the
            chosen / rejected completions under the policy (``sequence_log_probs``).
        reference_chosen_logps, reference_rejected_logps: ``(B,)`` the same under the reference.
        beta: temperature ``beta > 0``. Default 0.1.
        loss_type: one name or a sequence of names (above). Default ``'sigmoid'``.
        loss_weights: one weight per loss type. Default all 1.
        label_smoothing: ``eps`` of ``robust``, ``exo_pair``, ``aot``. Default 0.
        discopop_tau: ``tau`` of ``discopop``. Default 0.05.
        chosen_lengths, rejected_lengths: completion token counts ``(B,)`` for ``ipo``,
            ``sigmoid_norm`` and ``sft``.
        reduction: ``'mean'`` (TRL) | ``'sum'`` | ``'none'`` (weighted per-pair losses).
        f_divergence_type: ``'reverse_kl'`` (default) | ``'forward_kl'`` | ``'js_divergence'``
            | ``'alpha_divergence'``. f_alpha_divergence_coef: ``alpha``. Default 0.5.
        wpo_weights: ``(chosen_weights, rejected_weights)``, each ``(B,)``, or None.

    Returns:
        A scalar, or ``(B,)`` for ``'none'``.

    Example:
        >>> import lossgrad as torch
        >>> F = torch.nn.functional
        >>> chosen, rejected = torch.tensor([-3.0]), torch.tensor([-5.0])
        >>> F.dpo_loss(chosen, rejected, torch.tensor([-4.0]), torch.tensor([-4.0]), beta=0.5)
        tensor(0.3133)
    """
    types = [loss_type] if isinstance(loss_type, str) else list(loss_type)
    weights = [1.0] * len(types) if loss_weights is None else list(loss_weights)
    _check_dpo_options(types, weights, beta, label_smoothing)
    check_same_shapes(
        "dpo_loss",
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        reference_chosen_logps=reference_chosen_logps,
        reference_rejected_logps=reference_rejected_logps,
    )
    reduction = _reduction.resolve(reduction)
    if f_divergence_type != "reverse_kl" and not set(types) <= _F_DIVERGENCE_LOSS_TYPES:
        raise ValueError(
            f"f_divergence_type={f_divergence_type!r} is only supported for the loss types "
            f"{sorted(_F_DIVERGENCE_LOSS_TYPES)}, got loss_type={types}"
        )
    if wpo_weights is not None and {"aot", "aot_unpaired"} & set(types):
        raise ValueError(f"wpo_weights is not supported with loss_type={types} (aot, aot_unpaired)")
    logps = (
        policy_chosen_logps,
        policy_rejected_logps,
        reference_chosen_logps,
        reference_rejected_logps,
    )

    def definition(*logps):  # type: ignore[no-untyped-def]
        chosen, rejected = (
            _f_divergence_score(sub(policy, reference), f_divergence_type, f_alpha_divergence_coef)
            for policy, reference in ((logps[0], logps[2]), (logps[1], logps[3]))
        )
        pair_weight = None
        if wpo_weights is not None:
            pair_weight = mul(wpo_weights[0].detach(), wpo_weights[1].detach())
        total = None
        for name, loss_weight in zip(types, weights):
            per_pair = _dpo_per_pair(
                name,
                chosen,
                rejected,
                logps[:2],
                logps[2:],
                beta,
                label_smoothing,
                discopop_tau,
                chosen_lengths,
                rejected_lengths,
            )
            if pair_weight is not None:
                per_pair = mul(per_pair, pair_weight)
            term = mul(_reduction.apply(per_pair, reduction), loss_weight)
            total = term if total is None else add(total, term)
        return total

    pair_kernel = None
    if len(types) == 1 and f_divergence_type == "reverse_kl" and wpo_weights is None:
        lengths = (chosen_lengths, rejected_lengths)
        pair_kernel = _log_ratio_kernel(types[0], beta, label_smoothing, discopop_tau, lengths)
    if pair_kernel is None:
        return definition(*logps)

    def kernel(chosen, rejected, ref_chosen, ref_rejected):  # type: ignore[no-untyped-def]
        if types[0] == "aot":  # the policy's margin against the reference's
            loss, *slopes = pair_kernel(chosen - rejected, ref_chosen - ref_rejected)
            slopes = [slopes[0], -slopes[0], slopes[1], -slopes[1]]
        else:
            loss, *slopes = pair_kernel(chosen - ref_chosen, rejected - ref_rejected)
            slopes = [slopes[0], slopes[1], -slopes[0], -slopes[1]]
        if weights[0] != 1:
            loss, slopes = loss * weights[0], [slope * weights[0] for slope in slopes]
        return loss, slopes

    return fused_inputs(logps, kernel, definition, reduction)


_F_DIVERGENCE_LOSS_TYPES = {
    "sigmoid",
    "sigmoid_norm",
    "hinge",
    "ipo",
    "exo_pair",
    "robust",
    "discopop",
    "sft",
}


def _f_divergence_score(log_ratio, f_divergence_type, alpha):  # type: ignore[no-untyped-def]
    """``f'(exp(u))`` of the log-ratio ``u`` for TRL's ``f_divergence_type``."""
    if f_divergence_type == "reverse_kl" or (
        f_divergence_type == "alpha_divergence" and abs(alpha - 1.0) < 1e-6
    ):
        return log_ratio
    if f_divergence_type == "forward_kl":
        return rsub(exp(neg(log_ratio)), 1.0)
    if f_divergence_type == "js_divergence":
        return add(logsigmoid(log_ratio), math.log(2))
    if f_divergence_type == "alpha_divergence":
        scaled = clamp(mul(log_ratio, alpha - 1.0), None, 80.0)
        return mul(expm1(scaled), 1.0 / (alpha - 1.0))
    raise ValueError(
        "f_divergence_type must be 'reverse_kl', 'forward_kl', 'js_divergence' or "
        f"'alpha_divergence', got {f_divergence_type!r}"
    )


def wpo_sequence_weights(logits: Tensor, labels: Tensor, *, ignore_index: int = -100) -> Tensor:
    """WPO's per-sequence weight ``exp(mean_t (log p(y_t) - log sum_v p(v)**2))`` over the
    tokens not ignored (Zhou et al. 2024, eq. 2; TRL 1.16 ``DPOTrainer`` with
    ``use_weighting=True``), detached: pass ``(w[:B], w[B:])`` as ``dpo_loss``'s
    ``wpo_weights`` for a batch laid out ``[chosen, rejected]``.

    Args:
        logits: ``(B, T, V)``. labels: int64 ``(B, T)``, already shifted (as
            ``sequence_log_probs``). ignore_index: label of the tokens outside the completion.

    Returns:
        ``(B,)`` positive weights, without gradient. A row with no token gives 1.

    Example:
        >>> import lossgrad as torch
        >>> torch.nn.functional.wpo_sequence_weights(torch.zeros(1, 2, 4), torch.tensor([[1, 2]]))
        tensor([1.])
    """
    with grad_mode.no_grad():
        log_probs = log_softmax(logits.detach(), -1)
        log_sum_sq = logsumexp(mul(log_probs, 2.0), -1)
        keep = labels._data != ignore_index
        picked = np.take_along_axis(
            log_probs._data, np.where(keep, labels._data, 0)[..., None], -1
        )[..., 0]
        aligned = np.where(keep, picked - log_sum_sq._data, 0).sum(1)
        weights = np.exp(aligned / np.maximum(keep.sum(1), 1))
        return Tensor._make(weights.astype(log_probs._data.dtype))


def simpo_loss(
    chosen_logps: Tensor,
    rejected_logps: Tensor,
    *,
    beta: float = 2.0,
    gamma: float = 0.5,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """SimPO: reference-free preference with a target margin (Meng et al. 2024).

    With length-averaged log-probabilities ``a_w``, ``a_l`` (``sequence_log_probs(...,
    average=True)``) and ``u = beta (a_w - a_l) - gamma``::

        l = -(1 - eps) log sigma(u) - eps log sigma(-u)

    Gradient: ``dl/du = -(1 - eps) sigma(-u) + eps sigma(u)``.
    Reference: trl 1.16 ``trl/experimental/cpo/cpo_trainer.py``, ``CPOTrainer.cpo_loss`` with
    ``loss_type='simpo'``, lines 708-709 and 715-722 (TRL writes ``u`` as ``beta (a_w - a_l -
    gamma / beta)``); Liger-Kernel 0.8.5 ``LigerFusedLinearSimPOFunction.preference_loss_fn``
    (same formula).

    Args:
        chosen_logps, rejected_logps: ``(B,)`` length-averaged log-probabilities.
        beta: scale. Default 2.0. gamma: target margin. Default 0.5.
        label_smoothing: ``eps``. Default 0. reduction: ``'mean'`` | ``'sum'`` | ``'none'``.

    Example:
        >>> import lossgrad as torch
        >>> torch.nn.functional.simpo_loss(torch.tensor([-1.0]), torch.tensor([-2.0]))
        tensor(0.2014)
    """
    check_same_shapes("simpo_loss", chosen_logps=chosen_logps, rejected_logps=rejected_logps)
    return _logistic_preference(
        (chosen_logps, rejected_logps),
        lambda chosen, rejected: sub(mul(sub(chosen, rejected), beta), gamma),
        lambda chosen, rejected: ((chosen - rejected) * beta - gamma, (beta, -beta)),
        label_smoothing,
        _reduction.resolve(reduction),
    )


def cpo_loss(
    chosen_logps: Tensor,
    rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """CPO's preference term (Xu et al. 2024): ``-(1 - eps) log sigma(u) - eps log sigma(-u)``,
    ``u = beta (log pi(y_w) - log pi(y_l))``; the behaviour-cloning NLL term is the caller's.

    Gradient: ``dl/du = -(1 - eps) sigma(-u) + eps sigma(u)``.
    Reference: trl 1.16 ``trl/experimental/cpo/cpo_trainer.py``, ``CPOTrainer.cpo_loss`` with
    ``loss_type='sigmoid'`` and ``alpha=0``, lines 708-709 and 723-728; Liger-Kernel 0.8.5
    ``LigerFusedLinearCPOFunction.preference_loss_fn``.

    Example:
        >>> import lossgrad as torch
        >>> torch.nn.functional.cpo_loss(torch.tensor([-1.0]), torch.tensor([-2.0]), beta=1.0)
        tensor(0.3133)
    """
    check_same_shapes("cpo_loss", chosen_logps=chosen_logps, rejected_logps=rejected_logps)
    return _logistic_preference(
        (chosen_logps, rejected_logps),
        lambda chosen, rejected: mul(sub(chosen, rejected), beta),
        lambda chosen, rejected: ((chosen - rejected) * beta, (beta, -beta)),
        label_smoothing,
        _reduction.resolve(reduction),
    )


def orpo_loss(
    chosen_logps: Tensor,
    rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    reduction: str = "mean",
) -> Tensor:
    """ORPO's odds-ratio term (Hong et al. 2024); the SFT NLL term is the caller's.

    With length-averaged log-probabilities ``a_w``, ``a_l`` < 0 and ``log odds(a) = a -
    log(1 - exp(a))``::

        l = -beta log sigma(log odds(a_w) - log odds(a_l))

    ``log(1 - exp(a))`` is computed as ``log(-expm1(a))`` (accurate near ``a = 0``). ``beta``,
    the paper's weight ``lambda`` of this term, must be ``>= 0`` (TRL does not check it).
    Gradient: ``dl/da_w = -beta sigma(-o) / (1 - exp(a_w))`` with ``o`` the log-odds ratio.
    Reference: trl 1.16 ``trl/experimental/orpo/orpo_trainer.py``,
    ``ORPOTrainer.odds_ratio_loss``, lines 690-697 (``beta log sigma(o)``, which the trainer
    subtracts from the NLL, line 848; its ``log1mexp``, lines 87-91, is ``log(1 - exp(a))``);
    Liger-Kernel 0.8.5 ``LigerFusedLinearORPOFunction.preference_loss_fn``.

    Example:
        >>> import lossgrad as torch
        >>> torch.nn.functional.orpo_loss(torch.tensor([-0.5]), torch.tensor([-2.0]), beta=1.0)
        tensor(0.0967)
    """
    if not beta >= 0:
        raise ValueError(f"beta (the odds-ratio term's weight) must be >= 0, got {beta}")
    check_same_shapes("orpo_loss", chosen_logps=chosen_logps, rejected_logps=rejected_logps)

    def log_odds(logps):  # type: ignore[no-untyped-def]
        return sub(logps, log(neg(expm1(logps))))

    def log_odds_array(logps):  # type: ignore[no-untyped-def]
        """``log odds(a)`` and its derivative ``1 / (1 - exp(a))``."""
        one_minus_probability = -np.expm1(logps)
        return logps - np.log(one_minus_probability), 1 / one_minus_probability

    def margin_array(chosen, rejected):  # type: ignore[no-untyped-def]
        (chosen_odds, chosen_slope), (rejected_odds, rejected_slope) = map(
            log_odds_array, (chosen, rejected)
        )
        return chosen_odds - rejected_odds, (chosen_slope, -rejected_slope)

    return _logistic_preference(
        (chosen_logps, rejected_logps),
        lambda chosen, rejected: sub(log_odds(chosen), log_odds(rejected)),
        margin_array,
        0.0,
        _reduction.resolve(reduction),
        beta,
    )


def kto_loss(
    policy_logps: Tensor,
    reference_logps: Tensor,
    preference_labels: Tensor,
    *,
    beta: float = 0.1,
    kl: Any = None,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """KTO: unpaired preference optimisation from prospect theory (Ethayarajh et al. 2024).

    With ``r = log pi(y) - log pi_ref(y)`` per sequence and the reference point ``z`` (``kl``,
    TRL's batch KL estimate, detached and clamped at 0; 0 when None)::

        desirable:   l = w_d (1 - sigma(beta (r - z)))
        undesirable: l = w_u (1 - sigma(beta (z - r)))

    Gradient: ``dl/dr = -w_d beta sigma(u)(1 - sigma(u))`` with ``u = beta (r - z)`` for desirable
    sequences, ``+w_u beta sigma(u)(1 - sigma(u))``, ``u = beta (z - r)``, for undesirable ones.
    'mean' averages over all sequences (TRL concatenates the weighted chosen and rejected losses
    and takes their mean). The ``kl`` given is used as a constant (detached), as in TRL.

    Reference: trl 1.16 ``trl/trainer/kto_trainer.py``, ``KTOTrainer``'s loss, lines 1442-1483
    (``loss_type='kto'``); Liger-Kernel 0.8.5 ``LigerFusedLinearKTOFunction.preference_loss_fn``.

    Args:
        policy_logps, reference_logps: ``(B,)`` summed log-probabilities.
        preference_labels: ``(B,)`` bool, True for desirable completions.
        beta: temperature. Default 0.1. kl: reference point ``z`` (number or 0-d tensor).
        desirable_weight, undesirable_weight: ``w_d``, ``w_u``. Default 1.
        reduction: ``'mean'`` | ``'sum'`` | ``'none'``.

    Example:
        >>> import lossgrad as torch
        >>> logps, ref = torch.tensor([-3.0, -6.0]), torch.tensor([-4.0, -5.0])
        >>> torch.nn.functional.kto_loss(logps, ref, torch.tensor([True, False]), beta=1.0)
        tensor(0.2689)
    """
    labels = np.asarray(
        preference_labels._data if isinstance(preference_labels, Tensor) else preference_labels
    )
    if labels.dtype != np.bool_ or labels.shape != tuple(policy_logps.shape):
        raise ValueError(
            "preference_labels must be a bool tensor of policy_logps' shape "
            f"{tuple(policy_logps.shape)}, got dtype {labels.dtype} and shape {labels.shape}"
        )
    reference_point = (
        0.0 if kl is None else float(kl.detach().item() if isinstance(kl, Tensor) else kl)
    )
    sign = np.where(labels, 1.0, -1.0)
    weight = np.where(labels, desirable_weight, undesirable_weight)
    reduction = _reduction.resolve(reduction)

    def composite(policy, reference):  # type: ignore[no-untyped-def]
        log_ratio = sub(policy, reference)
        dtype = log_ratio._data.dtype
        scaled = mul(mul(sub(log_ratio, reference_point), beta), Tensor._make(sign.astype(dtype)))
        per_sequence = mul(rsub(sigmoid(scaled), 1.0), Tensor._make(weight.astype(dtype)))
        return _reduction.apply(per_sequence, reduction)

    def kernel(policy, reference):  # type: ignore[no-untyped-def]
        """``dl/du = -w sigma(u) (1 - sigma(u))``, ``u = beta s (r - z)``."""
        direction, scale = sign.astype(policy.dtype), weight.astype(policy.dtype)
        sigmoid_u = np.exp(
            -np.logaddexp(0, -((policy - reference - reference_point) * beta * direction))
        )
        slope = scale * sigmoid_u * (sigmoid_u - 1) * beta * direction
        return (1 - sigmoid_u) * scale, (slope, -slope)

    return fused_inputs((policy_logps, reference_logps), kernel, composite, reduction)


# -- clipped policy-gradient losses (GRPO family) -------------------------------------------------

_POLICY_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "cispo")


def _check_policy_loss(
    per_token_logps,
    advantages,
    completion_mask,
    old_per_token_logps,
    ref_per_token_logps,
    beta,
    epsilons,
    loss_type,
    max_completion_length,
    importance_sampling_level,
):  # type: ignore[no-untyped-def]
    """``grpo_loss``'s ValueErrors, each naming the argument and showing its value or shape."""
    if loss_type not in _POLICY_LOSS_TYPES:
        raise ValueError(
            f"Unknown loss_type: {loss_type!r}. Should be one of {list(_POLICY_LOSS_TYPES)}"
        )
    if loss_type == "dr_grpo" and max_completion_length is None:
        raise ValueError("max_completion_length must be provided for loss_type 'dr_grpo'")
    if beta != 0.0 and ref_per_token_logps is None:
        raise ValueError(f"ref_per_token_logps is required when beta != 0 (beta={beta})")
    for name, epsilon in zip(("epsilon_low", "epsilon_high"), epsilons):
        if epsilon is not None and not epsilon >= 0:
            raise ValueError(f"{name} must be >= 0, got {epsilon}")
    check_same_shapes(
        "grpo_loss",
        per_token_logps=per_token_logps,
        completion_mask=completion_mask,
        **{
            name: value
            for name, value in (
                ("old_per_token_logps", old_per_token_logps),
                ("ref_per_token_logps", ref_per_token_logps),
            )
            if value is not None
        },
    )
    if per_token_logps.dim() != 2 or tuple(advantages.shape) not in (
        tuple(per_token_logps.shape[:1]),
        tuple(per_token_logps.shape),
    ):
        raise ValueError(
            "grpo_loss expects per_token_logps (B, T) and advantages (B,) or (B, T), got "
            f"per_token_logps of shape {tuple(per_token_logps.shape)} and advantages of shape "
            f"{tuple(advantages.shape)}"
        )
    if importance_sampling_level not in ("token", "sequence"):
        raise ValueError(
            "importance_sampling_level must be 'token' or 'sequence', got "
            f"{importance_sampling_level!r}"
        )
    if importance_sampling_level == "sequence" and loss_type == "cispo":
        raise ValueError(
            "importance_sampling_level='sequence' is not supported for loss_type='cispo'"
        )


def grpo_loss(
    per_token_logps: Tensor,
    advantages: Tensor,
    completion_mask: Tensor,
    *,
    old_per_token_logps: Tensor | None = None,
    ref_per_token_logps: Tensor | None = None,
    beta: float = 0.0,
    epsilon_low: float = 0.2,
    epsilon_high: float | None = None,
    loss_type: str = "dapo",
    max_completion_length: int | None = None,
    importance_sampling_level: str = "token",
) -> Tensor:
    """The clipped policy-gradient losses of GRPO and its variants (TRL's ``GRPOTrainer``).

    With the token ratio ``rho = exp(logp - logp_old)`` (``logp_old`` defaults to ``logp``
    detached: on-policy), the advantage ``A_b`` of sequence ``b`` and ``eps_l``, ``eps_h``::

        l[b, t] = -min(rho A_b, clip(rho, 1 - eps_l, 1 + eps_h) A_b) + beta k3[b, t]
        cispo:    l[b, t] = -sg(min(rho, eps_h)) A_b logp[b, t] + beta k3[b, t]

    with ``k3 = exp(logp_ref - logp) - (logp_ref - logp) - 1`` (Schulman's KL estimator), and
    the mask ``m`` normalising by ``loss_type``: ``grpo`` ``(1/B) sum_b sum_t m l / max(sum_t m,
    1)``; ``bnpo`` and ``dapo`` ``sum m l / max(sum m, 1)``; ``dr_grpo`` ``sum m l / (B *
    max_completion_length)``; ``cispo`` as ``dapo``. (``sg`` = stop-gradient.) Gradients come
    from these formulas (composite ops), second derivatives included; a batch whose tokens are
    all masked gives 0. ``cispo``'s weight ``sg(min(rho, eps_h))`` is a constant by design (as
    in TRL and Liger): its second derivative is that of the formula with the weight held fixed,
    the same as torch's double backward of TRL's formula, not the derivative of the gradient
    in which the weight moves (``gradgradcheck`` does not apply to it).

    Reference: trl 1.16 ``trl/trainer/grpo_trainer.py``, the loss computation of
    ``GRPOTrainer``, lines 3083-3174 (the ratio 3083-3095, ``k3`` 3098-3102, the per-token
    loss 3109-3120 and 3149-3150, the normalisation of each ``loss_type`` 3153-3174);
    Liger-Kernel 0.8.5 ``LigerFusedLinearGRPOFunction.ppo_loss_fn`` (same formulas; DAPO
    normaliser on one process); Shao et al. 2024 (GRPO), Yu et al. 2025 (DAPO), Liu et al.
    2025 (Dr. GRPO), MiniMax-M1 2025 (CISPO).

    Args:
        per_token_logps: ``(B, T)`` log-probabilities of the sampled tokens under the policy.
        advantages: ``(B,)``, or ``(B, T)`` per token (as TRL accepts).
        completion_mask: ``(B, T)``, 1 for completion tokens.
        old_per_token_logps: ``(B, T)`` under the sampling policy; None: on-policy.
        ref_per_token_logps: ``(B, T)`` under the reference, needed when ``beta != 0``.
        beta: KL coefficient. Default 0.0 (TRL's default).
        epsilon_low, epsilon_high: clipping range, each ``>= 0`` (``epsilon_high`` None:
            ``epsilon_low``; CISPO's upper bound is ``epsilon_high`` itself, as in TRL). TRL
            does not check them; a negative one would turn the clipping range inside out.
        loss_type: ``'grpo'`` | ``'bnpo'`` | ``'dr_grpo'`` | ``'dapo'`` | ``'cispo'``.
        max_completion_length: required for ``'dr_grpo'``.
        importance_sampling_level: ``'token'`` (default) or ``'sequence'`` (GSPO: one ratio per
            sequence, ``exp`` of the masked mean of ``logp - logp_old``; not with ``'cispo'``).

    Example:
        >>> import lossgrad as torch
        >>> logps = torch.tensor([[-1.0, -2.0], [-0.5, -0.1]])
        >>> mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
        >>> torch.nn.functional.grpo_loss(logps, torch.tensor([1.0, -2.0]), mask, loss_type="grpo")
        tensor(0.5000)
    """
    _check_policy_loss(
        per_token_logps,
        advantages,
        completion_mask,
        old_per_token_logps,
        ref_per_token_logps,
        beta,
        (epsilon_low, epsilon_high),
        loss_type,
        max_completion_length,
        importance_sampling_level,
    )
    epsilon_high = epsilon_low if epsilon_high is None else epsilon_high
    old = per_token_logps.detach() if old_per_token_logps is None else old_per_token_logps
    mask = completion_mask._data.astype(per_token_logps._data.dtype)
    log_ratio = sub(per_token_logps, old)
    if importance_sampling_level == "sequence":
        counts = Tensor._make(np.maximum(mask.sum(1, keepdims=True), 1))
        log_ratio = div(_sum(mul(log_ratio, Tensor._make(mask)), 1, keepdim=True), counts)
    ratio = exp(log_ratio)
    advantage = unsqueeze(advantages, 1) if advantages.dim() == 1 else advantages
    if loss_type == "cispo":
        weight = minimum(ratio, Tensor._make(np.asarray(epsilon_high, ratio._data.dtype))).detach()
        per_token = neg(mul(mul(weight, advantage), per_token_logps))
    else:
        clipped = clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
        per_token = neg(minimum(mul(ratio, advantage), mul(clipped, advantage)))
    if beta != 0.0:
        log_ratio_ref = sub(ref_per_token_logps, per_token_logps)
        per_token = add(per_token, mul(sub(sub(exp(log_ratio_ref), log_ratio_ref), 1.0), beta))
    masked = mul(per_token, Tensor._make(mask))
    if loss_type == "grpo":
        per_sequence = div(_sum(masked, 1), Tensor._make(np.maximum(mask.sum(1), 1)))
        return div(_sum(per_sequence), mask.shape[0])
    if loss_type == "dr_grpo":
        return div(_sum(masked), mask.shape[0] * max_completion_length)
    return div(_sum(masked), max(float(mask.sum()), 1.0))


# -- distillation ---------------------------------------------------------------------------------


def _check_logits_pair(name, student_logits, teacher_logits):  # type: ignore[no-untyped-def]
    if tuple(student_logits.shape) != tuple(teacher_logits.shape):
        raise ValueError(
            f"{name} expects student_logits and teacher_logits of the same shape, got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )


_DIVERGENCES = ("jsd", "tvd", "kl")


def _check_distillation(divergence: str, beta: float, temperature: float) -> None:
    if divergence not in _DIVERGENCES:
        raise ValueError(f"divergence must be one of {list(_DIVERGENCES)}, got {divergence!r}")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")


def _kl_rows(log_p: Tensor, log_q: Tensor) -> Tensor:
    """``KL(p || q) = sum_c p_c (log p_c - log q_c)`` over the last dimension."""
    return _sum(mul(exp(log_p), sub(log_p, log_q)), -1)


def _divergence_per_token(student_logits, teacher_logits, divergence, beta, temperature):  # type: ignore[no-untyped-def]
    """The per-token divergence ``(N,)`` between ``S = softmax(student / T)`` and ``P =
    softmax(teacher / T)``: ``'jsd'`` the generalized JSD with ``beta``, ``'tvd'`` the total
    variation distance, ``'kl'`` Hinton's ``T**2 KL(P || S)``."""
    if divergence == "tvd":
        student = softmax(div(student_logits, temperature), -1)
        teacher = softmax(div(teacher_logits, temperature), -1)
        return mul(_sum(abs_(sub(student, teacher)), -1), 0.5)
    log_student = log_softmax(div(student_logits, temperature), -1)
    log_teacher = log_softmax(div(teacher_logits, temperature), -1)
    if divergence == "kl":
        return mul(_kl_rows(log_teacher, log_student), temperature**2)
    if beta == 0.0:
        return _kl_rows(log_teacher, log_student)
    if beta == 1.0:
        return _kl_rows(log_student, log_teacher)
    log_mixture = logsumexp(
        stack([add(log_teacher, math.log(beta)), add(log_student, math.log(1 - beta))]), 0
    )
    return add(
        mul(_kl_rows(log_teacher, log_mixture), beta),
        mul(_kl_rows(log_student, log_mixture), 1 - beta),
    )


# The fused path of the distillation divergences: a block kernel per divergence takes a block of
# student and teacher logit rows, returns each row's divergence and, given a ``gradient`` block
# (which may be the student block itself: it is read first), writes ``row_scale * dl/dstudent``
# there. Five passes per softmax, a few per divergence; the temporaries are per-thread scratch.


def _buffers(shape: tuple[int, int], dtype: Any, count: int) -> list[np.ndarray]:
    size = shape[0] * shape[1]
    return [_parallel.scratch(size, dtype, slot).reshape(shape) for slot in range(count)]


def _row_dot(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", left, right)


def _softmax_into(logits, temperature, log_probs, probs):  # type: ignore[no-untyped-def]
    """``log softmax(logits / T)`` into ``log_probs`` and ``softmax(logits / T)`` into
    ``probs``, row by row."""
    np.subtract(logits, logits.max(axis=1, keepdims=True), out=log_probs)
    if temperature != 1:
        np.multiply(log_probs, 1 / temperature, out=log_probs)
    sums = np.exp(log_probs, out=probs).sum(axis=1, keepdims=True)
    np.subtract(log_probs, np.log(sums), out=log_probs)
    np.multiply(probs, 1 / sums, out=probs)


def _scaled_softmax_slope(slope, log_part, probs, gradient, row_scale):  # type: ignore[no-untyped-def]
    """``gradient = row_scale S (g - sum_c S_c g_c)`` for ``g = log_part`` (through the softmax
    ``S``), given ``slope = sum_c S_c g_c`` per row; ``row_scale`` includes ``1 / T``."""
    np.subtract(log_part, slope[:, None], out=gradient)
    np.multiply(gradient, probs, out=gradient)
    np.multiply(gradient, row_scale[:, None], out=gradient)


def _forward_kl_block(student, teacher, gradient, row_scale, temperature, scale):  # type: ignore[no-untyped-def]
    """``scale KL(P || S)``; ``dl/dstudent = scale / T (S - P)``."""
    log_student, student_probs, log_teacher, teacher_probs = _buffers(
        student.shape, student.dtype, 4
    )
    _softmax_into(student, temperature, log_student, student_probs)
    _softmax_into(teacher, temperature, log_teacher, teacher_probs)
    losses = _row_dot(teacher_probs, np.subtract(log_teacher, log_student, out=log_teacher))
    if gradient is not None:
        np.subtract(student_probs, teacher_probs, out=gradient)
        np.multiply(gradient, (row_scale * (scale / temperature))[:, None], out=gradient)
    return losses * scale


def _reverse_kl_block(student, teacher, gradient, row_scale, temperature):  # type: ignore[no-untyped-def]
    """``KL(S || P)``; ``dl/dstudent = S (g - KL) / T`` with ``g = log S - log P``."""
    log_student, student_probs, log_teacher, teacher_probs = _buffers(
        student.shape, student.dtype, 4
    )
    _softmax_into(student, temperature, log_student, student_probs)
    _softmax_into(teacher, temperature, log_teacher, teacher_probs)
    log_ratio = np.subtract(log_student, log_teacher, out=log_student)
    losses = _row_dot(student_probs, log_ratio)
    if gradient is not None:
        _scaled_softmax_slope(losses, log_ratio, student_probs, gradient, row_scale / temperature)
    return losses


def _jsd_block(student, teacher, gradient, row_scale, temperature, beta):  # type: ignore[no-untyped-def]
    """``beta KL(P || M) + (1 - beta) KL(S || M)``, ``M = S + beta (P - S)`` (clamped at the
    smallest normal number: a class both give probability 0 adds 0); ``dl/dstudent = (1 - beta)
    S (g - KL(S || M)) / T`` with ``g = log S - log M``."""
    log_student, student_probs, log_teacher, teacher_probs, log_mixture = _buffers(
        student.shape, student.dtype, 5
    )
    _softmax_into(student, temperature, log_student, student_probs)
    _softmax_into(teacher, temperature, log_teacher, teacher_probs)
    np.subtract(teacher_probs, student_probs, out=log_mixture)
    np.multiply(log_mixture, beta, out=log_mixture)
    np.add(log_mixture, student_probs, out=log_mixture)
    np.maximum(log_mixture, np.finfo(student.dtype).tiny, out=log_mixture)
    np.log(log_mixture, out=log_mixture)
    student_kl = _row_dot(student_probs, np.subtract(log_student, log_mixture, out=log_student))
    teacher_kl = _row_dot(teacher_probs, np.subtract(log_teacher, log_mixture, out=log_teacher))
    if gradient is not None:
        row_scale = row_scale * ((1 - beta) / temperature)
        _scaled_softmax_slope(student_kl, log_student, student_probs, gradient, row_scale)
    return beta * teacher_kl + (1 - beta) * student_kl


def _tvd_block(student, teacher, gradient, row_scale, temperature):  # type: ignore[no-untyped-def]
    """``1/2 sum_c |S_c - P_c|``; ``dl/dstudent = S (g - sum_c S_c g_c) / T``, ``g = sign(S -
    P) / 2``."""
    log_student, student_probs, log_teacher, teacher_probs = _buffers(
        student.shape, student.dtype, 4
    )
    _softmax_into(student, temperature, log_student, student_probs)
    _softmax_into(teacher, temperature, log_teacher, teacher_probs)
    difference = np.subtract(student_probs, teacher_probs, out=teacher_probs)
    if gradient is None:
        return 0.5 * np.abs(difference, out=difference).sum(axis=1)
    half_sign = np.multiply(np.sign(difference, out=log_teacher), 0.5, out=log_teacher)
    losses = _row_dot(difference, half_sign)
    slope = _row_dot(student_probs, half_sign)
    _scaled_softmax_slope(slope, half_sign, student_probs, gradient, row_scale / temperature)
    return losses


def _divergence_block(divergence: str, beta: float, temperature: float) -> Any:
    """The block kernel ``(student, teacher, gradient, row_scale) -> losses`` of a divergence
    (as ``_divergence_per_token``)."""
    if divergence == "tvd":
        return functools.partial(_tvd_block, temperature=temperature)
    if divergence == "kl" or beta == 0.0:
        scale = temperature**2 if divergence == "kl" else 1.0
        return functools.partial(_forward_kl_block, temperature=temperature, scale=scale)
    if beta == 1.0:
        return functools.partial(_reverse_kl_block, temperature=temperature)
    return functools.partial(_jsd_block, temperature=temperature, beta=beta)


def _divergence_total(block, student, teacher, gradient, weights):  # type: ignore[no-untyped-def]
    """``sum_n weights_n l_n`` of the block kernel's per-row divergences of ``(rows, V)``
    logits, over blocks of rows on the thread pool; ``gradient`` (or None) gets ``weights_n
    dl_n/dstudent``. Rows of weight 0 add 0 (whatever their logits)."""

    def rows(lo: int, hi: int) -> float:
        row_weights = weights[lo:hi]
        losses = block(
            student[lo:hi],
            teacher[lo:hi],
            None if gradient is None else gradient[lo:hi],
            row_weights,
        )
        return float(np.dot(np.where(row_weights != 0, losses, 0), row_weights))

    return np.asarray(
        sum(_parallel.map_rows(rows, student.shape[0], student.shape[1])), student.dtype
    )


def _token_weights(labels, ignore_index, reduction, num_rows, dtype):  # type: ignore[no-untyped-def]
    """Each token's weight in the reduced loss: ``keep / max(count, 1)`` for 'mean' (all zero
    when every token is ignored), ``keep`` for 'sum'."""
    keep = np.ones(num_rows, bool) if labels is None else (labels._data != ignore_index).reshape(-1)
    return keep.astype(dtype) / (max(int(keep.sum()), 1) if reduction == "mean" else 1)


def _distillation_loss(
    student_logits, teacher_logits, labels, ignore_index, reduction, divergence, beta, temperature
):  # type: ignore[no-untyped-def]
    """The reduced distillation loss as one fused kernel (``'mean'``, ``'sum'``, a teacher
    without gradient); ``_divergence_per_token`` and ``_token_mean`` are its definition (the
    ``'none'`` path and the recorded backward)."""
    reduction = _reduction.resolve(reduction, allowed=("none", "mean", "sum", "batchmean"))
    reduction = "mean" if reduction == "batchmean" else reduction

    def composite(scores: Tensor) -> Tensor:
        per_token = _divergence_per_token(scores, teacher_logits, divergence, beta, temperature)
        return _token_mean(per_token, labels, ignore_index, reduction)

    dtype = student_logits._data.dtype
    weights = _token_weights(
        labels,
        ignore_index,
        reduction,
        student_logits._data.size // max(student_logits.shape[-1], 1),
        dtype,
    )
    if (
        weights.size * student_logits.shape[-1] != student_logits._data.size
        or teacher_logits.requires_grad
        or teacher_logits._data.dtype != dtype
        or dtype.kind != "f"
    ):
        return composite(student_logits)
    block = _divergence_block(divergence, beta, temperature)

    def kernel(rows: np.ndarray, gradient: Any) -> np.ndarray:
        teacher = np.ascontiguousarray(teacher_logits._data.reshape(rows.shape))
        return _divergence_total(block, rows, teacher, gradient, weights)

    return fused(student_logits, kernel, composite, reduction)


def _token_mean(per_token, labels, ignore_index, reduction):  # type: ignore[no-untyped-def]
    """Mask the per-token losses ``(N,)`` by ``labels != ignore_index`` and reduce ('mean' over
    the tokens kept, the count clamped at 1: 0 when every token is ignored, as TRL and Liger)."""
    reduction = _reduction.resolve(reduction, allowed=("none", "mean", "sum", "batchmean"))
    if labels is not None:
        keep = labels._data != ignore_index
        per_token = where(Tensor._make(keep), per_token, 0.0)
        count = max(float(keep.sum()), 1.0)
    else:
        count = max(float(per_token.shape[0]), 1.0)
    if reduction == "batchmean":
        reduction = "mean"
    return _reduction.apply(per_token, reduction, denominator=count)


def generalized_jsd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor | None = None,
    *,
    beta: float = 0.5,
    temperature: float = 1.0,
    ignore_index: int = -100,
    reduction: str = "batchmean",
) -> Tensor:
    """Generalized Jensen-Shannon divergence between teacher and student token distributions.

    With ``S = softmax(student / T)``, ``P = softmax(teacher / T)`` over the last dimension and
    ``M = beta P + (1 - beta) S``, per token::

        l = beta KL(P || M) + (1 - beta) KL(S || M)

    ``beta = 0`` gives the forward KL ``KL(P || S)`` and ``beta = 1`` the reverse KL ``KL(S ||
    P)`` (the limits are taken exactly, as Liger does), ``beta = 0.5`` the symmetric JSD. Computed
    in log space: ``log M = logsumexp(log P + log beta, log S + log(1 - beta))``. Gradient
    (``0 < beta < 1``): ``dl/dlog S_c = (1 - beta) S_c (log S_c - log M_c - KL(S || M))``.

    Reference: Agarwal et al. 2024 (GKD); Liger-Kernel 0.8.5 ``LigerFusedLinearJSDLoss`` /
    chunked ``LigerFusedLinearJSDFunction.distillation_loss_fn`` (same ``beta`` convention;
    Liger sums over tokens and divides by the number of kept tokens: ``'batchmean'`` here).

    Args:
        student_logits, teacher_logits: ``(N, V)``.
        labels: optional ``(N,)``; tokens equal to ``ignore_index`` are skipped.
        beta: in [0, 1]. Default 0.5. temperature: ``T > 0``. Default 1.
        reduction: ``'batchmean'`` / ``'mean'`` (per kept token; every token ignored gives 0,
            with a zero gradient: the count is clamped at 1, as in TRL 1.16's
            ``GKDTrainer.generalized_jsd_loss`` and Liger) | ``'sum'`` | ``'none'``.

    Example:
        >>> import lossgrad as torch
        >>> s, t = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])
        >>> torch.nn.functional.generalized_jsd_loss(s, t, beta=0.0)
        tensor(0.4621)
    """
    _check_logits_pair("generalized_jsd_loss", student_logits, teacher_logits)
    _check_distillation("jsd", beta, temperature)
    return _distillation_loss(
        student_logits, teacher_logits, labels, ignore_index, reduction, "jsd", beta, temperature
    )


def tvd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor | None = None,
    *,
    temperature: float = 1.0,
    ignore_index: int = -100,
    reduction: str = "batchmean",
) -> Tensor:
    """Total variation distance ``l = 1/2 sum_c |S_c - P_c|`` between the token distributions
    ``S = softmax(student / T)`` and ``P = softmax(teacher / T)``.

    Gradient: ``dl/dS_c = sign(S_c - P_c) / 2`` (0 at ties), through the softmax.
    Reference: Liger-Kernel 0.8.5 ``LigerTVDLoss`` (Triton; its formula ``0.5 * |p - q|``
    summed over the vocabulary, written out in torch in the tests).

    Args:
        student_logits, teacher_logits: ``(N, V)``. labels, ignore_index, reduction: as in
        ``generalized_jsd_loss``. temperature: ``T > 0``.

    Example:
        >>> import lossgrad as torch
        >>> torch.nn.functional.tvd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 100.0]]))
        tensor(0.5000)
    """
    _check_logits_pair("tvd_loss", student_logits, teacher_logits)
    _check_distillation("tvd", 0.5, temperature)
    return _distillation_loss(
        student_logits, teacher_logits, labels, ignore_index, reduction, "tvd", 0.5, temperature
    )


def distillation_kl_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor | None = None,
    *,
    temperature: float = 1.0,
    ignore_index: int = -100,
    reduction: str = "batchmean",
) -> Tensor:
    """Hinton's knowledge-distillation loss ``T**2 KL(P || S)`` with ``P = softmax(teacher / T)``
    and ``S = softmax(student / T)`` per token.

    ``T**2`` keeps the gradient's scale independent of the temperature (Hinton et al. 2015):
    ``dl/dstudent_c = T (S_c - P_c)``. Equals ``T**2 * kl_div(log S, log P, log_target=True)``
    of torch per token.

    Args:
        student_logits, teacher_logits: ``(N, V)``. labels, ignore_index, reduction: as in
        ``generalized_jsd_loss``. temperature: ``T > 0``.

    Example:
        >>> import lossgrad as torch
        >>> s, t = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])
        >>> torch.nn.functional.distillation_kl_loss(s, t)
        tensor(0.4621)
    """
    _check_logits_pair("distillation_kl_loss", student_logits, teacher_logits)
    _check_distillation("kl", 0.5, temperature)
    return _distillation_loss(
        student_logits, teacher_logits, labels, ignore_index, reduction, "kl", 0.5, temperature
    )


class _ChunkedDistillation(ArrayFunction):
    """Per-token divergence ``per_token(student_input W_s^T + b_s, teacher logits)`` chunk by
    chunk: neither head's ``N x V`` logits are held, only one chunk of each.

    The teacher (its hidden states, head and bias, as arrays in ``teacher``) is a constant, as
    in Liger-Kernel's distillation losses. The backward recomputes each chunk's student logits
    and takes the gradient of that chunk's divergence by autograd (with ``create_graph`` when a
    graph is recorded, so second derivatives work), then frees the chunk.
    """

    @staticmethod
    def forward(ctx: Any, student_input, student_weight, student_bias, teacher, chunk, per_token):  # type: ignore[no-untyped-def]
        losses = np.empty(student_input.shape[0], student_input.dtype)
        rows_held = min(chunk, student_input.shape[0])
        student_scratch = _scratch(rows_held, student_weight.shape[0], student_input.dtype)
        teacher_scratch = _scratch(rows_held, teacher[1].shape[0], teacher[1].dtype)
        for start in _row_chunks(student_input.shape[0], chunk):
            rows = slice(start, start + chunk)
            student_logits = _chunk_logits(
                student_input[rows], student_weight, student_bias, None, student_scratch
            )
            teacher_logits = _chunk_logits(
                teacher[0][rows], teacher[1], teacher[2], None, teacher_scratch
            )
            losses[rows] = per_token(
                Tensor._make(student_logits), Tensor._make(teacher_logits)
            )._data
        ctx.save_for_backward(student_input, student_weight, student_bias)
        ctx.teacher, ctx.chunk, ctx.per_token = teacher, chunk, per_token
        return losses

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        create_graph = grad_mode.is_grad_enabled()
        needs = ctx.needs_input_grad[:3]
        inputs = list(ctx.saved_tensors)
        if not create_graph:  # a graph of this backward's own, one chunk at a time
            inputs = [
                None if x is None else x.detach().requires_grad_(need)
                for x, need in zip(inputs, needs)
            ]
        student_input, student_weight, student_bias = inputs
        teacher_input, teacher_weight, teacher_bias = ctx.teacher
        input_chunks, head_grads = [], [None, None]
        with grad_mode.enable_grad():
            for start in _row_chunks(student_input.shape[0], ctx.chunk):
                rows = slice(start, start + ctx.chunk)
                input_rows = student_input[rows]
                teacher_logits = _chunk_logits(
                    teacher_input[rows], teacher_weight, teacher_bias, None
                )
                losses = ctx.per_token(
                    linear(input_rows, student_weight, student_bias), Tensor._make(teacher_logits)
                )
                wanted = [
                    x for x, need in zip((input_rows, student_weight, student_bias), needs) if need
                ]
                found = iter(autograd_grad(losses, wanted, grad[rows], create_graph=create_graph))
                if needs[0]:
                    input_chunks.append(next(found))
                for slot, need in enumerate(needs[1:]):
                    if need:
                        chunk_grad = next(found)
                        head_grads[slot] = (
                            chunk_grad
                            if head_grads[slot] is None
                            else add(head_grads[slot], chunk_grad)
                        )
        grad_input = cat(input_chunks) if needs[0] else None
        if not create_graph:
            grad_input, *head_grads = [
                None if g is None else g.detach() for g in (grad_input, *head_grads)
            ]
        return grad_input, head_grads[0], head_grads[1], None, None, None


class _ChunkedDistillationTotal(_HeadTotal):
    """The reduced ``linear_distillation_loss`` ``sum_n w_n l_n`` (token weights ``w``: kept
    over the count for 'mean') with its gradient made in the forward, chunk by chunk, as
    ``_ChunkedHeadTotal`` does: the divergence's block kernel turns each chunk's student logits
    in place into ``G = w dl/dz``, which gives ``G W`` and ``G^T input`` at once; the backward
    scales them by the upstream gradient. Four matrix products per chunk (the two heads, the two
    gradients) instead of the six of a backward that recomputes both heads. ``backward`` (a graph
    recorded) differentiates ``composite``, the definition through ``_ChunkedDistillation``."""

    @staticmethod
    def forward(ctx: Any, student_input, student_weight, student_bias, teacher, weights, settings):  # type: ignore[no-untyped-def]
        chunk, block, composite = settings
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        keep = need_input or need_weight or need_bias
        grad_input = np.empty_like(student_input) if need_input else None
        grad_weight = np.empty_like(student_weight) if need_weight else None
        grad_bias = np.zeros_like(student_bias) if need_bias else None
        rows_held = min(chunk, student_input.shape[0])
        student_scratch = _scratch(rows_held, student_weight.shape[0], student_input.dtype)
        teacher_scratch = _scratch(rows_held, teacher[1].shape[0], teacher[1].dtype)
        total = 0.0
        for start in _row_chunks(student_input.shape[0], chunk):
            rows = slice(start, start + chunk)
            logits = _chunk_logits(
                student_input[rows], student_weight, student_bias, None, student_scratch
            )
            teacher_logits = _chunk_logits(
                teacher[0][rows], teacher[1], teacher[2], None, teacher_scratch
            )
            gradient = logits if keep else None  # the kernel reads each block before writing it
            total += float(
                _divergence_total(block, logits, teacher_logits, gradient, weights[rows])
            )
            if need_input:  # G W as (W^T G^T)^T, as in _ChunkedHeadTotal
                grad_input[rows] = np.matmul(student_weight.T, logits.T).T
            if need_weight:
                _add_transposed_product(grad_weight, logits, student_input[rows], start == 0)
            if need_bias:
                grad_bias += logits.sum(axis=0)
        ctx.save_for_backward(student_input, student_weight, student_bias)
        ctx.composite, ctx.kept_grads = composite, (grad_input, grad_weight, grad_bias)
        return np.asarray(total, student_input.dtype)


def linear_distillation_loss(
    student_input: Tensor,
    student_weight: Tensor,
    teacher_input: Tensor,
    teacher_weight: Tensor,
    labels: Tensor | None = None,
    *,
    student_bias: Tensor | None = None,
    teacher_bias: Tensor | None = None,
    divergence: str = "jsd",
    beta: float = 0.5,
    temperature: float = 1.0,
    ignore_index: int = -100,
    reduction: str = "batchmean",
    chunk_size: int = 1024,
) -> Tensor:
    """A distillation loss of the student's and teacher's linear heads, fused: the ``N x V``
    logits of the two heads are never held, ``chunk_size`` rows of each at a time.

    Equals ``generalized_jsd_loss`` (``divergence='jsd'``, with ``beta``), ``tvd_loss``
    (``'tvd'``) or ``distillation_kl_loss`` (``'kl'``, Hinton's ``T**2 KL(P || S)``) of the
    logits ``student_input @ student_weight^T + student_bias`` and ``teacher_input @
    teacher_weight^T + teacher_bias``, with ``labels``, ``ignore_index``, ``temperature`` and
    ``reduction`` as there. The teacher is a constant (no gradient flows into it, as in
    Liger-Kernel); gradients for the student's input, head and bias are those of the unfused
    loss, computed chunk by chunk (in the forward for the scalar reductions, in the backward for
    ``'none'``), and second derivatives work.

    Reference: Liger-Kernel 0.8.5 ``LigerFusedLinearJSDLoss`` (chunked, pure torch; with
    ``weight_hard_loss=0``, ``weight_soft_loss=1`` it is ``divergence='jsd'`` with
    ``'batchmean'``); Agarwal et al. 2024 (GKD), Hinton et al. 2015.

    Args:
        student_input: ``(N, D_s)``. student_weight: ``(V, D_s)``. student_bias: ``(V)``.
        teacher_input: ``(N, D_t)``. teacher_weight: ``(V, D_t)``. teacher_bias: ``(V)``.
        labels: optional ``(N,)``; tokens equal to ``ignore_index`` are skipped.
        divergence: ``'jsd'`` | ``'tvd'`` | ``'kl'``. Default ``'jsd'``.
        beta: the generalized JSD's ``beta`` in [0, 1] (``'jsd'`` only). Default 0.5.
        temperature: ``T > 0``. Default 1.
        reduction: ``'batchmean'`` / ``'mean'`` (per kept token; every token ignored gives 0,
            with a zero gradient: the count is clamped at 1, as in TRL 1.16's
            ``GKDTrainer.generalized_jsd_loss`` and Liger) | ``'sum'`` | ``'none'``.
        chunk_size: rows per chunk. Default 1024.

    Example:
        >>> import lossgrad as torch
        >>> hidden, head = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 0.0]])
        >>> teacher_head = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
        >>> F = torch.nn.functional
        >>> F.linear_distillation_loss(hidden, head, hidden, teacher_head, beta=0.0)
        tensor(0.4621)
    """
    _check_distillation(divergence, beta, temperature)
    for name, hidden, head in (
        ("student", student_input, student_weight),
        ("teacher", teacher_input, teacher_weight),
    ):
        if hidden.dim() != 2 or head.dim() != 2 or hidden.shape[1] != head.shape[1]:
            raise ValueError(
                f"linear_distillation_loss expects {name}_input (N, D) and {name}_weight (V, D), "
                f"got shapes {tuple(hidden.shape)} and {tuple(head.shape)}"
            )
    if (
        student_input.shape[0] != teacher_input.shape[0]
        or student_weight.shape[0] != teacher_weight.shape[0]
    ):
        raise ValueError(
            "linear_distillation_loss expects the same number of rows N and classes V for the "
            f"student and the teacher, got N = {student_input.shape[0]}, {teacher_input.shape[0]} "
            f"and V = {student_weight.shape[0]}, {teacher_weight.shape[0]}"
        )
    if not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    teacher = tuple(
        None if x is None else x.detach()._data
        for x in (teacher_input, teacher_weight, teacher_bias)
    )
    per_token = functools.partial(
        _divergence_per_token, divergence=divergence, beta=beta, temperature=temperature
    )
    reduction = _reduction.resolve(reduction, allowed=("none", "mean", "sum", "batchmean"))
    reduction = "mean" if reduction == "batchmean" else reduction

    def composite(hidden, head, bias):  # type: ignore[no-untyped-def]
        losses = _ChunkedDistillation.apply(hidden, head, bias, teacher, chunk_size, per_token)
        return _token_mean(losses, labels, ignore_index, reduction)

    dtype = student_input._data.dtype
    arrays = (student_weight._data, None if student_bias is None else student_bias._data)
    weights = _token_weights(labels, ignore_index, reduction, student_input.shape[0], dtype)
    if (
        reduction == "none"
        or weights.size != student_input.shape[0]
        or any(x is not None and x.dtype != dtype for x in (*teacher, *arrays))
    ):
        return composite(student_input, student_weight, student_bias)
    settings = (chunk_size, _divergence_block(divergence, beta, temperature), composite)
    return _ChunkedDistillationTotal.apply(
        student_input, student_weight, student_bias, teacher, weights, settings
    )


# -- DPO with the heads fused --------------------------------------------------------------------


def _label_log_softmax(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's log-softmax at its label and the row sums of ``exp(z - max z)`` (the
    exponentials overwrite ``logits``), over blocks of rows on the thread pool (each block's
    passes run while it is in cache)."""
    token_logps, sums = np.empty((2, logits.shape[0]), logits.dtype)

    def rows(lo: int, hi: int) -> None:
        block = logits[lo:hi]
        target_logit = block[np.arange(hi - lo), labels[lo:hi]]
        row_max = block.max(axis=1)
        row_max[~np.isfinite(row_max)] = 0
        exps = np.exp(np.subtract(block, row_max[:, None], out=block), out=block)
        sums[lo:hi] = exps.sum(axis=1)
        token_logps[lo:hi] = target_logit - row_max - np.log(sums[lo:hi])

    _parallel.map_rows(rows, *logits.shape)
    return token_logps, sums


def _label_log_softmax_gradient(
    exps: np.ndarray, sums: np.ndarray, labels: np.ndarray, coefficient: np.ndarray
) -> None:
    """``exps`` (``_label_log_softmax``'s) into ``c (onehot(y) - softmax(z))``, the gradient
    of ``sum_t c_t log p(y_t)`` by the logits, in place, over blocks of rows on the pool."""

    def rows(lo: int, hi: int) -> None:
        block = exps[lo:hi]
        np.multiply(block, (-coefficient[lo:hi] / sums[lo:hi])[:, None], out=block)
        block[np.arange(hi - lo), labels[lo:hi]] += coefficient[lo:hi]

    _parallel.map_rows(rows, *exps.shape)


def _pair_chunks(kept: np.ndarray, pairs: int, chunk: int) -> list[tuple[Any, ...]]:
    """The chunks of ``chunk`` (chosen, rejected) pairs of a ``(2B, T)`` mask of kept tokens:
    per chunk its first pair, its pair count, its sequences (the chosen, then the rejected),
    the flat rows of their kept tokens and the position in those sequences of each row's."""
    out = []
    for start in range(0, pairs, chunk):
        count = min(chunk, pairs - start)
        sequences = np.r_[start : start + count, pairs + start : pairs + start + count]
        tokens = kept[sequences]
        owner, position = np.nonzero(tokens)
        rows = sequences[owner] * kept.shape[1] + position
        out.append((start, count, sequences, rows, owner))
    return out


class _ChunkedDPOTotal(_HeadTotal):
    """The reduced ``linear_dpo_loss`` with the policy's gradient made in the forward, a chunk of
    whole (chosen, rejected) pairs at a time, as ``_ChunkedHeadTotal`` does for the
    cross-entropy: a pair's margin needs both of its sequences' log-probabilities, and with
    them each token's coefficient ``c = dL/dlog p(y_t)`` is known inside the chunk (the pair's
    ``-beta scale sigma(-u)``, signed, over the length when averaging, minus ``alpha / n_w`` on
    the chosen tokens with the NLL term), so the chunk's policy logits turn in place into ``G
    = c (onehot(y) - softmax(z))``, which gives ``G W`` and ``G^T input`` at once. Three
    matrix products per chunk for the policy, one for the reference head (no gradient), instead
    of the five of a forward, a reference and a backward that recomputes the logits; and only
    over the kept tokens: an ignored token (the prompt, padding) adds 0 to the loss and to every
    gradient, so its logits are never made. ``backward`` (a graph recorded) differentiates
    ``composite``, the definition through ``linear_sequence_log_probs`` and ``dpo_loss``, with
    the reference log-probabilities the forward found."""

    @staticmethod
    def forward(ctx: Any, hidden, linear_weight, bias, labels, reference, settings):  # type: ignore[no-untyped-def]
        chunk, beta, scale, nll_scale, average, ignore_index, composite = settings
        pairs, features = hidden.shape[0] // 2, hidden.shape[2]
        kept = labels != ignore_index
        sequence_scale = 1 / np.maximum(kept.sum(1), 1) if average else None
        flat_labels, flat_hidden = labels.reshape(-1), hidden.reshape(-1, features)
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_input = np.zeros_like(flat_hidden) if need_input else None
        grad_weight = np.empty_like(linear_weight) if need_weight else None
        grad_bias = np.zeros_like(bias) if need_bias else None
        head_reference = isinstance(reference, tuple)
        reference_logps = np.empty(2 * pairs, hidden.dtype) if head_reference else reference
        classes = max(linear_weight.shape[0], reference[1].shape[0] if head_reference else 0)
        chunks = _pair_chunks(kept, pairs, chunk)
        scratch = _scratch(max(len(rows) for *_, rows, _ in chunks), classes, hidden.dtype)
        total = 0.0
        for start, count, sequences, rows, owner in chunks:
            rows_labels = flat_labels[rows]
            if head_reference:
                ref_rows = reference[0].reshape(-1, reference[0].shape[-1])[rows]
                logits = _chunk_logits(ref_rows, *reference[1:], None, scratch)
                token_logps = _label_log_softmax(logits, rows_labels)[0]
                reference_logps[sequences] = _sequence_sums(
                    token_logps, owner, sequence_scale, sequences
                )
            inputs = flat_hidden[rows]
            logits = _chunk_logits(inputs, linear_weight, bias, None, scratch)
            token_logps, sums = _label_log_softmax(logits, rows_labels)
            log_ratios = _sequence_sums(token_logps, owner, sequence_scale, sequences)
            log_ratios -= reference_logps[sequences]
            margin = beta * (log_ratios[:count] - log_ratios[count:])
            chosen = owner < count
            total += scale * float(np.logaddexp(0, -margin).sum())
            total -= nll_scale * float(token_logps[chosen].sum())
            if grad_input is None and grad_weight is None and grad_bias is None:
                continue
            slope = -scale * beta * np.exp(-np.logaddexp(0, margin))
            coefficient = _token_coefficients(slope, sequence_scale, sequences, owner, hidden.dtype)
            coefficient[chosen] -= nll_scale
            _label_log_softmax_gradient(logits, sums, rows_labels, coefficient)
            if need_input:  # G W as (W^T G^T)^T, as in _ChunkedHeadTotal
                grad_input[rows] = np.matmul(linear_weight.T, logits.T).T
            if need_weight:
                _add_transposed_product(grad_weight, logits, inputs, start == 0)
            if need_bias:
                grad_bias += logits.sum(axis=0)
        ctx.save_for_backward(hidden, linear_weight, bias)
        ctx.composite = functools.partial(composite, reference=Tensor._make(reference_logps))
        if grad_input is not None:
            grad_input = grad_input.reshape(hidden.shape)
        ctx.kept_grads = grad_input, grad_weight, grad_bias
        return np.asarray(total, hidden.dtype)


def _token_coefficients(slope, sequence_scale, sequences, owner, dtype):  # type: ignore[no-untyped-def]
    """``dL/dlog p`` of each kept token of a chunk (``owner``: its sequence's position in the
    chunk's ``sequences``): the pairs' margin slope, plus for the chosen and minus for the
    rejected sequences, over their lengths when averaging."""
    per_sequence = np.concatenate([slope, -slope])
    if sequence_scale is not None:
        per_sequence *= sequence_scale[sequences]
    return per_sequence[owner].astype(dtype)


def _sequence_sums(token_logps, owner, sequence_scale, sequences):  # type: ignore[no-untyped-def]
    """Per-sequence sums of a chunk's kept tokens' log-probabilities (``owner``: each token's
    sequence's position in ``sequences``; over the length when averaging)."""
    sums = np.bincount(owner, weights=token_logps, minlength=len(sequences))
    return sums if sequence_scale is None else sums * sequence_scale[sequences]


def _check_linear_dpo(input, linear_weight, labels, ref_input, ref_weight, reference_logps):  # type: ignore[no-untyped-def]
    if (
        input.dim() != 3
        or input.shape[0] % 2
        or linear_weight.dim() != 2
        or linear_weight.shape[1] != input.shape[2]
        or tuple(labels.shape) != tuple(input.shape[:2])
    ):
        raise ValueError(
            "linear_dpo_loss expects input (2B, T, D) (the chosen sequences, then the rejected), "
            "linear_weight (V, D) and labels (2B, T), got shapes "
            f"{tuple(input.shape)}, {tuple(linear_weight.shape)} and {tuple(labels.shape)}"
        )
    if (ref_input is None) != (ref_weight is None) or (
        ref_input is not None and reference_logps is not None
    ):
        raise ValueError(
            "linear_dpo_loss takes the reference as ref_input and ref_weight together, or as "
            "reference_logps, not both"
        )
    if ref_input is not None and (
        tuple(ref_input.shape[:2]) != tuple(input.shape[:2])
        or ref_weight.dim() != 2
        or ref_weight.shape[1] != ref_input.shape[-1]
    ):
        raise ValueError(
            "linear_dpo_loss expects ref_input (2B, T, D_ref) and ref_weight (V, D_ref), got "
            f"shapes {tuple(ref_input.shape)} and {tuple(ref_weight.shape)} for input of shape "
            f"{tuple(input.shape)}"
        )
    if reference_logps is not None and tuple(reference_logps.shape) != (input.shape[0],):
        raise ValueError(
            f"linear_dpo_loss expects reference_logps of shape ({input.shape[0]},), got "
            f"{tuple(reference_logps.shape)}"
        )


def _dpo_reference(ref_input, ref_weight, ref_bias, reference_logps, sequences, dtype):  # type: ignore[no-untyped-def]
    """The reference as its head's arrays, its log-probabilities, or zeros (reference-free)."""
    if ref_input is not None:
        return tuple(
            None if x is None else x.detach()._data for x in (ref_input, ref_weight, ref_bias)
        )
    if reference_logps is not None:
        return reference_logps.detach()._data
    return np.zeros(sequences, dtype)


def linear_dpo_loss(
    input: Tensor,
    linear_weight: Tensor,
    labels: Tensor,
    *,
    linear_bias: Tensor | None = None,
    ref_input: Tensor | None = None,
    ref_weight: Tensor | None = None,
    ref_bias: Tensor | None = None,
    reference_logps: Tensor | None = None,
    beta: float = 0.1,
    ignore_index: int = -100,
    average_log_prob: bool = False,
    compute_nll_loss: bool = False,
    alpha: float = 1.0,
    reduction: str = "mean",
    chunk_size: int = 1,
) -> Tensor:
    """DPO (``loss_type='sigmoid'``) with the policy's and the reference's linear heads fused:
    the ``2B*T x V`` logits are never held, ``chunk_size`` (chosen, rejected) pairs at a time.

    ``input`` holds the policy's hidden states of the ``B`` chosen sequences, then of the ``B``
    rejected ones (Liger's layout). With the per-sequence log-probabilities ``s =
    linear_sequence_log_probs(input, linear_weight, labels)`` (``average_log_prob``: averaged
    over the kept tokens) and ``s_ref`` the same of the reference (``ref_input``,
    ``ref_weight``, ``ref_bias``; or given as ``reference_logps``; or 0, reference-free)::

        L = dpo_loss(s[:B], s[B:], s_ref[:B], s_ref[B:], beta)
            + alpha * (-sum of log p(y) over the kept chosen tokens) / max(n_w, 1)

    the second term only with ``compute_nll_loss`` (``n_w`` the number of kept chosen tokens).
    Gradient (policy only; the reference is a constant): ``dL/dz_t = c_t (onehot(y_t) -
    softmax(z_t))`` with ``c_t = -/+ beta sigma(-u) / B`` for a kept token of a chosen /
    rejected sequence (``u`` its pair's margin; over its length when averaging), minus ``alpha
    / n_w`` on chosen tokens; for the scalar reductions it is made in the forward, chunk by
    chunk. Second derivatives (``create_graph=True``) differentiate the composite definition.

    Reference: Liger-Kernel 0.8.5 ``LigerFusedLinearDPOLoss`` (the same arguments; a fully
    ignored sequence averages to 0 here where Liger divides 0 by 0); Rafailov et al. 2023.

    Args:
        input: ``(2B, T, D)``. linear_weight: ``(V, D)``. labels: int64 ``(2B, T)``.
        linear_bias: ``(V)``. ref_input: ``(2B, T, D_ref)``. ref_weight: ``(V, D_ref)``.
        ref_bias: ``(V)``. reference_logps: ``(2B,)`` instead of the reference's head.
        beta: ``beta > 0``. Default 0.1. ignore_index: label of tokens outside the completion.
        average_log_prob: length-average the log-probabilities. Default False.
        compute_nll_loss, alpha: add ``alpha`` times the chosen tokens' mean NLL.
        reduction: ``'mean'`` (over pairs) | ``'sum'`` | ``'none'`` (per pair, without NLL).
        chunk_size: pairs per chunk. Default 1.

    Example:
        >>> import lossgrad as torch
        >>> hidden, head = torch.zeros(2, 3, 2), torch.zeros(4, 2)
        >>> labels = torch.tensor([[1, 2, -100], [0, 3, 3]])
        >>> torch.nn.functional.linear_dpo_loss(hidden, head, labels, beta=0.5)
        tensor(0.4055)
    """
    _check_linear_dpo(input, linear_weight, labels, ref_input, ref_weight, reference_logps)
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}")
    if not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    reduction = _reduction.resolve(reduction)
    if reduction == "none" and compute_nll_loss:
        raise ValueError("compute_nll_loss=True needs reduction 'mean' or 'sum', got 'none'")
    pairs = input.shape[0] // 2
    chosen_count = int((labels._data[:pairs] != ignore_index).sum())
    nll_scale = alpha / max(chosen_count, 1) if compute_nll_loss else 0.0

    def composite(hidden, head, bias, reference):  # type: ignore[no-untyped-def]
        token_logps = _linear_token_log_probs(hidden, head, labels, bias, ignore_index, None)
        policy = _sequence_total(token_logps, labels, ignore_index, average_log_prob)
        loss = dpo_loss(
            policy[:pairs],
            policy[pairs:],
            reference[:pairs],
            reference[pairs:],
            beta=beta,
            reduction=reduction,
        )
        if not nll_scale:
            return loss
        return sub(loss, mul(_sum(token_logps[:pairs]), nll_scale))

    dtype = input._data.dtype
    reference = _dpo_reference(ref_input, ref_weight, ref_bias, reference_logps, 2 * pairs, dtype)
    arrays = (linear_weight._data, None if linear_bias is None else linear_bias._data)
    arrays += reference if isinstance(reference, tuple) else (reference,)
    if reduction == "none" or any(x is not None and x.dtype != dtype for x in arrays):
        if isinstance(reference, tuple):
            with grad_mode.no_grad():
                reference = linear_sequence_log_probs(
                    ref_input.detach(),
                    ref_weight.detach(),
                    labels,
                    linear_bias=None if ref_bias is None else ref_bias.detach(),
                    ignore_index=ignore_index,
                    average=average_log_prob,
                )._data
        return composite(input, linear_weight, linear_bias, Tensor._make(reference))
    scale = 1.0 / pairs if reduction == "mean" else 1.0
    settings = (chunk_size, beta, scale, nll_scale, average_log_prob, ignore_index, composite)
    return _ChunkedDPOTotal.apply(
        input, linear_weight, linear_bias, labels._data, reference, settings
    )


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = [
        name
        for name in public_names(globals())
        if name not in ("LinearCrossEntropyOptions", "CrossEntropyOutput")
    ]
