"""The RNN transducer loss (Graves 2012) with torchaudio's signature.

For one utterance with ``T`` encoder frames and a target ``y_1..y_U``, the joint network gives
log-probabilities ``log P(k | t, u)`` over the vocabulary at every frame ``t`` and every number
``u`` of labels emitted so far. An alignment moves from ``(0, 0)`` to ``(T - 1, U)``: at
``(t, u)`` it either emits blank and moves to the next frame, or emits ``y_{u+1}`` and stays on
the frame. The
forward variable ``α(t, u)`` (log-probability of reaching ``(t, u)``) obeys::

    α(0, 0) = 0
    α(t, u) = logaddexp(α(t - 1, u) + blank(t - 1, u),  α(t, u - 1) + emit(t, u - 1))
    loss    = -(α(T - 1, U) + blank(T - 1, U))

with ``blank(t, u) = log P(∅ | t, u)`` and ``emit(t, u) = log P(y_{u+1} | t, u)``. Cells on one
anti-diagonal ``t + u = n`` depend only on the previous diagonal, so the recursion runs over the
``T + U`` diagonals with every cell of a diagonal (and every utterance) at once. It is written
with lossgrad ops: the gradient, and the second derivative that no other implementation has,
come from autograd.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad._exports import public_names
from lossgrad._tensor import Tensor
from lossgrad.autograd import grad as autograd_grad
from lossgrad.autograd.function import ArrayFunction
from lossgrad.nn.functional import _checks, _reduction
from lossgrad.ops.activation import log_softmax
from lossgrad.ops.index import gather
from lossgrad.ops.pointwise import add, clamp, div, mul, where
from lossgrad.ops.reduce import logsumexp
from lossgrad.ops.shape import cat, stack


class _GradientScale:
    """The upstream gradient of each utterance's cost, recorded on the way back so that
    :class:`_ClampGradient` can clamp the gradient of the cost itself, as torchaudio does."""

    def __init__(self) -> None:
        self.per_utterance: Tensor | None = None


class _RecordScale(ArrayFunction):
    """Identity on the costs whose backward stores the upstream gradient in a
    :class:`_GradientScale`."""

    node_name = "RnntLossBackward0"

    @staticmethod
    def forward(ctx: Any, costs: np.ndarray, scale: _GradientScale) -> np.ndarray:
        ctx.scale = scale
        return costs.copy()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        ctx.scale.per_utterance = grad.detach()
        return grad, None


class _ClampGradient(ArrayFunction):
    """Identity on the logits whose backward clamps each utterance's gradient of its own cost
    to ``[-clamp, clamp]`` before the upstream gradient scales it (torchaudio's ``clamp``)."""

    node_name = "RnntClampBackward"

    @staticmethod
    def forward(ctx: Any, logits: np.ndarray, bound: float, scale: _GradientScale) -> np.ndarray:
        ctx.bound, ctx.scale = bound, scale
        return logits.copy()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        upstream = ctx.scale.per_utterance.reshape(-1, 1, 1, 1)
        nonzero = upstream != 0
        own = div(grad, where(nonzero, upstream, 1.0))
        clamped = clamp(own, -ctx.bound, ctx.bound)
        return where(nonzero, mul(clamped, upstream), 0.0), None, None


def _check_inputs(
    logits: Any, targets: Any, logit_lengths: Any, target_lengths: Any, blank: int
) -> tuple[int, np.ndarray]:
    """The operands' types and shapes, the lengths and the labels (torchaudio's checks, with
    messages that name the argument). Returns ``blank`` in ``[0, V)`` and the labels, with
    the padding past each target length (never read) set to ``blank``."""
    for value, name in (
        (logits, "logits"),
        (targets, "targets"),
        (logit_lengths, "logit_lengths"),
        (target_lengths, "target_lengths"),
    ):
        _checks.check_tensor(value, name)
    if logits.dim() != 4:
        raise RuntimeError(
            f"rnnt_loss: logits must be 4-D (batch, time, target + 1, vocabulary), "
            f"got shape {tuple(logits.shape)}"
        )
    if not logits.dtype.is_floating_point:
        raise RuntimeError(f"rnnt_loss: logits must be floating point, got {logits.dtype}")
    batch, _, label_positions, vocabulary = logits.shape
    if targets.dim() != 2 or targets.shape[0] != batch:
        raise RuntimeError(
            f"rnnt_loss: targets must be 2-D with batch size {batch}, got shape "
            f"{tuple(targets.shape)}"
        )
    for value, name in (
        (targets, "targets"),
        (logit_lengths, "logit_lengths"),
        (target_lengths, "target_lengths"),
    ):
        if value.dtype.is_floating_point or value.dtype.is_complex:
            raise RuntimeError(f"rnnt_loss: {name} must be an integer tensor, got {value.dtype}")
    _check_lengths(logit_lengths, target_lengths, logits.shape)
    if targets.shape[1] < label_positions - 1:
        raise RuntimeError(
            f"rnnt_loss: targets have {targets.shape[1]} labels per utterance but "
            f"target_lengths asks for {label_positions - 1}"
        )
    if not -vocabulary <= blank < vocabulary:
        raise ValueError(
            f"rnnt_loss: blank must be in [{-vocabulary}, {vocabulary - 1}], got {blank}"
        )
    blank %= vocabulary
    return blank, _labels(targets._data, target_lengths._data, vocabulary, blank)


def _check_lengths(logit_lengths: Tensor, target_lengths: Tensor, shape: tuple[int, ...]) -> None:
    """RuntimeError (torchaudio's checks, and torch's CTC one for negative lengths) unless the
    lengths are 1-D of the batch size, the longest fill the logits' frames and label
    positions, every ``logit_lengths`` is at least 1 and every ``target_lengths`` at least 0."""
    batch, frames, label_positions, _ = shape
    for lengths, name in ((logit_lengths, "logit_lengths"), (target_lengths, "target_lengths")):
        if lengths.dim() != 1 or lengths.shape[0] != batch:
            raise RuntimeError(
                f"rnnt_loss: {name} must be 1-D of size {batch}, got shape {tuple(lengths.shape)}"
            )
    if not batch:
        return
    if int(logit_lengths._data.max()) != frames:
        raise RuntimeError(
            f"rnnt_loss: input length mismatch: logits have {frames} frames but the longest "
            f"logit_lengths is {int(logit_lengths._data.max())}"
        )
    if int(target_lengths._data.max()) + 1 != label_positions:
        raise RuntimeError(
            f"rnnt_loss: output length mismatch: logits have {label_positions} label positions "
            f"but the longest target_lengths is {int(target_lengths._data.max())} (needs + 1)"
        )
    if int(logit_lengths._data.min()) < 1:
        raise RuntimeError(
            f"rnnt_loss: every logit_lengths must be at least 1, got {logit_lengths.tolist()}"
        )
    if int(target_lengths._data.min()) < 0:
        raise RuntimeError(
            f"rnnt_loss: every target_lengths must be at least 0, got {target_lengths.tolist()}"
        )


def _labels(
    targets: np.ndarray, target_lengths: np.ndarray, vocabulary: int, blank: int
) -> np.ndarray:
    """The labels within each target length, checked to lie in ``[0, V)`` (IndexError, as
    torch's for a class index out of bounds), as a new int64 array whose padding past the
    length is ``blank`` (torchaudio never reads it: any value may pad)."""
    inside = np.arange(targets.shape[1]) < target_lengths[:, None]
    labels = np.where(inside, targets, blank).astype(np.int64)
    bad = (labels < 0) | (labels >= vocabulary)
    if bad.any():
        utterance, position = np.argwhere(bad)[0]
        raise IndexError(
            f"rnnt_loss: targets must lie in [0, {vocabulary}) (the vocabulary of logits), got "
            f"{labels[utterance, position]} at targets[{utterance}, {position}]"
        )
    return labels


def _skew(values: Tensor, label_shift: int) -> tuple[Tensor, np.ndarray]:
    """Rearrange a ``(B, T, L)`` grid by anti-diagonals: ``out[:, n, u] = values[:, n - u, u -
    label_shift]``, with a mask of the cells that exist (0 stands in elsewhere)."""
    batch, frames, labels = values.shape
    diagonals = frames + labels + label_shift
    positions = labels + label_shift
    frame_index = np.arange(diagonals)[:, None] - np.arange(positions)[None, :]
    label_index = np.arange(positions)[None, :] - label_shift
    exists = (frame_index >= 0) & (frame_index < frames) & (label_index >= 0)
    frame_index = np.clip(frame_index, 0, frames - 1)
    label_index = np.broadcast_to(np.clip(label_index, 0, labels - 1), exists.shape)
    gathered = values[:, frame_index, label_index]
    return where(Tensor._make(exists), gathered, 0.0), exists


def _picked_log_probs(log_probs: Tensor, targets: np.ndarray, blank: int) -> Tensor:
    """``(B, T, U + 1, 2)``: the blank's log-probability and the next label's (the last label
    position, which has none, repeats the blank), picked from ``log_probs`` with ops."""
    batch, frames, label_positions, _ = log_probs.shape
    index = np.full((batch, frames, label_positions, 2), blank, np.int64)
    index[:, :, : label_positions - 1, 1] = targets[:, None, : label_positions - 1]
    return gather(log_probs, 3, Tensor._make(index))


class _LogSoftmaxPicks(ArrayFunction):
    """`_picked_log_probs` of ``log_softmax(logits)``, fused: the forward never writes the full
    log-softmax, and the first-order backward writes the logits' gradient in one array,
    ``g_blank [k = ∅] + g_emit [k = y] - (g_blank + g_emit) softmax(z)_k``. A recorded backward
    differentiates the composite (``log_softmax`` and the picks in ops)."""

    node_name = "LogSoftmaxBackward0"

    @staticmethod
    def forward(ctx: Any, logits: np.ndarray, targets: np.ndarray, blank: int) -> np.ndarray:
        top = logits.max(-1, keepdims=True)
        shifted = logits - top
        log_totals = np.log(np.exp(shifted, out=shifted).sum(-1, keepdims=True))
        log_normalizer = top + log_totals
        picks = _picked_log_probs(Tensor._make(logits), targets, blank)._data
        ctx.save_for_backward(logits)
        ctx.targets, ctx.blank, ctx.log_normalizer = targets, blank, log_normalizer
        return picks - log_normalizer

    @staticmethod
    def backward_array(ctx: Any, grad: np.ndarray) -> tuple[Any, ...]:
        (logits,) = ctx._saved_arrays()
        gradient = np.subtract(logits, ctx.log_normalizer)
        np.exp(gradient, out=gradient)
        gradient *= -grad.sum(-1, keepdims=True)
        batch, frames, label_positions, _ = logits.shape
        b, t, u = np.indices((batch, frames, label_positions), sparse=True)
        gradient[b, t, u, ctx.blank] += grad[..., 0]
        labels = label_positions - 1
        if labels:
            label = ctx.targets[:, None, :labels].astype(np.int64)
            gradient[b, t, u[..., :labels], label] += grad[:, :, :labels, 1]
        return gradient, None, None

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:
        (logits,) = ctx.saved_tensors
        picks = _picked_log_probs(log_softmax(logits, -1), ctx.targets, ctx.blank)
        (gradient,) = autograd_grad(picks, logits, grad, create_graph=True)
        return gradient, None, None


def _utterance_costs(
    picks: Tensor,
    logit_lengths: np.ndarray,
    target_lengths: np.ndarray,
) -> Tensor:
    """``-log P(y | x)`` per utterance by the forward recursion over anti-diagonals, from the
    ``(B, T, U + 1, 2)`` blank and next-label log-probabilities."""
    batch, frames, label_positions, _ = picks.shape
    labels = label_positions - 1
    blank_log_probs = picks[..., 0]
    emit_log_probs = picks[:, :, :labels, 1]
    stay_gain, stay_exists = _skew(blank_log_probs, 0)
    emit_gain, emit_exists = _skew(emit_log_probs, 1) if labels else (None, None)

    forward_variables = [Tensor._make(np.zeros((batch, label_positions), picks._data.dtype))]
    for diagonal in range(1, frames + labels):
        previous = forward_variables[-1]
        stay = add(previous, stay_gain[:, diagonal - 1])  # from (t - 1, u)
        if not labels:
            forward_variables.append(stay)
            continue
        emit = add(
            cat([previous[:, :1], previous[:, :-1]], 1), emit_gain[:, diagonal]
        )  # (t, u - 1)
        stay_ok, emit_ok = stay_exists[diagonal - 1], emit_exists[diagonal]
        both = logsumexp(stack([stay, emit]), 0)
        one = where(Tensor._make(stay_ok), stay, emit)
        forward_variables.append(where(Tensor._make(stay_ok & emit_ok), both, one))
    alphas = stack(forward_variables, 1)
    utterances = np.arange(batch)
    last_frame = logit_lengths.astype(np.int64) - 1
    label_count = target_lengths.astype(np.int64)
    final = alphas[utterances, last_frame + label_count, label_count]
    return -(final + blank_log_probs[utterances, last_frame, label_count])


def rnnt_loss(
    logits: Tensor,
    targets: Tensor,
    logit_lengths: Tensor,
    target_lengths: Tensor,
    blank: int = -1,
    clamp: float = -1,
    reduction: str = "mean",
    fused_log_softmax: bool = True,
) -> Tensor:
    """The RNN transducer loss ``-log P(y | x)`` summed over all alignments (torchaudio's
    ``rnnt_loss``).

    Forward recursion (``blank``/``emit`` are log-probabilities of blank and of the next label)::

        α(t, u) = logaddexp(α(t-1, u) + blank(t-1, u),  α(t, u-1) + emit(t, u-1))
        loss    = -(α(T-1, U) + blank(T-1, U))

    Gradient: ``∂loss/∂log P(k | t, u) = -γ(t, u, k)``, the posterior probability that an
    alignment passes from ``(t, u)`` with symbol ``k`` (from the forward and backward variables);
    with ``fused_log_softmax`` the log-softmax's Jacobian follows. Computed by autograd through
    the recursion, so second derivatives are available too.

    Args:
        logits: joint-network outputs ``(B, T, U + 1, V)``.
        targets: labels ``(B, U)`` (int32 as torchaudio, or int64) in ``[0, V)``, padded
            with any value past each target length (never read).
        logit_lengths: frames per utterance ``(B,)``; the longest must equal ``T``.
        target_lengths: labels per utterance ``(B,)``, at least 0; the longest must equal
            ``U``.
        blank: the blank index. Default -1 (the last symbol, torchaudio's default;
            warprnnt-numba's default is 0).
        clamp: if positive, each utterance's gradient w.r.t. ``logits`` is clamped to
            ``[-clamp, clamp]`` before the upstream gradient scales it. Default -1 (off).
        reduction: ``'none'`` | ``'mean'`` (over utterances) | ``'sum'``. Default ``'mean'``.
        fused_log_softmax: apply log-softmax to ``logits`` here (default); with False,
            ``logits`` must already be log-probabilities.

    Returns:
        A scalar, or the ``(B,)`` costs for ``'none'``.

    Shape:
        logits ``(B, T, U + 1, V)``, targets ``(B, U)``, lengths ``(B,)``, output ``()`` or
        ``(B,)``.

    References:
        Graves, "Sequence Transduction with Recurrent Neural Networks", ICML workshop 2012;
        ``torchaudio.functional.rnnt_loss``.

    Example:
        >>> import lossgrad as torch
        >>> import lossgrad.nn.functional as F
        >>> logits = torch.zeros(1, 2, 2, 3, requires_grad=True)   # uniform over 3 symbols
        >>> loss = F.rnnt_loss(logits, torch.tensor([[0]], dtype=torch.int32),
        ...                    torch.tensor([2], dtype=torch.int32),
        ...                    torch.tensor([1], dtype=torch.int32))
        >>> round(loss.item(), 4)                      # -log(2 paths * (1/3)^3)
        2.6027
    """
    reduction = _reduction.resolve(reduction)
    blank, labels = _check_inputs(logits, targets, logit_lengths, target_lengths, blank)
    clamp = _checks.check_float(clamp, "rnnt_loss", "clamp", 6)
    scale = _GradientScale()
    if clamp > 0:
        logits = _ClampGradient.apply(logits, float(clamp), scale)
    if fused_log_softmax:
        picks = _LogSoftmaxPicks.apply(logits, labels, blank)
    else:
        picks = _picked_log_probs(logits, labels, blank)
    costs = _utterance_costs(picks, logit_lengths._data, target_lengths._data)
    if clamp > 0:
        costs = _RecordScale.apply(costs, scale)
    return _reduction.apply(costs, reduction)


if not TYPE_CHECKING:  # see lossgrad._exports
    __all__ = public_names(globals())
