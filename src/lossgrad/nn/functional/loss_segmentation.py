"""Segmentation losses (lossgrad extensions): soft Dice and its relatives, MCC, Lovász.

torch.nn has none of these; segmentation users take them from MONAI, segmentation_models_pytorch
(smp), kornia or Keras, which disagree on definitions under the same name. Each loss here is one
composite of lossgrad ops (so autograd gives second derivatives) whose keywords reproduce each
library's convention; MONAI's keyword names and defaults are the default convention. Some
steps are fused ops with a NumPy first derivative and a differentiable ``backward`` (Chainer's two
paths): the soft counts of class-index targets (``_IndexTargetCounts``: no one-hot target, one
input-sized buffer in the backward, in cache-sized pieces over the thread pool), the loss of the
counts (``_ScoreLoss``, ``_MatthewsLoss``), both at once for class indices (``_IndexTargetLoss``:
one op from the logits to the loss) and the Lovasz-softmax errors (``_LovaszErrors``); tests check
each against its composite and the reference libraries.

All overlap losses share one pipeline on ``input`` of shape ``(B, C, *spatial)``:

1. the activation (``sigmoid``, ``softmax`` over channels, or ``other_act``) gives ``p``;
2. the target becomes a one-hot ``g`` of the same shape (``to_onehot_y`` for class indices);
   ``ignore_index`` masks pixels out of both; ``include_background=False`` drops channel 0;
3. soft counts per (sample, class) -- or pooled over the batch (``batch=True``) or over the
   classes (``pool_classes=True``)::

       tp = sum p g        fp = sum p - tp        fn = sum g - tp

   (with ``squared_pred`` or ``soft_label``: ``tp = (|p|^k + |g|^k - |p - g|^k) / 2`` summed,
   k = 2 or 1, which equals the products for hard labels and is right for soft ones);
4. a score from the counts, a loss ``1 - score`` per (sample, class), a class weight, a reduction
   (``class_average``: a weighted mean over the classes of each sample first).

The Tversky index ``(tp + s_nr) / (tp + alpha fp + beta fn + s_dr)`` is the common score: Dice is
alpha = beta = 1/2 (with MONAI's smoothing written ``(2 tp + s_nr) / (2 tp + fp + fn + s_dr)``),
Jaccard alpha = beta = 1.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lossgrad import _parallel
from lossgrad._exports import public_names
from lossgrad._factories import from_numpy
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _checks, _kept, _reduction
from lossgrad.nn.functional._fused import needs_no_shift
from lossgrad.ops import reduce as _R
from lossgrad.ops.activation import relu
from lossgrad.ops.activation import softmax as _softmax
from lossgrad.ops.linalg import matmul
from lossgrad.ops.pointwise import _np_sigmoid, clamp_min, log, sigmoid, sqrt, where
from lossgrad.ops.pointwise import abs as _abs
from lossgrad.ops.shape import reshape

_HALF_FLOATS = (np.dtype(np.float16),)
_CLASS_AVERAGES = (None, "weighted", "present")


class _TargetShapeError(ValueError, AssertionError):
    """A target whose shape does not fit the input. A ValueError, torch's class for mismatched
    shapes in a loss, that is also the AssertionError MONAI and smp raise, so that code written
    against either catches it (as NumPy's ``AxisError`` is both a ValueError and an IndexError)."""


class _ClassIndexError(ValueError, RuntimeError):
    """A class index outside ``[0, C)``: a ValueError that is also the RuntimeError of torch's
    ``one_hot`` (and ``scatter``) which MONAI, smp and kornia raise."""


# -- the shared pipeline ---------------------------------------------------------------------------


def _one_hot(labels: np.ndarray, num_classes: int, dtype: np.dtype) -> np.ndarray:
    """``(B, 1, *spatial)`` or ``(B, *spatial)`` class indices -> ``(B, C, *spatial)`` one-hot."""
    if labels.ndim >= 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    classes = np.arange(num_classes).reshape((1, num_classes) + (1,) * (labels.ndim - 1))
    return (labels[:, None] == classes).astype(dtype)


def _class_indices(target: Tensor, num_classes: int, ignore_index: int | None) -> np.ndarray:
    """The integer labels of an index target; ValueError naming ``target`` when out of range."""
    labels = target._data
    if labels.dtype.kind == "f":
        small = None if ignore_index is not None else _small_class_indices(labels, num_classes)
        if small is not None:
            return small
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise _ClassIndexError(
                "target: class indices must be whole numbers, got non-integer values"
            )
    labels = labels.astype(np.int64, copy=False)
    valid = labels if ignore_index is None else labels[labels != ignore_index]
    if not _checks.indices_within(valid, num_classes):
        raise _ClassIndexError(
            f"target: class indices must lie in [0, {num_classes}) for input with {num_classes} "
            f"channels, got values in [{valid.min()}, {valid.max()}]"
        )
    return labels


def _activate(
    input: Tensor, sigmoid_: bool, softmax_: bool, other_act: Callable[..., Tensor] | None
) -> Tensor:
    if other_act is not None and not callable(other_act):
        raise TypeError(f"other_act must be None or callable but is {type(other_act).__name__}.")
    if int(sigmoid_) + int(softmax_) + int(other_act is not None) > 1:
        raise ValueError(
            "Incompatible values: more than 1 of [sigmoid=True, softmax=True, "
            "other_act is not None]."
        )
    if sigmoid_:
        return sigmoid(input)
    if softmax_:
        if input.shape[1] == 1:
            warnings.warn("single channel prediction, `softmax=True` ignored.", stacklevel=4)
            return input
        return _softmax(input, 1)
    if other_act is not None:
        return other_act(input)
    return input


def _probabilities_and_targets(
    input: Tensor,
    target: Tensor,
    *,
    include_background: bool,
    to_onehot_y: bool,
    sigmoid_: bool,
    softmax_: bool,
    other_act: Callable[..., Tensor] | None,
    ignore_index: int | None,
    classes: Sequence[int] | None = None,
) -> tuple[Tensor, Tensor]:
    """Steps 1-2 of the module docstring: ``(p, g)`` of one shape ``(B, C', *spatial)``, masked;
    ``classes`` keeps those channels only (after the activation).

    float16 inputs are computed in float32 (the sums over large images would overflow).
    """
    input = _checked_input(input, target)
    dtype = input._data.dtype
    num_classes = input.shape[1]
    prob = _activate(input, sigmoid_, softmax_, other_act)
    index_target = to_onehot_y and num_classes > 1
    if to_onehot_y and num_classes == 1:
        warnings.warn("single channel prediction, `to_onehot_y=True` ignored.", stacklevel=3)
    mask: np.ndarray | None = None
    if index_target:
        labels = _index_labels(input, target, ignore_index)
        if ignore_index is not None:
            mask = (labels != ignore_index).astype(dtype)
            labels = np.where(labels == ignore_index, 0, labels)
        onehot = from_numpy(_one_hot(labels, num_classes, dtype))
    else:
        if ignore_index is not None:
            mask = _ignore_mask(target._data, ignore_index, dtype)
        onehot = target if target._data.dtype == dtype else target.to(dtype)
    if not include_background:
        if num_classes == 1:
            warnings.warn(
                "single channel prediction, `include_background=False` ignored.", stacklevel=3
            )
        else:
            onehot, prob = onehot[:, 1:], prob[:, 1:]
    if tuple(onehot.shape) != tuple(prob.shape):
        raise _TargetShapeError(
            f"target: ground truth has different shape {tuple(onehot.shape)} from input "
            f"{tuple(prob.shape)}"
        )
    if classes is not None:
        kept = _class_selection(classes, num_classes, include_background)
        prob, onehot = prob[:, kept], onehot[:, kept]
    if mask is not None:
        masked = from_numpy(mask)
        prob, onehot = prob * masked, onehot * masked
    return prob, onehot


def _checked_input(input: Tensor, target: Tensor) -> Tensor:
    """``input`` checked to be ``(B, C, *spatial)`` floats; float16 computed in float32 (the sums
    over large images would overflow)."""
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if input.dim() < 3:
        raise ValueError(
            f"input: expected shape (B, C, *spatial) with at least one spatial dimension, got "
            f"{tuple(input.shape)}"
        )
    if input._data.dtype.kind != "f":
        raise TypeError(f"input: expected a floating point tensor, got {input.dtype}")
    return input.float() if input._data.dtype in _HALF_FLOATS else input


def _small_class_indices(labels: np.ndarray, num_classes: int) -> np.ndarray | None:
    """Float class indices in `_class_column`'s small integer type when all are whole numbers
    in ``[0, C)`` (else None: the general path checks them and says what is wrong). Three passes
    (extremes by index, the cast, the comparison back) instead of the general path's seven, on
    the calling thread before the pool's work; and the fused kernel compares in that type and
    reads an eighth of an int64 copy's bytes, twice per call."""
    flat = labels.reshape(-1)
    if not flat.size or not 0 <= flat[flat.argmin()] <= flat[flat.argmax()] < num_classes:
        return None  # NaN fails the comparisons
    small = labels.astype(_class_column(num_classes).dtype)
    return small if (small == labels).all() else None


def _index_labels(input: Tensor, target: Tensor, ignore_index: int | None) -> np.ndarray:
    """The class indices of ``target`` as ``(B, 1, *spatial)`` integers, checked (shape, range)."""
    if target.dim() == input.dim() - 1:  # (B, *spatial) class indices, as smp and kornia take
        target = reshape(target, (target.shape[0], 1, *target.shape[1:]))
    if target.dim() != input.dim() or target.shape[1] != 1:
        raise _TargetShapeError(
            f"target: with to_onehot_y=True expected class indices of shape (B, 1, *spatial) "
            f"or (B, *spatial) for input {tuple(input.shape)}, got {tuple(target.shape)}"
        )
    return _class_indices(target, input.shape[1], ignore_index)


def _class_selection(classes: Sequence[int], num_classes: int, include_background: bool) -> list:
    """smp's ``classes``: channel indices of the input, checked."""
    kept = [int(c) for c in classes]
    if not include_background:
        raise ValueError(
            "classes: give either classes or include_background=False (leave channel 0 out of "
            f"classes instead), got classes={list(classes)}"
        )
    if not kept or min(kept) < -num_classes or max(kept) >= num_classes:
        raise ValueError(
            f"classes: expected channel indices in [0, {num_classes}) for input with "
            f"{num_classes} channels, got {list(classes)}"
        )
    return kept


def _ignore_mask(target: np.ndarray, ignore_index: int, dtype: np.dtype) -> np.ndarray:
    """MONAI's mask for a one-hot or one-channel target (1 = counted)."""
    if target.shape[1] == 1:
        return (target != ignore_index).astype(dtype)
    if 0 <= ignore_index < target.shape[1]:
        return (1 - target[:, ignore_index : ignore_index + 1]).astype(dtype)
    return (target.sum(axis=1, keepdims=True) > 0).astype(dtype)


def _reduce_axes(ndim: int, batch: bool) -> tuple[int, ...]:
    """The axes of the per-class counts: the spatial ones, and the batch with ``batch``."""
    return (0,) * batch + tuple(range(2, ndim))


def _soft_counts(
    prob: Tensor, onehot: Tensor, axes: tuple[int, ...], power: int, soft_label: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """``(tp, predicted, actual)``: soft true positives, ``sum |p|^k`` and ``sum |g|^k``."""
    if power == 1 and not soft_label:
        return (
            _R.sum(prob * onehot, axes),
            _R.sum(prob, axes),
            _R.sum(onehot, axes),
        )
    if power == 1:
        predicted, actual = _R.sum(_abs(prob), axes), _R.sum(_abs(onehot), axes)
        difference = _R.sum(_abs(prob - onehot), axes)
    else:
        predicted, actual = _R.sum(prob * prob, axes), _R.sum(onehot * onehot, axes)
        residual = prob - onehot
        difference = _R.sum(residual * residual, axes)
    return (predicted + actual - difference) * 0.5, predicted, actual


class _IndexTarget(NamedTuple):
    """Class indices ready for the fused counts (`_index_target`): ``labels`` as ``(rows,
    pixels)`` (ignored pixels set to 0), ``valid`` (1 = counted; None: every pixel), the
    activation (``'softmax'``, ``'sigmoid'`` or None), the channels ``kept`` (a slice or a list)
    and ``batch`` (the counts pooled over the samples)."""

    labels: np.ndarray
    valid: np.ndarray | None
    activation: str | None
    kept: Any
    batch: bool


def _index_counts(
    x: np.ndarray, target: _IndexTarget
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(tp, sum p, sum g, p)``: the counts per (sample, kept class) -- per class with
    ``batch`` -- of ``p = activation(x)`` against class indices, without a one-hot float target:
    per piece of pixels (`_Pieces`), a boolean one-hot mask selects each pixel's own class
    (``tp``, and ``sum g``), and ``sum p`` runs over the valid pixels; ``p`` in the shape of
    ``x``, for the gradient."""
    labels, valid, activation, kept, batch = target
    rows, num_classes = x.shape[:2]
    logits = x.reshape(rows, num_classes, -1)
    prob_array = np.empty(x.shape, x.dtype)
    prob = prob_array.reshape(logits.shape)
    pieces = _Pieces(logits.shape)
    partial = np.empty((3, rows, pieces.per_row, num_classes), x.dtype)  # per piece
    classes = _class_column(num_classes)

    def piece(row: slice, pixel: slice, index: int) -> None:
        probs = _activation_array(logits[row, :, pixel], activation, prob[row, :, pixel])
        valid_part = None if valid is None else valid[row, pixel]
        own = _own_class(labels[row, pixel], classes, valid_part, x.dtype)
        ones = _parallel.ones(own.shape[-1], x.dtype)
        counts = partial[:, row, index]
        counts[0] = np.matmul(probs[:, :, None], own[..., None])[..., 0, 0]
        if valid_part is None:
            counts[1] = probs @ ones
        else:
            counts[1] = np.matmul(probs, valid_part[:, :, None])[..., 0]
        counts[2] = own @ ones

    pieces.run(piece)
    counts = partial[..., kept].sum(2)
    tp, predicted, actual = counts.sum(1) if batch else counts
    return tp, predicted, actual, prob_array


def _index_counts_gradient(
    prob: np.ndarray,
    target: _IndexTarget,
    d_tp: np.ndarray,
    d_predicted: np.ndarray,
    overwrite: bool = False,
) -> np.ndarray:
    """``dl/dx`` (of ``x``'s shape, as ``p``) from the gradients of ``tp`` and ``sum p``, per
    piece of pixels into one buffer (`_IndexTargetCounts`' formula). ``overwrite`` (``p``'s
    last use) writes it over ``p``, the buffer the leaf's ``.grad`` then takes: no second
    input-sized array per call. (With two such arrays freed per call the allocator handed their
    memory back to the system, and each call faulted it in again: a third of the time of a
    16x4x256x256 Dice.)"""
    labels, valid, activation, kept, _batch = target
    rows, num_classes = prob.shape[:2]
    grad = np.zeros((2, rows, num_classes, 1), prob.dtype)
    grad[0][:, kept, 0], grad[1][:, kept, 0] = d_tp, d_predicted  # broadcast with batch
    d_input = prob if overwrite else np.empty_like(prob)
    d_prob = d_input.reshape(rows, num_classes, -1)
    prob = prob.reshape(d_prob.shape)
    classes = _class_column(num_classes)

    def piece(row: slice, pixel: slice, _index: int) -> None:
        valid_part = None if valid is None else valid[row, pixel]
        probs = prob[row, :, pixel]
        d_part = _parallel.scratch(probs.size, probs.dtype).reshape(probs.shape)  # dl/dp
        own = _own_class(labels[row, pixel], classes, valid_part, prob.dtype)
        np.multiply(own, grad[0, row], out=d_part)
        if valid_part is None:
            d_part += grad[1, row]
        else:
            d_part += grad[1, row] * valid_part[:, None]
        out = d_prob[row, :, pixel]
        work = _parallel.scratch(d_part.size, d_part.dtype, slot=1).reshape(d_part.shape)
        if activation == "softmax":  # p (d - sum_c p d), the channel sum as a product with ones
            d_part -= _channel_sum(np.multiply(probs, d_part, out=work))
            np.multiply(d_part, probs, out=out)
        elif activation == "sigmoid":  # d (p (1 - p))
            np.subtract(1, probs, out=work)
            work *= probs
            np.multiply(d_part, work, out=out)
        else:
            out[...] = d_part

    _Pieces(prob.shape).run(piece)
    return d_input


class _IndexTargetCounts(ArrayFunction):
    """``(tp, sum p, sum g)`` per (sample, class) of ``p = activation(x)`` against class
    indices (`_index_counts`).

    Gradient, with ``d = dl/dp``::

        d[b, c, i] = valid_i (dl/dtp[b, c] [y_i = c] + dl/dsum[b, c])

    (0 for a channel not kept), then through the activation: softmax ``p (d - sum_c p d)``,
    sigmoid ``p (1 - p) d``. The first-order backward writes it into one buffer the size of
    ``x``, piece by piece (`_index_counts_gradient`; the composite needs a one-hot target and
    several such buffers); ``backward`` is the same formula in lossgrad ops (the one-hot target
    made there), so second derivatives come from autograd.
    """

    node_name = "IndexTargetCountsBackward0"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, target: _IndexTarget) -> tuple[np.ndarray, ...]:
        tp, predicted, actual, prob = _index_counts(x, target)
        ctx.save_for_backward(x)
        ctx.target, ctx.prob = target, prob
        ctx.mark_non_differentiable(actual)
        return tp, predicted, actual

    @staticmethod
    def backward_array(ctx: Any, d_tp: np.ndarray, d_predicted: np.ndarray, _: Any) -> Any:
        prob, last = ctx.prob, ctx.last_use
        if last:
            ctx.prob = None
        return _index_counts_gradient(prob, ctx.target, d_tp, d_predicted, last), None

    @staticmethod
    def backward(ctx: Any, d_tp: Tensor, d_predicted: Tensor, _: Any) -> tuple[Any, ...]:
        (x,) = ctx.saved_tensors
        labels, valid, activation, kept, _batch = ctx.target
        rows, num_classes = x.shape[:2]
        dtype = x._data.dtype
        selection = np.eye(num_classes, dtype=dtype)[kept]  # kept channels -> all channels
        d_tp, d_predicted = (
            reshape(matmul(grad, from_numpy(selection)), (-1, num_classes, 1))
            for grad in (d_tp, d_predicted)
        )
        valid = np.ones(labels.shape, dtype) if valid is None else valid
        own = _own_class(labels, _class_column(num_classes), valid, dtype)
        d_prob = d_tp * from_numpy(own) + d_predicted * from_numpy(valid[:, None])
        logits = reshape(x, (rows, num_classes, -1))
        if activation == "softmax":
            prob = _softmax(logits, 1)
            d_prob = prob * (d_prob - _R.sum(prob * d_prob, 1, keepdim=True))
        elif activation == "sigmoid":
            prob = sigmoid(logits)
            d_prob = d_prob * prob * (1.0 - prob)
        return reshape(d_prob, tuple(x.shape)), None


class _IndexTargetLoss(ArrayFunction):
    """The whole overlap loss of class indices as one op: `_index_counts`, then
    `_score_forward` (what `_ScoreLoss` computes). The first-order backward chains the two
    kernels' gradients (`_score_upstream`, `_index_counts_gradient`) without a node between
    them; ``backward`` differentiates the two ops it fuses (``create_graph``), so second
    derivatives are theirs."""

    node_name = "IndexTargetLossBackward0"

    @staticmethod
    def forward(ctx: Any, x: np.ndarray, target: _IndexTarget, finish: _Finish) -> np.ndarray:
        tp, predicted, actual, prob = _index_counts(x, target)
        if callable(finish.pool):  # weights made from the target's counts (constants)
            finish = finish._replace(pool=finish.pool(actual))
        value, slopes = _score_forward(tp, predicted, actual, finish)
        ctx.save_for_backward(x)
        ctx.target, ctx.finish, ctx.prob, ctx.slopes = target, finish, prob, slopes
        return value

    @staticmethod
    def backward_array(ctx: Any, upstream: np.ndarray) -> tuple[Any, ...]:
        ctx._saved_arrays()  # torch's errors for a freed graph or a modified input
        prob, slopes, last = ctx.prob, ctx.slopes, ctx.last_use
        if last:
            ctx.prob = ctx.slopes = None
        d_tp, d_predicted, _ = _score_upstream(slopes, upstream, ctx.finish, (True, True, False))
        d_input = _index_counts_gradient(prob, ctx.target, d_tp, d_predicted, last)
        return d_input, None, None

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Any, ...]:
        (x,) = ctx.saved_tensors
        loss = _ScoreLoss.apply(*_IndexTargetCounts.apply(x, ctx.target), ctx.finish)
        return grad(loss, x, upstream, create_graph=True)[0], None, None


#: Elements of a piece of `_Pieces`: 1 MiB of float32 per array, `wide_block`'s largest block
#: (dice_loss 16x4x256x256 was fastest at this size at one and two threads: benchmarks/NOTES.md).
PIECE = 4 * _parallel.BLOCK


class _Pieces:
    """Cache-sized pieces of a ``(rows, C, pixels)`` problem, over the thread pool: a piece is
    `PIECE` elements, whole rows when a row is smaller (``per_row`` = 1), else one row's
    consecutive pixels (``per_row`` pieces to a row). NumPy's passes over a piece find its
    temporaries in the cache, where those over whole images of a large batch did not; on two
    threads too, where fewer pieces also mean fewer hand-overs of the interpreter's lock between
    the ten-odd NumPy calls of each piece."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        rows, channels, pixels = shape
        self.rows, self.pixels, self.work = rows, pixels, rows * channels * pixels
        self.size = max(1, PIECE // max(channels, 1))  # pixels
        self.per_row = max(1, -(-pixels // self.size))
        self.rows_per_piece = 1 if self.per_row > 1 else max(1, self.size // max(pixels, 1))

    def run(self, fn: Callable[[slice, slice, int], None]) -> None:
        """``fn(rows, pixels, index)`` for every piece (``index``: its place along the row)."""
        per_row, rows_per_piece = self.per_row, self.rows_per_piece

        def pieces(lo: int, hi: int) -> None:
            for number in range(lo, hi):
                group, index = divmod(number, per_row)
                first = group * rows_per_piece
                row = slice(first, min(self.rows, first + rows_per_piece))
                fn(row, slice(index * self.size, min(self.pixels, (index + 1) * self.size)), index)

        count = -(-self.rows // rows_per_piece) * per_row
        _parallel.map_blocks(pieces, count, block=1, work=self.work)


def _own_class(
    labels: np.ndarray, classes: np.ndarray, valid: np.ndarray | None, dtype: np.dtype
) -> np.ndarray:
    """The one-hot target ``(rows, C, pixels)`` of ``(rows, pixels)`` labels in ``dtype``, zero
    at the pixels ``valid`` leaves out."""
    own = labels.astype(classes.dtype, copy=False)[:, None] == classes
    if valid is None:
        return own.astype(dtype)
    return np.multiply(own, valid[:, None], dtype=dtype)


def _class_column(num_classes: int) -> np.ndarray:
    """The classes ``0 .. C-1`` as a ``(C, 1)`` column of the smallest unsigned integer type that
    holds them: `_own_class` compares the labels (checked to lie in ``[0, C)``) in that type,
    several times faster than in int64."""
    return np.arange(num_classes, dtype=np.min_scalar_type(num_classes - 1))[:, None]


def _channel_sum(values: np.ndarray) -> np.ndarray:
    """``values.sum(1, keepdims=True)`` of a ``(rows, C, pixels)`` block, as the product with a
    row of ones (a BLAS call; NumPy's sum over the middle axis is several times slower)."""
    return np.matmul(_parallel.ones(values.shape[1], values.dtype)[None], values)


def _activation_array(logits: np.ndarray, activation: Any, out: np.ndarray) -> np.ndarray:
    """softmax over axis 1 (the max shifted out unless every logit is small enough for its
    exponential and their sums to stay finite and normal: the shift's passes cost as much as
    the rest of the softmax), sigmoid, or a copy, written into ``out``."""
    if activation == "sigmoid":
        out[...] = _np_sigmoid(logits)
    elif activation == "softmax":
        if needs_no_shift(logits, logits.shape[1]):
            np.exp(logits, out=out)
        else:
            np.subtract(logits, logits.max(1, keepdims=True), out=out)
            np.exp(out, out=out)
        out *= np.reciprocal(_channel_sum(out))
    else:
        out[...] = logits
    return out


def _index_target(
    input: Tensor,
    target: Tensor,
    *,
    include_background: bool,
    to_onehot_y: bool,
    sigmoid_: bool,
    softmax_: bool,
    other_act: Callable[..., Tensor] | None,
    ignore_index: int | None,
    batch: bool,
    classes: Sequence[int] | None = None,
    power: int = 1,
    soft_label: bool = False,
) -> tuple[Tensor, _IndexTarget] | None:
    """The checked input and the class indices of the fused counts (`_index_counts`), or None
    where the composite of ops computes the counts: class indices (``to_onehot_y``) under a
    sigmoid, a softmax or no activation, with plain products (``power`` 1, no ``soft_label``)
    take the fused path."""
    checked = _checked_input(input, target)
    num_classes = checked.shape[1]
    fused = to_onehot_y and num_classes > 1 and other_act is None and not (sigmoid_ and softmax_)
    if not fused or power != 1 or soft_label:
        return None
    labels = _index_labels(checked, target, ignore_index)
    if labels.shape[0] != checked.shape[0] or labels.shape[2:] != checked.shape[2:]:
        raise _TargetShapeError(
            "target: ground truth has different shape "
            f"{(labels.shape[0], num_classes, *labels.shape[2:])} from input {tuple(checked.shape)}"
        )
    labels = labels.reshape(labels.shape[0], -1)
    valid = None
    if ignore_index is not None:
        ignored = labels == ignore_index
        valid = (~ignored).astype(checked._data.dtype)
        labels = np.where(ignored, 0, labels)
    activation = "sigmoid" if sigmoid_ else "softmax" if softmax_ else None
    if classes is not None:
        kept: Any = _class_selection(classes, num_classes, include_background)
    else:
        kept = slice(None if include_background else 1, None)
    return checked, _IndexTarget(labels, valid, activation, kept, batch)


def _counts(input: Tensor, target: Tensor, **options: Any) -> tuple[Tensor, Tensor, Tensor]:
    """Steps 1-3 of the module docstring: ``(tp, sum |p|^k, sum |g|^k)`` per (sample, class), or
    per class with ``batch`` (``options``: those of `_index_target`): the fused
    `_IndexTargetCounts` for class indices, the composite of ops otherwise."""
    fused = _index_target(input, target, **options)
    if fused is not None:
        return _IndexTargetCounts.apply(*fused)
    return _composite_counts(input, target, **options)


def _composite_counts(
    input: Tensor,
    target: Tensor,
    *,
    batch: bool,
    power: int = 1,
    soft_label: bool = False,
    **options: Any,
) -> tuple[Tensor, Tensor, Tensor]:
    """`_counts` as a composite of ops, on the one-hot target (`_probabilities_and_targets`)."""
    prob, onehot = _probabilities_and_targets(input, target, **options)
    return _soft_counts(prob, onehot, _reduce_axes(prob.dim(), batch), power, soft_label)


def _class_weight(weight: Any, num_classes: int, like: Tensor) -> Tensor | None:
    """MONAI's ``weight``: a number for every class or one value per (kept) class, >= 0."""
    if weight is None or num_classes == 1:
        return None
    values = np.asarray(weight._data if isinstance(weight, Tensor) else weight, like._data.dtype)
    if values.ndim == 0:
        values = np.full(num_classes, values)
    elif values.shape[0] != num_classes:
        raise ValueError(
            "The length of the `weight` sequence should be the same as the number of classes. "
            "If `include_background=False`, the weight should not include the background category "
            f"class 0. Got weight of length {values.shape[0]} for {num_classes} classes."
        )
    if values.min() < 0:
        raise ValueError(f"the value/values of the `weight` should be no less than 0, got {weight}")
    return from_numpy(values)


def _class_average(
    loss: Tensor, reduction: str, how: str, weight: Tensor | None, actual: Tensor
) -> Tensor:
    """The loss of each sample (or of the pooled batch) as a weighted mean over its classes
    (the last axis), then ``reduction`` over the samples.

    ``'weighted'``: ``sum_c w_c l_c / sum_c w_c`` (smp's ``class_weights``). ``'present'``: the
    same over the classes present in the target, ``w_c [sum g_c > 0]``, and 1 with no gradient for
    a sample without a present class of positive weight (kornia's 'macro'). The shares are
    constants, so the gradient is ``share * dl_c``.
    """
    dtype = loss._data.dtype
    weights = np.ones(loss.shape[-1], dtype) if weight is None else weight._data
    weights = np.broadcast_to(weights, loss.shape)
    if how == "present":
        weights = weights * (actual._data > 0)
    total = weights.sum(-1, keepdims=True)
    if how == "weighted" and not np.all(total > 0):
        raise ValueError(f"weight: class_average='weighted' needs a positive sum, got {weight}")
    shares = np.divide(weights, total, out=np.zeros(weights.shape, dtype), where=total > 0)
    averaged = _R.sum(loss * from_numpy(shares.astype(dtype)), -1)
    if how == "present" and not np.all(total > 0):
        averaged = averaged + from_numpy((total[..., 0] == 0).astype(dtype))
    return _reduction.apply(averaged, reduction)


def _finish(loss: Tensor, reduction: str, weight: Tensor | None = None) -> Tensor:
    """Class weight (on the class axis, 1 of the per-(sample, class) loss), then the reduction."""
    if weight is not None:
        loss = loss * (weight if loss.dim() == 1 else reshape(weight, (1, -1)))
    return _reduction.apply(loss, reduction)


def _restore_dtype(loss: Tensor, input: Tensor) -> Tensor:
    return loss.to(input.dtype) if input._data.dtype in _HALF_FLOATS else loss


def _overlap_loss(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float,
    beta: float,
    smooth_nr: float,
    smooth_dr: float,
    include_background: bool,
    to_onehot_y: bool,
    sigmoid: bool,
    softmax: bool,
    other_act: Callable[..., Tensor] | None,
    squared_pred: bool,
    reduction: str,
    batch: bool,
    weight: Any,
    soft_label: bool,
    ignore_index: int | None,
    log_loss: bool,
    eps: float,
    pool_classes: bool,
    zero_absent: bool,
    gamma: float = 1.0,
    keep_spatial: bool = True,
    classes: Sequence[int] | None = None,
    class_average: str | None = None,
    gamma_after_reduction: bool = False,
) -> Tensor:
    """``1 - (tp + smooth_nr) / max(tp + alpha fp + beta fn + smooth_dr, eps)``, then the rest of
    the pipeline (the module docstring). Class indices with neither ``gamma`` nor
    ``class_average`` are one op (`_IndexTargetLoss`); other targets take the counts' op (or
    composite) and one op for the rest (`_ScoreLoss`)."""
    reduction = _reduction.resolve(reduction, alias=False)
    if class_average not in _CLASS_AVERAGES:
        raise ValueError(f"class_average: expected one of {_CLASS_AVERAGES}, got {class_average!r}")
    if class_average is not None and pool_classes:
        raise ValueError(
            f"class_average={class_average!r} averages per-class losses: it cannot be combined "
            "with pool_classes=True"
        )
    options = dict(
        include_background=include_background,
        to_onehot_y=to_onehot_y,
        sigmoid_=sigmoid,
        softmax_=softmax,
        other_act=other_act,
        ignore_index=ignore_index,
        batch=batch,
        classes=classes,
        power=2 if squared_pred else 1,
        soft_label=soft_label,
    )
    score = _Score(alpha, beta, smooth_nr, smooth_dr, eps, log_loss, zero_absent)
    each_gamma = 1.0 if gamma_after_reduction else gamma
    single_op = each_gamma == 1.0 and class_average is None
    fused = _index_target(input, target, **options)
    if fused is not None and single_op:
        checked, index_target = fused
        kept = index_target.kept
        kept = len(kept) if isinstance(kept, list) else len(range(checked.shape[1])[kept])
        finish, _ = _finish_settings(score, weight, kept, checked, pool_classes, reduction)
        loss = _IndexTargetLoss.apply(checked, index_target, finish)
    else:
        counts = (
            _IndexTargetCounts.apply(*fused)
            if fused is not None
            else _composite_counts(input, target, **options)
        )
        finish, class_weight = _finish_settings(
            score, weight, counts[0].shape[-1], counts[0], pool_classes, reduction
        )
        if single_op:
            loss = _ScoreLoss.apply(*counts, finish)
        else:
            loss = _focal_or_class_averaged(counts, finish, class_weight, each_gamma, class_average)
    if reduction == "none" and keep_spatial and class_average is None:
        loss = reshape(loss, tuple(loss.shape) + (1,) * (input.dim() - 2))
    if gamma_after_reduction and gamma != 1.0:
        loss = loss**gamma
    return _restore_dtype(loss, input)


def _focal_or_class_averaged(
    counts: Sequence[Tensor],
    finish: _Finish,
    class_weight: Tensor | None,
    gamma: float,
    class_average: str | None,
) -> Tensor:
    """The overlap loss of the counts with a focal ``gamma`` on each (sample, class) loss or a
    ``class_average``, as a composite of ops (`_ScoreLoss` covers neither)."""
    tp, predicted, actual = _pooled(counts, finish.pool)
    loss = _score_loss(tp, predicted, actual, finish.score)
    if gamma != 1.0:
        loss = loss**gamma
    if class_average is not None:
        return _class_average(loss, finish.reduction, class_average, class_weight, actual)
    return _finish(loss, finish.reduction, class_weight)


class _Score(NamedTuple):
    """The settings of the Tversky score and of the loss made from it (`_score_loss`)."""

    alpha: float
    beta: float
    smooth_nr: float
    smooth_dr: float
    eps: float
    log_loss: bool
    zero_absent: bool


class _Finish(NamedTuple):
    """How the counts become the reduced loss (`_score_forward`): the score, the weights
    ``pool`` with which the counts are pooled over their last axis first (or None; for
    `_IndexTargetLoss` also a function of ``sum g`` that gives them, as the generalized Dice's
    weights), the class ``weight`` that multiplies the loss along its last axis (or None), the
    reduction."""

    score: _Score
    pool: np.ndarray | None
    weight: np.ndarray | None
    reduction: str


def _finish_settings(
    score: _Score, weight: Any, num_classes: int, like: Tensor, pool_classes: bool, reduction: str
) -> tuple[_Finish, Tensor | None]:
    """The `_Finish` of the overlap losses, and the class weight (a Tensor, None when there is
    none or when ``pool_classes`` turns it into the pooling weights: kornia's 'micro')."""
    class_weight = _class_weight(weight, num_classes, like)
    pool = None
    if pool_classes:  # one score from the (weighted) counts of all classes
        dtype = like._data.dtype
        pool = np.ones(num_classes, dtype) if class_weight is None else class_weight._data
        class_weight = None
    weights = None if class_weight is None else class_weight._data
    return _Finish(score, pool, weights, reduction), class_weight


def _score_loss(tp: Tensor, predicted: Tensor, actual: Tensor, score: _Score) -> Tensor:
    """Step 4 of the module docstring, per (sample, class): with ``D = tp + alpha fp + beta fn
    + s_dr = alpha predicted + beta actual + (1 - alpha - beta) tp + s_dr``, clamped below at
    ``eps``, and ``S = (tp + s_nr) / D``, the loss ``1 - S`` (``-log(max(S, eps))`` with
    ``log_loss``), 0 for a class absent from the target with ``zero_absent``.

    The definition in lossgrad ops, which a recorded backward of `_ScoreLoss` differentiates."""
    alpha, beta = score.alpha, score.beta
    denominator = alpha * predicted + (beta * actual + score.smooth_dr)
    if alpha + beta != 1.0:
        denominator = denominator + (1.0 - alpha - beta) * tp
    if score.eps > 0:
        denominator = clamp_min(denominator, score.eps)
    ratio = (tp + score.smooth_nr) / denominator
    loss = -log(clamp_min(ratio, score.eps)) if score.log_loss else 1.0 - ratio
    if score.zero_absent:
        loss = loss * from_numpy((actual._data > 0).astype(loss._data.dtype))
    return loss


def _score_loss_arrays(
    tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray, score: _Score
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`_score_loss` on arrays, with its derivatives: ``(loss, dl/dtp, dl/dpredicted,
    dl/dactual)``. With ``u = dl/dS / D`` (``dl/dS`` = -1, or ``-1/S`` under ``log_loss`` where
    ``S >= eps``, times the presence with ``zero_absent``; ``live`` = 0 where ``D`` is clamped)::

        dl/dtp = u (1 - (1 - alpha - beta) S live)
        dl/dpredicted = -alpha S u live        dl/dactual = -beta S u live
    """
    alpha, beta, tp_share = score.alpha, score.beta, 1.0 - score.alpha - score.beta
    denominator = alpha * predicted + (beta * actual + score.smooth_dr)
    if tp_share != 0.0:
        denominator += tp_share * tp
    ratio = tp + score.smooth_nr
    if score.eps > 0:
        live = (denominator >= score.eps).astype(tp.dtype)
        np.maximum(denominator, score.eps, out=denominator)
    ratio /= denominator
    if score.log_loss:
        clamped = np.maximum(ratio, score.eps)
        loss = np.log(clamped)
        np.negative(loss, out=loss)
        slope = np.where(ratio >= score.eps, -1.0, 0.0).astype(tp.dtype)
        slope /= clamped
    else:
        loss = 1.0 - ratio
        slope = np.full(ratio.shape, -1.0, ratio.dtype)
    if score.zero_absent:
        present = (actual > 0).astype(tp.dtype)
        loss *= present
        slope *= present
    slope /= denominator  # u
    shared = ratio * slope  # S u
    if score.eps > 0:
        shared *= live
    d_tp = slope - tp_share * shared if tp_share != 0.0 else slope
    return loss, d_tp, -alpha * shared, -beta * shared


def _score_forward(
    tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray, finish: _Finish
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The reduced loss of the counts (`_ScoreLoss`) and its derivatives in each count, for an
    upstream gradient of 1 (`_score_upstream` multiplies them by the actual one)."""
    score, pool, weight, reduction = finish
    counts = (tp, predicted, actual)
    if pool is not None:
        counts = tuple((count * pool).sum(-1) for count in counts)
    loss, *slopes = _score_loss_arrays(*counts, score)
    scale: Any = _reduction.element_scale(reduction, loss.size)
    if weight is not None:
        loss *= weight
        scale = weight * scale
    if pool is not None:
        scale = np.multiply(scale, 1, dtype=tp.dtype)[..., None] * pool
        slopes = [slope[..., None] for slope in slopes]
    if pool is not None or weight is not None or scale != 1.0:
        slopes = [np.multiply(slope, scale, dtype=tp.dtype) for slope in slopes]
    return _reduction.reduce_array(loss, reduction), slopes


def _score_upstream(
    slopes: list[np.ndarray], upstream: np.ndarray, finish: _Finish, needs: Sequence[bool]
) -> list[np.ndarray | None]:
    """The gradients of the counts that ``needs`` asks for, from `_score_forward`'s slopes."""
    if finish.pool is not None:  # the upstream of each pooled count
        upstream = upstream[..., None]
    return [slope * upstream if need else None for slope, need in zip(slopes, needs)]


def _score_composite(counts: Sequence[Tensor], finish: _Finish) -> Tensor:
    """`_score_forward` in lossgrad ops: the definition `_ScoreLoss` differentiates."""
    loss = _score_loss(*_pooled(counts, finish.pool), finish.score)
    if finish.weight is not None:
        loss = loss * from_numpy(finish.weight)
    return _reduction.apply(loss, finish.reduction)


class _ScoreLoss(ArrayFunction):
    """``reduction(weight * _score_loss(*pooled(tp, predicted, actual)))`` in one op (`_Finish`):
    with ``pool`` each count is first pooled over its last axis, ``sum_c pool_c count_c`` (the
    classes of kornia's 'micro', the class weights of the generalized Dice); ``weight``
    multiplies the loss along its last axis. `_score_forward` gives the loss and its
    derivatives, which the forward keeps, scaled by the weight and the reduction, for the
    first-order backward. A recorded backward differentiates the composite
    (`_score_composite`), so second derivatives are those of the formula."""

    node_name = "ScoreLossBackward0"

    @staticmethod
    def forward(
        ctx: Any, tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray, finish: _Finish
    ) -> np.ndarray:
        value, slopes = _score_forward(tp, predicted, actual, finish)
        ctx.save_for_backward(tp, predicted, actual)
        ctx.finish, ctx.slopes = finish, slopes
        return value

    @staticmethod
    def backward_array(ctx: Any, upstream: np.ndarray) -> tuple[Any, ...]:
        ctx._saved_arrays()  # torch's errors for a freed graph or a modified count
        slopes = ctx.slopes
        if ctx.last_use:
            ctx.slopes = None
        return (*_score_upstream(slopes, upstream, ctx.finish, ctx.needs_input_grad), None)

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Any, ...]:
        counts = ctx.saved_tensors
        loss = _score_composite(counts, ctx.finish)
        return (*_kept.definition_grads(loss, counts, ctx.needs_input_grad[:3], upstream), None)


def _pooled(counts: Sequence[Tensor], pool: np.ndarray | None) -> Sequence[Tensor]:
    """``sum_c pool_c count_c`` over the last axis of each count (the counts when None)."""
    if pool is None:
        return counts
    weights = from_numpy(pool)
    return [_R.sum(count * weights, -1) for count in counts]


# -- Dice, Jaccard, Tversky ------------------------------------------------------------------------


def dice_loss(
    input: Tensor,
    target: Tensor,
    include_background: bool = True,
    to_onehot_y: bool = False,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: Callable[..., Tensor] | None = None,
    squared_pred: bool = False,
    jaccard: bool = False,
    reduction: str = "mean",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    weight: Sequence[float] | float | Tensor | None = None,
    soft_label: bool = False,
    ignore_index: int | None = None,
    *,
    log_loss: bool = False,
    eps: float = 0.0,
    pool_classes: bool = False,
    zero_absent: bool = False,
    classes: Sequence[int] | None = None,
    class_average: str | None = None,
) -> Tensor:
    r"""Soft Dice loss (Milletari et al. 2016) with MONAI's ``DiceLoss`` keywords and defaults.

    With ``p`` the activated input and ``g`` the one-hot target (module docstring), per sample
    ``b`` and class ``c`` (sums over the spatial axes; also over the batch when ``batch``)::

        l[b, c] = 1 - (2 tp + s_nr) / (2 tp + fp + fn + s_dr)
                = 1 - (2 sum p g + s_nr) / (sum p + sum g + s_dr)

    and with ``jaccard=True`` ``1 - (2 tp + s_nr) / (2 (tp + fp + fn) + s_dr)`` (soft IoU).
    ``squared_pred`` uses ``sum p^2 + sum g^2`` in the denominator. Gradient (Dice, ``D`` the
    denominator, ``N`` the numerator)::

        dl/dp = -(2 g D - N) / D^2        (times dp/dx of the activation)

    Settings that reproduce each library exactly (``F.dice_loss(x, y, **settings)``):

    ====================================  =====================================================
    library                               settings
    ====================================  =====================================================
    ``monai.losses.DiceLoss(**kw)``       ``**kw`` (same names and defaults)
    smp ``DiceLoss('binary')``            ``sigmoid=True, batch=True, smooth_nr=2*smooth,
                                          smooth_dr=2*smooth, eps=smp_eps (1e-7),
                                          zero_absent=True`` (target ``(B, 1, H, W)``)
    smp ``DiceLoss('multiclass')``        ``softmax=True, to_onehot_y=True, batch=True,
                                          smooth_nr=0, smooth_dr=0, eps=1e-7, zero_absent=True``
    smp ``DiceLoss('multilabel')``        as binary, on ``(B, C, H, W)`` targets
    smp ``log_loss=True``                 add ``log_loss=True``
    smp ``classes=k``                     add ``classes=k``
    smp ``class_weights=w``               add ``class_average='weighted', weight=w`` (with
                                          ``classes=k``: ``weight=[w[i] for i in k]``)
    ``keras.losses.Dice()`` (axis=None)   ``batch=True, pool_classes=True, smooth_nr=0,
                                          smooth_dr=1e-7`` (probabilities, channels first)
    Keras ``Dice(axis=(1, 2, 3))``        ``pool_classes=True, smooth_nr=0, smooth_dr=1e-7``
    Keras ``Dice(axis=(1, 2))``           ``smooth_nr=0, smooth_dr=1e-7`` (one per channel)
    ``kornia.losses.dice_loss(x, y)``     ``softmax=True, to_onehot_y=True, pool_classes=True,
                                          smooth_nr=0, smooth_dr=eps (1e-8)`` ('micro')
    kornia ``average='macro'``            ``softmax=True, to_onehot_y=True, smooth_nr=0,
                                          smooth_dr=eps, class_average='present'``
    kornia ``weight=w``                   add ``weight=w`` (both averages)
    kornia ``ignore_index=i``             add ``ignore_index=i`` (kornia's default -100;
                                          lossgrad's None)
    ====================================  =====================================================

    Args:
        input: ``(B, C, *spatial)`` logits or probabilities (see the activation flags).
        target: one-hot / soft ``(B, C, *spatial)``, or class indices ``(B, 1, *spatial)`` or
            ``(B, *spatial)`` with ``to_onehot_y=True``.
        include_background: if False, channel 0 is left out (ignored with one channel).
        to_onehot_y: the target holds class indices; one-hot encode them with ``C`` classes.
        sigmoid: apply a sigmoid to ``input`` (binary / multilabel).
        softmax: apply a softmax over the channels (multiclass).
        other_act: any other activation, a callable on Tensors.
        squared_pred: squares in the denominator (``sum p^2 + sum g^2``).
        jaccard: the soft Jaccard (IoU) instead of Dice.
        reduction: ``'none'`` (shape ``(B, C, 1, ...)``) | ``'mean'`` | ``'sum'``.
        smooth_nr: added to the numerator ``2 tp``. Default 1e-5.
        smooth_dr: added to the denominator. Default 1e-5.
        batch: pool the counts over the batch before dividing (smp, Keras) instead of one Dice
            per sample.
        weight: class weights (a number, or one per kept class) multiplying the per-class loss.
        soft_label: the formulation that is exact for soft labels (Wang et al. 2023).
        ignore_index: label (or one-hot channel) whose pixels are left out.
        log_loss: ``-log(max(score, eps))`` instead of ``1 - score`` (smp).
        eps: lower clamp of the denominator (and of the score under ``log_loss``); smp's ``eps``.
        pool_classes: pool the counts over the classes too (kornia's 'micro', Keras's axis=None);
            ``weight`` then weighs each class's counts (kornia's weighted 'micro').
        zero_absent: the loss of a class absent from the target is 0 (smp).
        classes: keep only these channels of the input (after the activation), as smp's
            ``classes``; ``weight`` then has one value per kept class. Not with
            ``include_background=False`` (leave 0 out of ``classes``).
        class_average: how the classes of a sample (of the batch with ``batch``) are averaged.
            ``None``: MONAI's, ``weight`` multiplies each class's loss and ``reduction`` runs over
            samples and classes. ``'weighted'``: ``sum_c w_c l_c / sum_c w_c`` (smp's
            ``class_weights``). ``'present'``: the same over the classes present in the target
            (``sum g > 0``), a sample without one scoring 1 (kornia's 'macro'). ``reduction``
            then runs over the samples (``'none'``: shape ``(B,)``).

    Returns:
        The reduced loss, or ``(B, C, 1, ...)`` (``(C, 1, ...)`` with ``batch``) for ``'none'``
        (``(B,)`` with ``class_average``).

    Note:
        Finite for empty masks (the smoothing terms, or ``eps``, keep the denominator positive;
        with all three 0 an empty class gives NaN, as in every library). float16 inputs are
        summed in float32. Twice differentiable (autograd through the composite).

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> p = torch.tensor([[[[0.9, 0.1], [0.8, 0.2]]]])
        >>> g = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
        >>> F.dice_loss(p, g)
        tensor(0.1500)
    """
    return _overlap_loss(
        input,
        target,
        alpha=1.0 if jaccard else 0.5,
        beta=1.0 if jaccard else 0.5,
        smooth_nr=0.5 * float(smooth_nr),
        smooth_dr=0.5 * float(smooth_dr),
        include_background=include_background,
        to_onehot_y=to_onehot_y,
        sigmoid=sigmoid,
        softmax=softmax,
        other_act=other_act,
        squared_pred=squared_pred,
        reduction=reduction,
        batch=batch,
        weight=weight,
        soft_label=soft_label,
        ignore_index=ignore_index,
        log_loss=log_loss,
        eps=float(eps),
        pool_classes=pool_classes,
        zero_absent=zero_absent,
        classes=classes,
        class_average=class_average,
    )


def jaccard_loss(
    input: Tensor,
    target: Tensor,
    include_background: bool = True,
    to_onehot_y: bool = False,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: Callable[..., Tensor] | None = None,
    squared_pred: bool = False,
    reduction: str = "mean",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    weight: Sequence[float] | float | Tensor | None = None,
    soft_label: bool = False,
    ignore_index: int | None = None,
    *,
    log_loss: bool = False,
    eps: float = 0.0,
    pool_classes: bool = False,
    zero_absent: bool = False,
    classes: Sequence[int] | None = None,
    class_average: str | None = None,
) -> Tensor:
    r"""Soft Jaccard (IoU) loss: ``dice_loss(..., jaccard=True)``.

    Per sample and class ``l = 1 - (2 tp + s_nr) / (2 (tp + fp + fn) + s_dr)``, i.e.
    ``1 - (tp + s_nr/2) / (sum p + sum g - tp + s_dr/2)``. Gradient
    ``dl/dp = -(g U - I (1 - g)) / U^2`` with ``I = tp + s_nr/2``, ``U`` the denominator.

    =====================================  ==================================================
    library                                settings
    =====================================  ==================================================
    ``monai DiceLoss(jaccard=True, **kw)`` ``**kw``
    smp ``JaccardLoss('binary')``          ``sigmoid=True, batch=True, smooth_nr=2*smooth,
                                           smooth_dr=2*smooth, eps=1e-7, zero_absent=True``
    smp ``JaccardLoss('multiclass')``      ``softmax=True, to_onehot_y=True, batch=True,
                                           smooth_nr=0, smooth_dr=0, eps=1e-7,
                                           zero_absent=True``
    smp ``classes=k, class_weights=w``     as in ``dice_loss``
    =====================================  ==================================================

    Args: as ``dice_loss`` (without ``jaccard``).

    Returns:
        The reduced loss, or the per-(sample, class) loss for ``'none'``.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> p = torch.tensor([[[[0.9, 0.1], [0.8, 0.2]]]])
        >>> g = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
        >>> F.jaccard_loss(p, g)
        tensor(0.2609)
    """
    return dice_loss(
        input,
        target,
        include_background,
        to_onehot_y,
        sigmoid,
        softmax,
        other_act,
        squared_pred,
        True,
        reduction,
        smooth_nr,
        smooth_dr,
        batch,
        weight,
        soft_label,
        ignore_index,
        log_loss=log_loss,
        eps=eps,
        pool_classes=pool_classes,
        zero_absent=zero_absent,
        classes=classes,
        class_average=class_average,
    )


def tversky_loss(
    input: Tensor,
    target: Tensor,
    include_background: bool = True,
    to_onehot_y: bool = False,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: Callable[..., Tensor] | None = None,
    alpha: float = 0.5,
    beta: float = 0.5,
    reduction: str = "mean",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    soft_label: bool = False,
    *,
    gamma: float = 1.0,
    log_loss: bool = False,
    eps: float = 0.0,
    ignore_index: int | None = None,
    pool_classes: bool = False,
    zero_absent: bool = False,
    gamma_after_reduction: bool = False,
    classes: Sequence[int] | None = None,
    class_average: str | None = None,
    weight: Sequence[float] | float | Tensor | None = None,
) -> Tensor:
    r"""Tversky loss (Salehi et al. 2017) with MONAI's ``TverskyLoss`` keywords; focal Tversky
    with ``gamma`` (Abraham & Khan 2019).

    ``alpha`` weighs the false positives, ``beta`` the false negatives (as MONAI, smp, kornia)::

        TI[b, c] = (tp + s_nr) / (tp + alpha fp + beta fn + s_dr)
        l[b, c] = (1 - TI)^gamma

    Gradient of ``TI`` in ``p``: ``(g D - N (g + alpha (1 - g) - beta g)) / D^2``. ``alpha = beta
    = 1/2`` is Dice, ``alpha = beta = 1`` Jaccard (both with unhalved smoothing).

    =====================================  ==================================================
    library                                settings
    =====================================  ==================================================
    ``monai TverskyLoss(**kw)``            ``**kw``
    smp ``TverskyLoss('binary', a, b, g)`` ``sigmoid=True, batch=True, alpha=a, beta=b,
                                           gamma=g, smooth_nr=smooth, smooth_dr=smooth,
                                           eps=1e-7, zero_absent=True``
    smp ``'multiclass'``                   ``softmax=True, to_onehot_y=True`` + the above,
                                           and ``gamma_after_reduction=True``
    smp ``'multilabel'``                   as binary, on ``(B, C, H, W)`` targets, and
                                           ``gamma_after_reduction=True``
    smp ``classes=k, class_weights=w``     add ``classes=k, class_average='weighted',
                                           weight=[w[i] for i in k]`` (as ``dice_loss``)
    ``keras.losses.Tversky(a, b)``         ``alpha=b, beta=a`` (Keras weighs FN by its alpha),
                                           ``batch=True, pool_classes=True, smooth_nr=0,
                                           smooth_dr=1e-7`` (its default axis=None)
    ``kornia.losses.tversky_loss(a, b)``   ``softmax=True, to_onehot_y=True, alpha=a, beta=b,
                                           smooth_nr=0, smooth_dr=eps (1e-8)`` when every
                                           class is present in every sample (kornia averages
                                           over the present classes only)
    =====================================  ==================================================

    By default ``gamma`` acts on each (sample, class) loss before the reduction (the paper's
    form, MONAI's ``FocalTverskyLoss``); smp raises the reduced loss -- its mean over the classes,
    or their weighted mean with ``class_weights`` -- to ``gamma``: ``gamma_after_reduction=True``.
    The two agree with one class and ``batch=True`` (smp's binary mode).

    The arguments ``input``, ``target``, ``include_background``, ``to_onehot_y``, ``sigmoid``,
    ``softmax``, ``other_act``, ``reduction``, ``smooth_nr``, ``smooth_dr``, ``batch``,
    ``soft_label``, ``log_loss``, ``eps``, ``ignore_index``, ``pool_classes``, ``zero_absent``,
    ``classes``, ``class_average`` and ``weight`` are as in ``dice_loss`` (smoothing not halved:
    MONAI's Tversky convention).

    Args:
        alpha: weight of the false positives. Default 0.5.
        beta: weight of the false negatives. Default 0.5.
        gamma: focal exponent on ``1 - TI`` (1: plain Tversky).
        gamma_after_reduction: raise the reduced loss to ``gamma`` instead of each (sample,
            class) loss (smp's ``TverskyLoss``).

    Returns:
        The reduced loss, or the per-(sample, class) loss for ``'none'``.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> p = torch.tensor([[[[0.9, 0.1], [0.8, 0.2]]]])
        >>> g = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
        >>> F.tversky_loss(p, g, alpha=0.3, beta=0.7)
        tensor(0.1500)
    """
    return _overlap_loss(
        input,
        target,
        alpha=float(alpha),
        beta=float(beta),
        smooth_nr=float(smooth_nr),
        smooth_dr=float(smooth_dr),
        include_background=include_background,
        to_onehot_y=to_onehot_y,
        sigmoid=sigmoid,
        softmax=softmax,
        other_act=other_act,
        squared_pred=False,
        reduction=reduction,
        batch=batch,
        weight=weight,
        soft_label=soft_label,
        ignore_index=ignore_index,
        log_loss=log_loss,
        eps=float(eps),
        pool_classes=pool_classes,
        zero_absent=zero_absent,
        gamma=float(gamma),
        keep_spatial=False,
        classes=classes,
        class_average=class_average,
        gamma_after_reduction=gamma_after_reduction,
    )


_GDL_WEIGHTS = ("square", "simple", "uniform")


def generalized_dice_loss(
    input: Tensor,
    target: Tensor,
    include_background: bool = True,
    to_onehot_y: bool = False,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: Callable[..., Tensor] | None = None,
    w_type: str = "square",
    reduction: str = "mean",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    soft_label: bool = False,
) -> Tensor:
    r"""Generalized Dice loss (Sudre et al. 2017) with MONAI's ``GeneralizedDiceLoss`` keywords.

    Class weights from the target volume ``G_c = sum g_c``: ``w_c = 1 / G_c^2`` ('square'),
    ``1 / G_c`` ('simple') or 1 ('uniform'); a class absent from the target (infinite weight)
    takes the largest finite weight of its sample (of the batch with ``batch``), as MONAI does.
    The weights are constants (no gradient flows through the target volume)::

        l[b] = 1 - (2 sum_c w_c tp_c + s_nr) / (sum_c w_c (2 tp_c + fp_c + fn_c) + s_dr)

    Gradient: ``dl/dp_c = -w_c (2 g_c D - N) / D^2``. Same results as MONAI for every
    ``w_type``: one loss per sample, or with ``batch`` one for the whole batch (the counts
    pooled over it).

    The arguments ``input``, ``target``, ``include_background``, ``to_onehot_y``, ``sigmoid``,
    ``softmax``, ``other_act``, ``reduction``, ``smooth_nr``, ``smooth_dr``, ``batch`` and
    ``soft_label`` are as in ``dice_loss``.

    Args:
        w_type: ``'square'`` | ``'simple'`` | ``'uniform'``.

    Returns:
        The reduced loss; for ``'none'`` MONAI's ``(B, 1, 1, ...)``, or ``(1, 1, ...)`` with
        ``batch``.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> p = torch.tensor([[[[0.9, 0.1], [0.8, 0.2]]]])
        >>> g = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
        >>> F.generalized_dice_loss(p, g)
        tensor(0.1500)
    """
    if w_type not in _GDL_WEIGHTS:
        raise ValueError(f"w_type: expected one of {_GDL_WEIGHTS}, got {w_type!r}")
    reduction = _reduction.resolve(reduction, alias=False)
    options = dict(
        include_background=include_background,
        to_onehot_y=to_onehot_y,
        sigmoid_=sigmoid,
        softmax_=softmax,
        other_act=other_act,
        ignore_index=None,
        batch=batch,
        soft_label=soft_label,
    )
    weights_of = functools.partial(_generalized_weights, w_type, 0 if batch else 1)
    # the Dice of the counts pooled over the classes with the weights:
    # 1 - (2 sum w tp + s_nr) / (sum w (p + g) + s_dr), as alpha = beta = 1/2, halved smoothing
    score = _Score(0.5, 0.5, 0.5 * smooth_nr, 0.5 * smooth_dr, 0.0, False, False)
    fused = _index_target(input, target, **options)
    if fused is not None:  # one op; the weights made from the target's counts inside it
        loss = _IndexTargetLoss.apply(*fused, _Finish(score, weights_of, None, reduction))
    else:
        tp, predicted, actual = _composite_counts(input, target, **options)
        finish = _Finish(score, weights_of(actual._data), None, reduction)
        loss = _ScoreLoss.apply(tp, predicted, actual, finish)
    if reduction == "none":  # MONAI's (B, 1, 1, ...), (1, 1, ...) with batch
        leading = (1,) if batch else (input.shape[0], 1)
        loss = reshape(loss, leading + (1,) * (input.dim() - 2))
    return _restore_dtype(loss, input)


def _generalized_weights(w_type: str, class_axis: int, actual: np.ndarray) -> np.ndarray:
    """MONAI's generalized Dice weights of the target's counts ``actual``: ``1 / g^2``
    ('square'), ``1 / g`` ('simple') or 1, computed in float32 as MONAI does; a class absent
    from the target (infinite weight) takes the largest finite weight along ``class_axis``."""
    volume = actual.astype(np.float32)
    if w_type == "uniform":
        return np.ones_like(volume, actual.dtype)
    with np.errstate(divide="ignore"):
        weights = np.reciprocal(volume * volume if w_type == "square" else volume)
    infinite = np.isinf(weights)
    weights[infinite] = 0.0
    largest = weights.max(axis=class_axis, keepdims=True) if weights.size else weights
    return (weights + infinite * largest).astype(actual.dtype)


# -- compounds ------------------------------------------------------------------------------------


def dice_ce_loss(
    input: Tensor,
    target: Tensor,
    include_background: bool = True,
    to_onehot_y: bool = False,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: Callable[..., Tensor] | None = None,
    squared_pred: bool = False,
    jaccard: bool = False,
    reduction: str = "mean",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    weight: Tensor | None = None,
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
    label_smoothing: float = 0.0,
) -> Tensor:
    r"""Dice plus cross-entropy (MONAI ``DiceCELoss``; the nnU-Net default compound).

    ``l = lambda_dice * dice_loss(...) + lambda_ce * CE`` where CE is ``F.cross_entropy`` on the
    logits (class indices from a ``(B, 1, ...)`` target, else the soft target; ``weight``,
    ``label_smoothing``) or, with one channel, ``F.binary_cross_entropy_with_logits`` with
    ``pos_weight=weight``. Both use the full target (background included), as MONAI. On a
    float16 input the cross-entropy is computed in float32 and rounded once (MONAI's, torch's
    Half kernel, is NaN once its float16 sum passes 65504). Gradient: the sum of the two
    losses' gradients, weighted.

    Args:
        input, target, ... batch: as ``dice_loss``; ``weight`` (a Tensor of C class weights) goes
            to both terms (the Dice gets ``weight[1:]`` without background).
        reduction: ``'mean'`` | ``'sum'`` (MONAI has no ``'none'`` here).
        lambda_dice: weight of the Dice term (>= 0).
        lambda_ce: weight of the cross-entropy term (>= 0).
        label_smoothing: of the cross-entropy.

    Returns:
        A scalar.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> x = torch.tensor([[[[2.0, -1.0]], [[-1.0, 2.0]]]])
        >>> y = torch.tensor([[[[0, 1]]]])
        >>> F.dice_ce_loss(x, y, to_onehot_y=True, softmax=True)
        tensor(0.0960)
    """
    from lossgrad.nn.functional.loss_classification import cross_entropy
    from lossgrad.nn.functional.loss_probability import binary_cross_entropy_with_logits

    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction: expected 'mean' or 'sum', got {reduction!r}")
    if lambda_dice < 0.0:
        raise ValueError("lambda_dice should be no less than 0.0.")
    if lambda_ce < 0.0:
        raise ValueError("lambda_ce should be no less than 0.0.")
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if input.dim() != target.dim():
        raise ValueError(
            "the number of dimensions for input and target should be the same, got shape "
            f"{tuple(input.shape)} and {tuple(target.shape)}; a target that is not one-hot "
            "encoded has shape (B, 1, *spatial)."
        )
    if target.shape[1] not in (1, input.shape[1]):
        raise ValueError(
            "number of channels for target is neither 1 (without one-hot encoding) nor the same "
            f"as input, got shape {tuple(input.shape)} and {tuple(target.shape)}."
        )
    dice_weight = weight[1:] if weight is not None and not include_background else weight
    dice = dice_loss(
        input, target, include_background, to_onehot_y, sigmoid, softmax, other_act,
        squared_pred, jaccard, reduction, smooth_nr, smooth_dr, batch, dice_weight,
    )  # fmt: skip
    if input.shape[1] == 1:
        labels = target if target._data.dtype.kind == "f" else target.to(input.dtype)
        ce = binary_cross_entropy_with_logits(input, labels, pos_weight=weight, reduction=reduction)
        return _weighted_sum(lambda_dice, dice, lambda_ce, ce)
    # float16: the cross-entropy in float32, rounded once (torch's Half NLL sums its rows in
    # float16 and overflows past 65504: NaN for a mean over a 2x3x192x192 batch, in MONAI too)
    scores = input.float() if input._data.dtype == np.float16 else input
    if target.shape[1] == 1:
        labels = from_numpy(target._data[:, 0].astype(np.int64, copy=False))  # no gradient
    else:
        labels = target if target._data.dtype.kind == "f" else target.to(input.dtype)
        labels = labels.to(scores.dtype)
    weight = weight if weight is None else weight.to(scores.dtype)
    ce = cross_entropy(
        scores, labels, weight=weight, reduction=reduction, label_smoothing=label_smoothing
    )
    return _weighted_sum(lambda_dice, dice, lambda_ce, ce.to(input.dtype))


def _weighted_sum(
    first_weight: float, first: Tensor, second_weight: float, second: Tensor
) -> Tensor:
    """``first_weight * first + second_weight * second``, without the products by 1."""
    if first_weight != 1.0:
        first = first_weight * first
    if second_weight != 1.0:
        second = second_weight * second
    return first + second


def _monai_sigmoid_focal(
    input: Tensor, onehot: Tensor, gamma: float, alpha: float | Sequence[float] | None
) -> Tensor:
    """MONAI's sigmoid focal term per element: ``alpha_t BCE(x, g) (1 - p_t)^gamma`` (a sequence
    ``alpha`` weighs the positives of each class and leaves the negatives at 1)."""
    from lossgrad.nn.functional.loss_classification import sigmoid_focal_loss

    if isinstance(alpha, numbers.Real):
        return sigmoid_focal_loss(input, onehot, alpha=float(alpha), gamma=gamma)
    focal = sigmoid_focal_loss(input, onehot, alpha=-1.0, gamma=gamma)  # alpha < 0: no alpha_t
    if alpha is None:
        return focal
    class_alpha = np.asarray(alpha, input._data.dtype)
    if class_alpha.shape != (onehot.shape[1],):
        raise ValueError(
            f"The length of alpha ({class_alpha.size}) must match the number of classes "
            f"({onehot.shape[1]})."
        )
    class_alpha = class_alpha.reshape((1, -1) + (1,) * (onehot.dim() - 2))
    return focal * from_numpy(np.where(onehot._data == 1, class_alpha, 1).astype(class_alpha.dtype))


def dice_focal_loss(
    input: Tensor,
    target: Tensor,
    include_background: bool = True,
    to_onehot_y: bool = False,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: Callable[..., Tensor] | None = None,
    squared_pred: bool = False,
    jaccard: bool = False,
    reduction: str = "mean",
    smooth_nr: float = 1e-5,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    gamma: float = 2.0,
    weight: Sequence[float] | float | Tensor | None = None,
    lambda_dice: float = 1.0,
    lambda_focal: float = 1.0,
    alpha: float | Sequence[float] | None = None,
) -> Tensor:
    r"""Dice plus sigmoid focal loss (MONAI ``DiceFocalLoss``).

    ``l = lambda_dice * dice_loss(...) + lambda_focal * focal`` with MONAI's focal term on the
    logits (always the sigmoid form, whatever the Dice activation), per element::

        focal = alpha_t * BCEWithLogits(x, g) * (1 - p_t)^gamma * weight[c]

    ``alpha_t = alpha g + (1 - alpha)(1 - g)`` for a number, ``alpha[c]`` on the positives of
    class c for a sequence, 1 for None. Reductions as MONAI: 'mean' averages the focal term over
    every element; 'sum' averages it over the spatial axes and sums the rest; 'none' adds the
    ``(B, C, 1, ...)`` Dice to the ``(B, C, *spatial)`` focal term. Gradient: the weighted sum of
    both terms' gradients (the focal one as ``F.sigmoid_focal_loss``).

    MONAI computes its focal term in float32 even for float64 input; this one keeps the input's
    precision (float64 results agree with MONAI to float32 rounding).

    Args:
        input, target, ... batch: as ``dice_loss``.
        gamma: focal exponent. Default 2.
        weight: class weights for both terms (a number or one per kept class).
        lambda_dice: weight of the Dice term (>= 0).
        lambda_focal: weight of the focal term (>= 0).
        alpha: focal class balance: None, a number in [0, 1], or one value per kept class.

    Returns:
        The reduced loss (see above for the shapes).

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> x = torch.tensor([[[[2.0, -1.0]], [[-1.0, 2.0]]]])
        >>> y = torch.tensor([[[[0, 1]]]])
        >>> F.dice_focal_loss(x, y, to_onehot_y=True, softmax=True)
        tensor(0.0597)
    """
    if lambda_dice < 0.0:
        raise ValueError("lambda_dice should be no less than 0.0.")
    if lambda_focal < 0.0:
        raise ValueError("lambda_focal should be no less than 0.0.")
    reduction = _reduction.resolve(reduction, alias=False)
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if input.dim() != target.dim():
        raise ValueError(
            "the number of dimensions for input and target should be the same, got shape "
            f"{tuple(input.shape)} and {tuple(target.shape)}; a target that is not one-hot "
            "encoded has shape (B, 1, *spatial)."
        )
    logits, onehot = _probabilities_and_targets(
        input,
        target,
        include_background=True,
        to_onehot_y=to_onehot_y,
        sigmoid_=False,
        softmax_=False,
        other_act=None,
        ignore_index=None,
    )
    index_target = to_onehot_y and input.shape[1] > 1  # the Dice's fused counts take indices
    dice = dice_loss(
        input, target if index_target else onehot, include_background, index_target, sigmoid,
        softmax, other_act, squared_pred, jaccard, reduction, smooth_nr, smooth_dr, batch, weight,
    )  # fmt: skip
    if not include_background and input.shape[1] > 1:
        logits, onehot = logits[:, 1:], onehot[:, 1:]
    class_weight = _class_weight(weight, onehot.shape[1], logits)
    if class_weight is None and weight is not None:
        class_weight = from_numpy(np.asarray(weight, logits._data.dtype))
    focal = _monai_focal_term(logits, onehot, float(gamma), alpha, class_weight, reduction)
    return _restore_dtype(_weighted_sum(lambda_dice, dice, lambda_focal, focal), input)


def _monai_focal_term(
    logits: Tensor,
    onehot: Tensor,
    gamma: float,
    alpha: float | Sequence[float] | None,
    class_weight: Tensor | None,
    reduction: str,
) -> Tensor:
    """The focal term of MONAI's ``DiceFocalLoss``: per element times the class weight, then
    'mean' over every element, 'sum' of the spatial means, or 'none'. Without a per-class
    factor (a class weight, a sequence ``alpha``) the focal op reduces itself, in its one fused
    pass, without a loss map: the sum of the spatial means is the sum over every element
    divided by the spatial size."""
    from lossgrad.nn.functional.loss_classification import sigmoid_focal_loss

    per_class = class_weight is not None or not (alpha is None or isinstance(alpha, numbers.Real))
    if not per_class and reduction != "none":
        focal_alpha = -1.0 if alpha is None else float(alpha)  # alpha < 0: no alpha_t
        focal = sigmoid_focal_loss(logits, onehot, focal_alpha, gamma, reduction)
        return focal if reduction == "mean" else focal / math.prod(logits.shape[2:])
    focal = _monai_sigmoid_focal(logits, onehot, gamma, alpha)
    if class_weight is not None:
        focal = focal * reshape(class_weight, (1, -1) + (1,) * (focal.dim() - 2))
    if reduction == "sum":
        return _R.sum(_R.mean(focal, tuple(range(2, focal.dim()))))
    return _reduction.apply(focal, reduction)


# -- Matthews correlation --------------------------------------------------------------------------


def mcc_loss(
    input: Tensor,
    target: Tensor,
    include_background: bool = True,
    to_onehot_y: bool = False,
    sigmoid: bool = False,
    softmax: bool = False,
    other_act: Callable[..., Tensor] | None = None,
    reduction: str = "mean",
    smooth_nr: float = 0.0,
    smooth_dr: float = 1e-5,
    batch: bool = False,
    *,
    eps: float = 0.0,
) -> Tensor:
    r"""Soft Matthews-correlation loss (Abhishek & Hamarneh 2021), MONAI's ``MCCLoss``.

    With soft counts ``tp = sum p g``, ``tn = sum (1-p)(1-g)``, ``fp = sum p (1-g)``,
    ``fn = sum (1-p) g`` per (sample, class)::

        l = 1 - (tp tn - fp fn + s_nr) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn) + s_dr)

    and ``l = 0`` where the prediction is exact (``fp = fn = 0``), as MONAI. ``eps`` is added to
    each of the four counts first (smp's smoothing). The gradient is that of the quotient
    (autograd). smp's ``MCCLoss(eps)`` on probabilities ``(B, 1, H, W)`` is
    ``batch=True, smooth_nr=0, smooth_dr=0, eps=eps`` (but smp does not zero an exact
    prediction).

    Args:
        input, target, include_background, to_onehot_y, sigmoid, softmax, other_act, batch: as
            ``dice_loss``.
        reduction: ``'none'`` (per (sample, class), no spatial axes) | ``'mean'`` | ``'sum'``.
        smooth_nr: added to the numerator. Default 0.
        smooth_dr: added under the square root. Default 1e-5.
        eps: added to each soft count (smp). Default 0.

    Returns:
        The reduced loss, or the per-(sample, class) loss.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> p = torch.tensor([[[[0.9, 0.1], [0.8, 0.2]]]])
        >>> g = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
        >>> F.mcc_loss(p, g)
        tensor(0.3000)
    """
    reduction = _reduction.resolve(reduction, alias=False)
    tp, predicted, actual = _counts(
        input,
        target,
        include_background=include_background,
        to_onehot_y=to_onehot_y,
        sigmoid_=sigmoid,
        softmax_=softmax,
        other_act=other_act,
        ignore_index=None,
        batch=batch,
    )
    count = float(np.prod([input.shape[a] for a in _reduce_axes(input.dim(), batch)]))
    settings = _Matthews(count, float(eps), float(smooth_nr), float(smooth_dr), reduction)
    return _restore_dtype(_MatthewsLoss.apply(tp, predicted, actual, settings), input)


class _Matthews(NamedTuple):
    """The settings of `_matthews_loss`: the pixel ``count`` per (sample, class) and ``eps``,
    ``smooth_nr``, ``smooth_dr`` as in ``mcc_loss``, and the reduction."""

    count: float
    eps: float
    smooth_nr: float
    smooth_dr: float
    reduction: str


def _matthews_loss(counts: Sequence[Tensor], settings: _Matthews) -> Tensor:
    """``mcc_loss``'s formula on its soft counts, reduced, in lossgrad ops: the definition that
    `_MatthewsLoss` computes in NumPy (and that its recorded backward differentiates)."""
    tp, predicted, actual = counts
    exact = (predicted._data == tp._data) & (actual._data == tp._data)  # fp = fn = 0
    # With P = tp + fp, G = tp + fn and N = tp + tn + fp + fn (each count plus eps):
    # tp tn - fp fn = N tp - P G, tn + fp = N - G, tn + fn = N - P.
    eps = settings.eps
    if eps:
        tp, predicted, actual = tp + eps, predicted + 2.0 * eps, actual + 2.0 * eps
    count = settings.count + 4.0 * eps
    numerator = count * tp - predicted * actual
    if settings.smooth_nr:
        numerator = numerator + settings.smooth_nr
    denominator = sqrt(
        predicted * actual * ((count - actual) * (count - predicted)) + settings.smooth_dr
    )
    loss = 1.0 - numerator / denominator
    if exact.any():
        loss = where(from_numpy(exact), from_numpy(np.zeros((), loss._data.dtype)), loss)
    return _reduction.apply(loss, settings.reduction)


class _MatthewsLoss(ArrayFunction):
    """`_matthews_loss` as one op. With ``t = tp + eps``, ``P``, ``G`` the shifted sums,
    ``N`` the shifted count, ``n = N t - P G + s_nr`` and ``Q = P G (N - G)(N - P) + s_dr``,
    ``l = 1 - n / sqrt(Q)`` and::

        dl/dtp = -N / sqrt(Q)
        dl/dP = G / sqrt(Q) + n G (N - G)(N - 2P) / (2 Q^(3/2))
        dl/dG = P / sqrt(Q) + n P (N - P)(N - 2G) / (2 Q^(3/2))

    (0 for an exact prediction), kept from the forward, scaled by the reduction. A recorded
    backward differentiates `_matthews_loss`."""

    node_name = "MatthewsLossBackward0"

    @staticmethod
    def forward(
        ctx: Any, tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray, settings: _Matthews
    ) -> np.ndarray:
        exact = (predicted == tp) & (actual == tp)
        eps = settings.eps
        count = settings.count + 4.0 * eps
        t, p, g = tp + eps, predicted + 2.0 * eps, actual + 2.0 * eps  # the shifted counts
        numerator = count * t - p * g + settings.smooth_nr
        denominator = np.sqrt(p * g * ((count - g) * (count - p)) + settings.smooth_dr)
        loss = np.where(exact, 0, 1.0 - numerator / denominator).astype(tp.dtype)
        curvature = numerator / (2 * denominator**3)
        slopes = [
            -count / denominator,
            g / denominator + curvature * g * (count - g) * (count - 2 * p),
            p / denominator + curvature * p * (count - p) * (count - 2 * g),
        ]
        scale = _reduction.element_scale(settings.reduction, loss.size)
        ctx.slopes = [np.where(exact, 0, slope * scale).astype(tp.dtype) for slope in slopes]
        ctx.save_for_backward(tp, predicted, actual)
        ctx.settings = settings
        return _reduction.reduce_array(loss, settings.reduction)

    @staticmethod
    def backward_array(ctx: Any, upstream: np.ndarray) -> tuple[Any, ...]:
        slopes = ctx.slopes
        if ctx.last_use:
            ctx.slopes = None
        needs = ctx.needs_input_grad
        return (*[slope * upstream if need else None for slope, need in zip(slopes, needs)], None)

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[Any, ...]:
        counts = ctx.saved_tensors
        loss = _matthews_loss(counts, ctx.settings)
        return (*_kept.definition_grads(loss, counts, ctx.needs_input_grad[:3], upstream), None)


# -- Lovasz ----------------------------------------------------------------------------------------


def _lovasz_weights(
    errors: np.ndarray, foreground: np.ndarray, valid: np.ndarray | None
) -> np.ndarray:
    """`_lovasz_row_weights` of every row (the last axis) of ``errors``, ``foreground`` and
    ``valid`` (None: every pixel counts; the latter two broadcast to the errors' shape), blocks
    of rows over the thread pool: each row's sort and sums are its own, so the result is the
    same however the rows are split."""
    pixels = errors.shape[-1]
    rows = errors.reshape(-1, pixels)
    foreground = np.broadcast_to(foreground, errors.shape).reshape(rows.shape)
    valid = None if valid is None else np.broadcast_to(valid, errors.shape).reshape(rows.shape)
    weights = np.empty(rows.shape, errors.dtype)

    def block(r0: int, r1: int) -> None:
        mask = None if valid is None else valid[r0:r1]
        weights[r0:r1] = _lovasz_row_weights(rows[r0:r1], foreground[r0:r1], mask)

    _parallel.map_rows(block, rows.shape[0], pixels)
    return weights.reshape(errors.shape)


def _lovasz_row_weights(
    errors: np.ndarray, foreground: np.ndarray, valid: np.ndarray | None
) -> np.ndarray:
    """The Lovasz-extension weights of the Jaccard loss, at each pixel's own position.

    Along the last axis, pixels are sorted by decreasing error (ignored ones last); with
    ``F_k`` the foreground among the first k, ``G`` all of it and ``N_k`` the background among
    the first k, ``J_k = 1 - (G - F_k) / (G + N_k)`` and the k-th weight is ``J_k - J_{k-1}``.
    The loss ``sum_k e_(k) w_k`` is then ``sum_i e_i w_i`` with the weights scattered back:
    the weights are constants (they depend on the order only), as in every implementation.
    Tied errors contribute ``e (J_last - J_first)`` over their run in any order, so the loss
    does not depend on how ties are ordered (torch's ``sort`` in smp and kornia is not stable).
    """
    order = _descending_order(errors if valid is None else np.where(valid, errors, -np.inf))
    if valid is None:  # every pixel counts: the background among the first k is k - F_k
        covered = foreground.ravel().take(order).astype(errors.dtype)
        total = covered.sum(-1, keepdims=True)
        np.cumsum(covered, -1, out=covered)  # F_k (whole numbers: exact in float32 to 2^24)
        union = np.arange(1, covered.shape[-1] + 1, dtype=errors.dtype) + total
        union -= covered  # G + N_k
        np.subtract(total, covered, out=covered)  # G - F_k
        covered /= union
        jaccard = np.subtract(1, covered, out=covered)
    else:
        foreground = foreground.astype(errors.dtype, copy=False)
        foreground_sorted = (foreground * valid).ravel().take(order)
        background_sorted = ((1 - foreground) * valid).ravel().take(order)
        total = foreground_sorted.sum(-1, keepdims=True)
        union = total + np.cumsum(background_sorted, -1)
        intersection = total - np.cumsum(foreground_sorted, -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            jaccard = np.where(union > 0, 1 - intersection / np.where(union > 0, union, 1), 0.0)
    sorted_weights = union  # reused: J_k - J_{k-1}
    sorted_weights[..., 0] = jaccard[..., 0]
    np.subtract(jaccard[..., 1:], jaccard[..., :-1], out=sorted_weights[..., 1:])
    np.put(jaccard, order, sorted_weights)
    return jaccard.astype(errors.dtype, copy=False)


_LOW_HALF, _NON_SIGN = np.uint32(0xFFFF), np.uint32(0x7FFFFFFF)


def _descending_order(errors: np.ndarray) -> np.ndarray:
    """The flat indices that sort each row of the 2-D ``errors`` by decreasing value (ties in
    index order, a NaN of positive sign first, as torch's descending ``sort`` puts it).

    float32: a least-significant-digit radix sort of the float bits mapped to integers in
    decreasing order of the floats (``0x7FFFFFFF - bits`` for a positive sign, the bits of a
    negative one): two stable argsorts of 16-bit halves, which NumPy sorts by radix, in time
    linear in a row's length (NumPy's float32 argsort is not vectorized here); the gathers
    by flat index (``take``), several times faster than ``take_along_axis``. Other dtypes:
    NumPy's argsort.
    """
    rows, pixels = errors.shape
    offsets = np.arange(0, rows * pixels, pixels)[:, None]
    if errors.dtype != np.float32:
        order = np.argsort(np.negative(errors), axis=-1)
        order += offsets
        return order
    bits = errors.view(np.uint32)
    key = np.subtract(bits >> np.uint32(31), np.uint32(1))  # 0xFFFFFFFF for a positive sign
    key &= _NON_SIGN
    key ^= bits
    low_first = np.argsort((key & _LOW_HALF).astype(np.uint16), axis=-1, kind="stable")
    low_first += offsets
    high = (key >> np.uint32(16)).astype(np.uint16).ravel().take(low_first)
    order = np.argsort(high, axis=-1, kind="stable")
    order += offsets
    return low_first.ravel().take(order)


def _lovasz_labels(
    target: Tensor, rows: int, ignore_index: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The labels as ``(rows, pixels)`` and the mask of the pixels that count (None: all)."""
    labels = target._data.reshape(rows, -1)
    return labels, None if ignore_index is None else labels != ignore_index


def lovasz_hinge_loss(
    input: Tensor,
    target: Tensor,
    per_image: bool = True,
    ignore_index: int | None = None,
) -> Tensor:
    r"""Lovasz hinge loss (Berman et al. 2018): the Lovasz extension of the binary Jaccard loss
    applied to hinge errors.

    For logits ``x`` and binary labels ``y``, ``e_i = max(0, 1 - x_i (2 y_i - 1))``; sorting the
    errors in decreasing order, ``l = sum_k e_(k) (J_k - J_{k-1})`` with ``J_k`` the Jaccard loss
    of predicting the first k pixels (the Lovász extension's weights). One loss per image, averaged
    (``per_image``, Berman's default and kornia's), or one over the whole batch. Gradient: the
    weights are piecewise constant, so ``dl/dx_i = -(2 y_i - 1) w_i [e_i > 0]``; the second
    derivative is 0 almost everywhere.

    =======================================  =========================================
    library                                  settings
    =======================================  =========================================
    ``kornia.losses.lovasz_hinge_loss``      defaults (input ``(B, 1, H, W)``)
    smp ``LovaszLoss('binary', p, i)``       ``per_image=p, ignore_index=i`` (smp's
                                             default ``per_image=False``)
    smp ``LovaszLoss('multilabel', p, i)``   the same (all channels of an image together)
    =======================================  =========================================

    Args:
        input: ``(B, *)`` logits (e.g. ``(B, 1, H, W)``).
        target: binary labels with ``input``'s number of elements per image.
        per_image: one loss per image (averaged) or one over the batch.
        ignore_index: label of pixels left out.

    Returns:
        A scalar (0 when every pixel is ignored).

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> x = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]])
        >>> y = torch.tensor([[[1, 0], [0, 0]]])
        >>> F.lovasz_hinge_loss(x, y)
        tensor(0.7500)
    """
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if input.dim() < 1 or input._data.dtype.kind != "f":
        raise TypeError(f"input: expected floating point logits (B, *), got {input.dtype}")
    if target.numel() != input.numel() or (target.dim() and target.shape[0] != input.shape[0]):
        raise ValueError(
            f"target: expected {input.numel()} labels for input {tuple(input.shape)}, got "
            f"{tuple(target.shape)}"
        )
    rows = input.shape[0] if per_image else 1
    logits = reshape(input.float() if input._data.dtype in _HALF_FLOATS else input, (rows, -1))
    labels, valid = _lovasz_labels(target, rows, ignore_index)
    foreground = (labels == 1).astype(logits._data.dtype)
    errors = 1.0 - logits * from_numpy(2 * foreground - 1)
    weights = _lovasz_weights(errors._data, foreground, valid)
    losses = _R.sum(relu(errors) * from_numpy(weights.astype(errors._data.dtype)), 1)
    return _restore_dtype(_R.mean(losses), input)


class _LovaszErrors(ArrayFunction):
    """``l[r, c] = sum_i |1[y_i = c] - p_ci| w_ci`` for ``(rows, C, pixels)`` probabilities, with
    the Lovasz weights ``w`` of the errors' order (``_lovasz_weights``: constants).

    Gradient ``dl/dp_ci = w_ci sign(p_ci - 1[y_i = c])``, kept from the forward as one array
    (the composite kept the errors, their difference and the weights). It is linear in the
    incoming gradient, with a constant slope: the second derivative is 0, as that of ``|.|``
    almost everywhere.
    """

    node_name = "LovaszErrorsBackward0"

    @staticmethod
    def forward(
        ctx: Any, prob: np.ndarray, foreground: np.ndarray, valid: np.ndarray | None
    ) -> np.ndarray:
        errors = np.subtract(prob, foreground)
        np.abs(errors, out=errors)
        weights = _lovasz_weights(errors, foreground, valid)
        losses = np.matmul(errors[:, :, None, :], weights[..., None])[..., 0, 0]
        slope = np.sign(np.subtract(prob, foreground, out=errors), out=errors)
        slope *= weights
        ctx.slope = slope
        return losses

    @staticmethod
    def backward_array(ctx: Any, grad: np.ndarray) -> tuple[Any, ...]:
        slope = ctx.slope
        if ctx.last_use:
            ctx.slope = None
        return slope * grad[..., None], None, None

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        return grad.unsqueeze(-1) * from_numpy(ctx.slope), None, None


def lovasz_softmax_loss(
    input: Tensor,
    target: Tensor,
    classes: str | Sequence[int] = "present",
    per_image: bool = False,
    ignore_index: int | None = None,
    weight: Tensor | None = None,
    *,
    from_logits: bool = True,
) -> Tensor:
    r"""Lovasz-softmax loss (Berman et al. 2018): the Lovasz extension of each class's Jaccard
    loss applied to ``|1[y = c] - p_c|``, with ``p`` the softmax of the logits.

    Per class and image (or over the batch), ``l_c = sum_k e_(k) (J_k - J_{k-1})`` over the
    errors sorted in decreasing order (``lovasz_hinge_loss``); then the mean over the classes
    present in the target (``classes='present'``, Berman's and smp's), over all (``'all'``,
    kornia's) or over a list of classes, and over the images. ``weight`` multiplies each
    class's loss (kornia). Gradient: ``dl/dp_c = w_i sign(p_c - 1[y=c])`` at each pixel, then
    through the softmax.

    =========================================  ==========================================
    library                                    settings
    =========================================  ==========================================
    smp ``LovaszLoss('multiclass', p, i)``     defaults with ``per_image=p,
                                               ignore_index=i``
    ``kornia.losses.lovasz_softmax_loss``      ``classes='all', per_image=True``
    (``weight=w``)                             (``weight=w``)
    =========================================  ==========================================

    Args:
        input: ``(B, C, *spatial)`` logits (probabilities with ``from_logits=False``).
        target: ``(B, *spatial)`` or ``(B, 1, *spatial)`` class indices.
        classes: ``'present'`` | ``'all'`` | a list of class indices.
        per_image: one loss per image (averaged) or one over the batch.
        ignore_index: label of pixels left out.
        weight: ``(C,)`` class weights (kornia).
        from_logits: apply the softmax over the channels first.

    Returns:
        A scalar.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> x = torch.tensor([[[[2.0, -1.0]], [[0.0, 1.0]]]])
        >>> F.lovasz_softmax_loss(x, torch.tensor([[[0, 1]]]))
        tensor(0.1192)
    """
    _checks.check_tensor(input, "input")
    _checks.check_tensor(target, "target")
    if input.dim() < 2 or input._data.dtype.kind != "f":
        raise TypeError(
            f"input: expected floating point (B, C, *spatial) scores, got {input.dtype} of shape "
            f"{tuple(input.shape)}"
        )
    if target.dim() == input.dim() and target.shape[1] == 1:
        target = target[:, 0]
    if tuple(target.shape) != (input.shape[0], *input.shape[2:]):
        raise ValueError(
            f"target: expected class indices of shape {(input.shape[0], *input.shape[2:])} for "
            f"input {tuple(input.shape)}, got {tuple(target.shape)}"
        )
    num_classes = input.shape[1]
    _class_indices(target, num_classes, ignore_index)
    if isinstance(classes, str) and classes not in ("present", "all"):
        raise ValueError(
            f"classes: expected 'present', 'all' or a list of classes, got {classes!r}"
        )
    scores = input.float() if input._data.dtype in _HALF_FLOATS else input
    prob = _softmax(scores, 1) if from_logits else scores
    rows = input.shape[0] if per_image else 1
    # (rows, C, pixels): each image (or the batch) and class is one Lovasz problem
    prob = reshape(prob.movedim(1, -1), (rows, -1, num_classes)).movedim(-1, 1)
    labels, valid = _lovasz_labels(target, rows, ignore_index)
    foreground = labels[:, None, :] == np.arange(num_classes).reshape(1, -1, 1)
    if valid is not None:
        valid = np.broadcast_to(valid[:, None, :], foreground.shape)
        foreground = foreground & valid
    losses = _LovaszErrors.apply(prob, foreground, valid)  # (rows, C)
    if weight is not None:
        losses = losses * reshape(weight, (1, -1))
    if classes == "all":
        selected = np.ones((rows, num_classes))
    elif classes == "present":
        selected = foreground.any(-1)
    else:
        selected = np.zeros((rows, num_classes))
        selected[:, list(classes)] = 1
    selected = selected.astype(losses._data.dtype)
    counts = np.maximum(selected.sum(1), 1)  # an image with no class to average gives 0
    share = (selected / counts[:, None]).astype(losses._data.dtype)
    per_row = _R.sum(losses * from_numpy(share), 1)
    return _restore_dtype(_R.mean(per_row), input)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
