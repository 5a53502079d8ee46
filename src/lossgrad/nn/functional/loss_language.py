"""Losses for language models: the linear head and cross-entropy in one (``linear_cross_entropy``).

``linear_cross_entropy(input, linear_weight, target)`` is ``cross_entropy(linear(input,
linear_weight), target)``: torch 2.13's function, with its signature and its two paths.

* ``options=None`` (the reference path) is literally that composition, so every target kind,
  ``weight``, ``ignore_index``, ``label_smoothing``, K-dimensional ``out_features`` and reduction
  behave as ``cross_entropy`` does, with first and second derivatives.
* ``options=LinearCrossEntropyOptions(...)`` (the chunked path) never holds the ``N x V`` logits
  or their gradient: rows are processed ``batch_chunk_size`` at a time, the forward keeps only
  the log-sum-exp terms, and the backward recomputes each chunk's softmax. Unlike torch's chunked
  path (whose gradient is computed inside the forward and is silently first-order), lossgrad's
  backward is written with lossgrad ops when a graph is recorded, so ``create_graph=True`` and
  ``gradgradcheck`` work here too. The cases torch's chunked path does not cover (K-dimensional
  ``out_features``, ``label_smoothing != 0``, non-int64 or probability targets) fall back to the
  reference path with torch's warning.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from lossgrad import _dtype
from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _reduction
from lossgrad.nn.functional.loss_classification import cross_entropy
from lossgrad.ops.activation import softmax
from lossgrad.ops.index import index_select
from lossgrad.ops.linalg import linear, matmul
from lossgrad.ops.pointwise import add, div, mul, square, sub, tanh, where
from lossgrad.ops.reduce import logsumexp
from lossgrad.ops.reduce import sum as _sum
from lossgrad.ops.shape import cat, reshape, squeeze, t, unsqueeze

_ACC_POLICIES = ("accurate", "balanced", "compact", "auto")


@dataclasses.dataclass(slots=True, frozen=True)
class LinearCrossEntropyOptions:
    """Options of ``linear_cross_entropy``'s chunked path (torch's ``LinearCrossEntropyOptions``).

    Passing an instance (even ``LinearCrossEntropyOptions()``) selects the chunked path. The
    fields and their validation are torch's. The chunk size is resolved as torch resolves it on
    a CPU float32/float64 input: ``chunking_method='auto'`` means ``'aspect_ratio:2'``, i.e.
    ``next_pow2(ceil(N / ceil(V / D))) // 2`` rows per chunk (capped at ``N``); an explicit
    ``batch_chunk_size`` disables the heuristic. With the default ``'auto'`` lossgrad takes at
    least ``D // 8`` rows per chunk (a ``chunk x V`` block an eighth of the head's size): each
    chunk re-reads the whole ``V x D`` head and accumulates its gradient, so on the CPU, where
    that traffic dominates, tiny chunks cost time without lowering the peak, which the head's
    gradient sets. ``acc_policy``, ``acc_dtype`` and
    ``allow_retain_graph`` are accepted and validated for compatibility: lossgrad accumulates in
    the input's dtype (what torch does for float32/float64 input) and its backward recomputes
    from saved inputs, so ``retain_graph=True`` always works.

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
                "batch_chunk_size must be positive int or None, got "
                f"{self.batch_chunk_size!r}"
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


def _chunk_logits(input: np.ndarray, linear_weight: np.ndarray, bias: Any) -> np.ndarray:
    logits = input @ linear_weight.T
    if bias is not None:
        logits += bias
    return logits


def _log_sum_exp_rows(logits: np.ndarray) -> np.ndarray:
    """``log sum_c exp(logits[:, c])`` with the row maximum shifted out (finite rows)."""
    row_max = logits.max(axis=1, keepdims=True)
    row_max[~np.isfinite(row_max)] = 0
    total = np.exp(logits - row_max).sum(axis=1, keepdims=True)
    return (np.log(total) + row_max)[:, 0]


