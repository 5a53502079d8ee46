"""RNN-T loss against warprnnt-numba (blank mapped to torchaudio's last-symbol default) and against
a slow reference that sums the probability of every alignment explicitly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from warprnnt_numba.rnnt_loss.rnnt_pytorch import rnnt_loss as warprnnt_loss

import lossgrad as lg
import lossgrad.nn as lnn
import lossgrad.nn.functional as F
from lossgrad.autograd import gradcheck, gradgradcheck

rng = np.random.default_rng(5)


def _problem(batch=3, frames=6, labels=4, vocabulary=5, dtype=np.float32):
    logits = rng.normal(size=(batch, frames, labels + 1, vocabulary)).astype(dtype)
    targets = rng.integers(0, vocabulary - 1, (batch, labels)).astype(np.int32)
    frame_counts = rng.integers(max(1, frames // 2), frames + 1, batch).astype(np.int32)
    label_counts = rng.integers(0, labels + 1, batch).astype(np.int32)
    frame_counts[0], label_counts[0] = frames, labels
    return logits, targets, frame_counts, label_counts


def _explicit_cost(
    log_probs: np.ndarray, target: np.ndarray, frames: int, labels: int, blank: int
) -> float:
    """-log Σ over every alignment: choose the frames at which each label is emitted
    (non-decreasing), every frame ending with one blank."""
    total = []
    for frames_of_labels in itertools.combinations_with_replacement(range(frames), labels):
        score, u = 0.0, 0
        for t in range(frames):
            while u < labels and frames_of_labels[u] == t:
                score += log_probs[t, u, target[u]]
                u += 1
            score += log_probs[t, u, blank]
        total.append(score)
    return -float(np.logaddexp.reduce(total))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_equals_warprnnt(reduction, dtype):
    logits, targets, frame_counts, label_counts = _problem(dtype=dtype)
    upstream = rng.normal(size=3).astype(dtype)
    ours = lg.tensor(logits, requires_grad=True)
    theirs = torch.tensor(logits, requires_grad=True)
    out_ours = F.rnnt_loss(
        ours,
        lg.tensor(targets),
        lg.tensor(frame_counts),
        lg.tensor(label_counts),
        reduction=reduction,
    )
    out_theirs = warprnnt_loss(
        theirs,
        torch.tensor(targets),
        torch.tensor(frame_counts),
        torch.tensor(label_counts),
        blank=logits.shape[-1] - 1,
        reduction=reduction,
    )
    if reduction == "none":
        (out_ours * lg.tensor(upstream)).sum().backward()
        (out_theirs * torch.tensor(upstream)).sum().backward()
    else:
        out_ours.backward()
        out_theirs.sum().backward()
    tol = 2e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(
        out_ours.detach().numpy(), out_theirs.detach().numpy().reshape(out_ours.shape), rtol=tol
    )
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=tol)
    assert out_ours.dtype == (lg.float32 if dtype == np.float32 else lg.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_vocabulary_equals_warprnnt(dtype):
    """V = 4096 (a subword vocabulary), short T and U to stay fast: costs and gradients."""
    logits, targets, frame_counts, label_counts = _problem(2, 5, 3, 4096, dtype)
    logits *= 3
    ours = lg.tensor(logits, requires_grad=True)
    theirs = torch.tensor(logits, requires_grad=True)
    out_ours = F.rnnt_loss(
        ours, lg.tensor(targets), lg.tensor(frame_counts), lg.tensor(label_counts), reduction="none"
    )
    out_theirs = warprnnt_loss(
        theirs,
        torch.tensor(targets),
        torch.tensor(frame_counts),
        torch.tensor(label_counts),
        blank=4095,
        reduction="none",
    )
    out_ours.sum().backward()
    out_theirs.sum().backward()
    tol = 2e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out_ours.detach().numpy(), out_theirs.detach().numpy(), rtol=tol)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=tol)


@pytest.mark.parametrize("blank", [0, 2, -1])
def test_equals_explicit_alignments(blank):
    logits, targets, frame_counts, label_counts = _problem(2, 4, 2, 4, np.float64)
    targets = np.where(targets == blank % 4, (blank + 1) % 4, targets).astype(np.int32)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    out = F.rnnt_loss(
        lg.tensor(logits),
        lg.tensor(targets),
        lg.tensor(frame_counts),
        lg.tensor(label_counts),
        blank=blank,
        reduction="none",
    )
    for b in range(2):
        expected = _explicit_cost(
            log_probs[b], targets[b], frame_counts[b], label_counts[b], blank % 4
        )
        np.testing.assert_allclose(out[b].item(), expected, rtol=1e-12)


def test_unfused_takes_log_probabilities():
    logits, targets, frame_counts, label_counts = _problem(dtype=np.float64)
    log_probs = lg.tensor(logits).log_softmax(-1)
    args = (lg.tensor(targets), lg.tensor(frame_counts), lg.tensor(label_counts))
    np.testing.assert_allclose(
        F.rnnt_loss(log_probs, *args, fused_log_softmax=False).item(),
        F.rnnt_loss(lg.tensor(logits), *args).item(),
        rtol=1e-13,
    )


def test_clamp_bounds_each_utterance_gradient():
    """warprnnt clamps after its 'mean' scaling, torchaudio before; with 'sum' both agree."""
    logits, targets, frame_counts, label_counts = _problem()
    ours = lg.tensor(logits, requires_grad=True)
    theirs = torch.tensor(logits, requires_grad=True)
    F.rnnt_loss(
        ours,
        lg.tensor(targets),
        lg.tensor(frame_counts),
        lg.tensor(label_counts),
        clamp=0.05,
        reduction="sum",
    ).backward()
    warprnnt_loss(
        theirs,
        torch.tensor(targets),
        torch.tensor(frame_counts),
        torch.tensor(label_counts),
        blank=4,
        reduction="sum",
        clamp=0.05,
    ).backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-6)
    mean_grad = lg.tensor(logits, requires_grad=True)
    F.rnnt_loss(
        mean_grad, lg.tensor(targets), lg.tensor(frame_counts), lg.tensor(label_counts), clamp=0.05
    ).backward()
    np.testing.assert_allclose(mean_grad.grad.numpy(), theirs.grad.numpy() / 3, atol=1e-6)


def test_second_derivatives():
    logits = lg.tensor(rng.normal(size=(2, 3, 3, 4)), requires_grad=True)
    targets = lg.tensor(np.array([[0, 1], [2, 0]], np.int32))
    lengths = (lg.tensor(np.array([3, 2], np.int32)), lg.tensor(np.array([2, 1], np.int32)))
    assert gradcheck(lambda x: F.rnnt_loss(x, targets, *lengths), (logits,))
    assert gradgradcheck(lambda x: F.rnnt_loss(x, targets, *lengths), (logits,))


def test_long_sequence_is_finite():
    logits, targets, frame_counts, label_counts = _problem(2, 300, 40, 6, np.float32)
    ours = lg.tensor(logits * 10, requires_grad=True)
    out = F.rnnt_loss(ours, lg.tensor(targets), lg.tensor(frame_counts), lg.tensor(label_counts))
    out.backward()
    assert np.isfinite(out.item()) and np.isfinite(ours.grad.numpy()).all()


def test_module_and_bad_input():
    logits, targets, frame_counts, label_counts = _problem()
    args = (lg.tensor(logits), lg.tensor(targets), lg.tensor(frame_counts), lg.tensor(label_counts))
    assert lnn.RNNTLoss(reduction="sum")(*args).item() == F.rnnt_loss(*args, reduction="sum").item()
    with pytest.raises(RuntimeError, match="logits must be 4-D"):
        F.rnnt_loss(args[0][0], *args[1:])
    with pytest.raises(RuntimeError, match="input length mismatch"):
        F.rnnt_loss(args[0], args[1], lg.tensor(frame_counts - 1), args[3])
    with pytest.raises(RuntimeError, match="output length mismatch"):
        F.rnnt_loss(args[0], args[1], args[2], lg.tensor(np.minimum(label_counts, 2)))
    with pytest.raises(RuntimeError, match="targets must be an integer tensor"):
        F.rnnt_loss(args[0], lg.tensor(targets.astype(np.float32)), args[2], args[3])
    with pytest.raises(ValueError, match="blank must be in"):
        F.rnnt_loss(*args, blank=5)
    keep = logits.copy()
    F.rnnt_loss(*args)
    np.testing.assert_array_equal(logits, keep)


def test_argument_errors_name_the_argument():
    """Labels outside [0, V) (IndexError, as torch's for a class index), a negative target
    length (RuntimeError, as torch's CTC) and a clamp that is not a number (TypeError, torch's
    argument parser), each naming the argument and showing the value."""
    logits, targets, frame_counts, label_counts = _problem()
    args = (lg.tensor(logits), lg.tensor(targets), lg.tensor(frame_counts), lg.tensor(label_counts))
    for bad_label in (5, -1):
        bad = targets.copy()
        bad[0, 1] = bad_label
        with pytest.raises(IndexError, match=rf"targets must lie in \[0, 5\).*got {bad_label} at"):
            F.rnnt_loss(args[0], lg.tensor(bad), *args[2:])
    negative = label_counts.copy()
    negative[1] = -1
    with pytest.raises(RuntimeError, match=r"target_lengths must be at least 0, got \[4, -1"):
        F.rnnt_loss(*args[:3], lg.tensor(negative))
    with pytest.raises(TypeError, match="argument 'clamp' .* must be float, not str"):
        F.rnnt_loss(*args, clamp="0.5")


def test_padding_past_the_target_length_is_not_read():
    """Any value may pad a target past its length (-1 here, outside the vocabulary): the costs
    and gradients are warprnnt-numba's on the same targets padded with 0."""
    logits, targets, frame_counts, label_counts = _problem(dtype=np.float64)
    label_counts[1] = 1
    padded = np.where(np.arange(4) < label_counts[:, None], targets, -1).astype(np.int32)
    zero_padded = np.where(padded < 0, 0, padded).astype(np.int32)
    ours = lg.tensor(logits, requires_grad=True)
    theirs = torch.tensor(logits, requires_grad=True)
    out_ours = F.rnnt_loss(
        ours, lg.tensor(padded), lg.tensor(frame_counts), lg.tensor(label_counts), reduction="sum"
    )
    out_theirs = warprnnt_loss(
        theirs,
        torch.tensor(zero_padded),
        torch.tensor(frame_counts),
        torch.tensor(label_counts),
        blank=4,
        reduction="sum",
    )
    out_ours.backward()
    out_theirs.sum().backward()
    np.testing.assert_allclose(out_ours.item(), out_theirs.sum().item(), rtol=1e-10)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-10)