class _ChunkedTokenNLL(ArrayFunction):
    """Per-row ``lse_n - z[n, y_n]`` of the logits ``z = input W^T + b``, chunk by chunk.

    Rows whose target is ``ignore_index`` give 0 and no gradient. Forward and first-order
    backward run on arrays and hold one ``chunk x V`` block at a time; ``backward`` (run when a
    graph is recorded) is the same gradient ``(softmax(z) - onehot(y)) * g`` written with lossgrad
    ops, chunk by chunk, so autograd differentiates it again.
    """

    @staticmethod
    def forward(ctx: Any, input, linear_weight, bias, target, ignore_index, chunk):  # type: ignore[no-untyped-def]
        valid = target != ignore_index
        safe_target = np.where(valid, target, 0)
        nll = np.empty(input.shape[0], input.dtype)
        for start in _row_chunks(input.shape[0], chunk):
            rows = slice(start, start + chunk)
            logits = _chunk_logits(input[rows], linear_weight, bias)
            target_logit = logits[np.arange(logits.shape[0]), safe_target[rows]]
            nll[rows] = _log_sum_exp_rows(logits) - target_logit
        nll[~valid] = 0
        ctx.save_for_backward(input, linear_weight, bias)
        ctx.valid, ctx.safe_target, ctx.chunk = valid, safe_target, chunk
        return nll

    @staticmethod
    def backward_array(ctx: Any, grad: np.ndarray) -> tuple[Any, ...]:
        input, linear_weight, bias = ctx._saved_arrays()
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        coefficient = np.where(ctx.valid, grad, 0).astype(input.dtype)
        grad_input = np.empty_like(input) if need_input else None
        grad_weight = np.zeros_like(linear_weight) if need_weight else None
        grad_bias = np.zeros_like(bias) if need_bias else None
        for start in _row_chunks(input.shape[0], ctx.chunk):
            rows = slice(start, start + ctx.chunk)
            logits = _chunk_logits(input[rows], linear_weight, bias)
            probs = np.exp(logits - _log_sum_exp_rows(logits)[:, None], out=logits)
            probs[np.arange(probs.shape[0]), ctx.safe_target[rows]] -= 1
            probs *= coefficient[rows, None]
            if need_input:
                grad_input[rows] = probs @ linear_weight
            if need_weight:
                if start == 0:
                    np.matmul(probs.T, input[rows], out=grad_weight)
                else:
                    grad_weight += probs.T @ input[rows]
            if need_bias:
                grad_bias += probs.sum(axis=0)
        return grad_input, grad_weight, grad_bias, None, None, None

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        input, linear_weight, bias = ctx.saved_tensors
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        coefficient = where(Tensor._make(ctx.valid), grad, 0.0)
        num_classes = linear_weight.shape[0]
        input_chunks, grad_weight, grad_bias = [], None, None
        for start in _row_chunks(input.shape[0], ctx.chunk):
            rows = slice(start, start + ctx.chunk)
            input_rows = input[rows]
            target_rows = ctx.safe_target[rows]
            one_hot = np.zeros((target_rows.size, num_classes), input_rows._data.dtype)
            one_hot[np.arange(target_rows.size), target_rows] = 1
            probs = softmax(linear(input_rows, linear_weight, bias), 1)
            grad_logits = mul(sub(probs, Tensor._make(one_hot)), unsqueeze(coefficient[rows], 1))
            if need_input:
                input_chunks.append(matmul(grad_logits, linear_weight))
            if need_weight:
                chunk_weight = matmul(t(grad_logits), input_rows)
                grad_weight = chunk_weight if grad_weight is None else grad_weight + chunk_weight
            if need_bias:
                chunk_bias = _sum(grad_logits, 0)
                grad_bias = chunk_bias if grad_bias is None else grad_bias + chunk_bias
        grad_input = cat(input_chunks) if need_input else None
        return grad_input, grad_weight, grad_bias, None, None, None


def _chunked(input, linear_weight, target, linear_bias, weight, reduction, ignore_index, options):  # type: ignore[no-untyped-def]
    """The chunked path: per-token NLL from ``_ChunkedTokenNLL``, class weights and the reduction
    with lossgrad ops (so ``weight`` is differentiable too)."""
    batched = input.dim() == 2
    if not batched:
        input, target = unsqueeze(input, 0), unsqueeze(target, 0)
    num_batches, in_features = input.shape
    chunk = options.rows_per_chunk(num_batches, in_features, linear_weight.shape[0])
    if options.chunking_method == "auto" and options.batch_chunk_size is None:
        chunk = max(chunk, min(num_batches, in_features // 8))
    nll = _ChunkedTokenNLL.apply(input, linear_weight, linear_bias, target._data, ignore_index, chunk)
    valid = target._data != ignore_index
    if weight is None:
        token_weight: Any = Tensor._make(valid.astype(nll._data.dtype))
        losses = nll
    else:
        safe_target = Tensor._make(np.where(valid, target._data, 0))
        token_weight = where(Tensor._make(valid), index_select(weight, 0, safe_target), 0.0)
        losses = mul(nll, token_weight)
    if not batched:
        losses = squeeze(losses, 0)
    return _reduction.apply(losses, reduction, denominator=_sum(token_weight))


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


class LinearCrossEntropyOutput(NamedTuple):
    """What ``linear_cross_entropy`` returns when asked for the z-loss or the token accuracy."""

    loss: Tensor
    z_loss: Tensor | None
    token_accuracy: Tensor | None


def _with_extras(
    input, linear_weight, target, linear_bias, weight, reduction, ignore_index, label_smoothing,
    extras,
):  # type: ignore[no-untyped-def]
    """The reference path plus z-loss, soft-capping and token accuracy (Liger's conventions)."""
    lse_square_scale, softcap, return_z_loss, return_token_accuracy = extras
    if softcap is not None and not softcap > 0:
        raise ValueError(f"softcap must be a positive number or None, got {softcap}")
    if target.dtype != _dtype.int64:
        raise TypeError(
            "lse_square_scale, softcap, return_z_loss and return_token_accuracy need class-index "
            f"(int64) targets, got target of dtype {target.dtype}"
        )
    num_classes, in_features = linear_weight.shape[0], linear_weight.shape[-1]
    out_features = tuple(linear_weight.shape[1:-1])
    flat_classes = int(np.prod(out_features)) * num_classes
    logits = linear(
        input,
        reshape(linear_weight, (flat_classes, in_features)),
        reshape(linear_bias, (flat_classes,)) if linear_bias is not None else None,
    )
    logits = reshape(logits, (*input.shape[:-1], num_classes, *out_features))
    if softcap is not None:
        logits = mul(tanh(mul(logits, 1.0 / softcap)), softcap)
    loss = cross_entropy(logits, target, weight=weight, reduction=reduction,
                         ignore_index=ignore_index, label_smoothing=label_smoothing)
    class_dim = 1 if input.dim() == 2 else 0
    valid = Tensor._make(target._data != ignore_index)
    tokens = _sum(valid)
    z_loss = where(valid, mul(square(logsumexp(logits, class_dim)), lse_square_scale), 0.0)
    z_loss = _reduction.apply(z_loss, reduction, denominator=tokens)
    loss = add(loss, z_loss)
    accuracy = None
    if return_token_accuracy:
        correct = (np.argmax(logits._data, axis=class_dim) == target._data) & valid._data
        correct = Tensor._make(correct.astype(logits._data.dtype))
        accuracy = correct if reduction == "none" else div(_sum(correct), tokens)
    if not (return_z_loss or return_token_accuracy):
        return loss
    return LinearCrossEntropyOutput(loss, z_loss if return_z_loss else None, accuracy)


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

    Returns:
        A scalar, or the per-token loss for ``reduction='none'``. With ``return_z_loss`` or
        ``return_token_accuracy``: a ``LinearCrossEntropyOutput(loss, z_loss,
        token_accuracy)`` namedtuple (None for what was not asked).

    The extensions follow Liger-Kernel's ``LigerCrossEntropyLoss`` conventions: the z-loss is
    not scaled by ``weight``; under ``'mean'`` it is divided by the number of tokens not
    ignored, and the returned ``z_loss`` is reduced as the loss; the token accuracy is per token
    (0 for ignored tokens) under ``'none'`` and the mean over tokens not ignored otherwise.
    They apply to class-index targets and run the reference path (the logits are built).

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
    if input.dim() < 1 or input.dim() > 2:
        raise RuntimeError(f"expected input with dimensionality 1 or 2, got {input.dim()}")
    if linear_weight.dim() < 2:
        raise RuntimeError(
            "expected linear_weight with dimensionality at least 2, got "
            f"{linear_weight.dim()}"
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
    logits_shape = (*num_batches, num_classes, *out_features)
    if tuple(target.shape) == logits_shape and ignore_index is not None:
        raise RuntimeError("ignore_index cannot be specified when target contains probabilities")
    ignore_index = ignore_index if ignore_index is not None else -100
    extras = (lse_square_scale, softcap, return_z_loss, return_token_accuracy)
    if extras != (0.0, None, False, False):
        return _with_extras(
            input, linear_weight, target, linear_bias, weight, reduction, ignore_index,
            label_smoothing, extras,
        )
    if options is not None:
        chunkable = (
            not out_features
            and reduction in ("mean", "sum", "none")
            and label_smoothing == 0.0
            and target.dtype == _dtype.int64
        )
        if chunkable:
            return _chunked(
                input, linear_weight, target, linear_bias, weight, reduction, ignore_index, options
            )
        _fallback_warning(reduction, label_smoothing, target, out_features, linear_bias)
    if out_features:
        flat_classes = int(np.prod(out_features)) * num_classes
        linear_weight = reshape(linear_weight, (flat_classes, in_features))
        if linear_bias is not None:
            linear_bias = reshape(linear_bias, (flat_classes,))
    logits = reshape(linear(input, linear_weight, linear_bias), logits_shape)
    return cross_entropy(
        logits,
        target,
        weight=weight,
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = [
        name
        for name in public_names(globals())
        if name not in ("LinearCrossEntropyOptions", "LinearCrossEntropyOutput")
    ]
