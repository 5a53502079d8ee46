"""linear_dpo_loss (DPO with the policy's and the reference's heads fused, the policy's gradient
made in the forward a chunk of pairs at a time) against Liger-Kernel's LigerFusedLinearDPOLoss
(pure torch, CPU, compiled=False), DPO's formula written out in torch, and the composite
linear_sequence_log_probs + dpo_loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from liger_kernel.chunked_loss.dpo_loss import LigerFusedLinearDPOLoss

import lossgrad as lg
import lossgrad.nn.functional as LF
from lossgrad.autograd import gradgradcheck

RNG = np.random.default_rng(20261207)


def _case(pairs=3, length=5, features=4, vocab=11, dtype=np.float64, fully_ignored=False):
    arrays = [
        RNG.standard_normal(shape).astype(dtype)
        for shape in (
            (2 * pairs, length, features),
            (vocab, features),
            (vocab,),
            (2 * pairs, length, features + 1),
            (vocab, features + 1),
            (vocab,),
        )
    ]
    labels = RNG.integers(0, vocab, (2 * pairs, length))
    labels[:, :2] = -100  # the prompt
    labels[0, -1] = -100
    if fully_ignored:
        labels[pairs + 1] = -100
    return arrays, labels


def _sequence_logps(x, w, b, labels, average):
    """Per-sequence (and per-token) label log-probabilities of the head ``x W^T + b``, in torch."""
    logps = torch.log_softmax(x @ w.T + b, -1)
    kept = labels != -100
    token = torch.gather(logps, 2, labels.clamp(min=0)[..., None])[..., 0] * kept
    total = token.sum(1)
    return (total / kept.sum(1).clamp(min=1) if average else total), token


def _torch_formula(policy_head, reference, labels, beta, average, alpha, reduction):
    """DPO of the per-sequence log-probabilities plus ``alpha`` times the chosen tokens' mean
    NLL, written out in torch."""
    pairs = labels.shape[0] // 2
    policy, token = _sequence_logps(*policy_head, labels, average)
    ratio = policy - reference
    losses = -TF.logsigmoid(beta * (ratio[:pairs] - ratio[pairs:]))
    loss = {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]
    if alpha:
        loss = loss - alpha * token[:pairs].sum() / (labels[:pairs] != -100).sum().clamp(min=1)
    return loss


def _grads(loss, inputs, lib):
    return [g.detach().numpy() for g in lib.autograd.grad(loss, inputs)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("nll", [False, True])
def test_linear_dpo_matches_liger(dtype, average, nll):
    arrays, labels = _case(dtype=dtype)
    kwargs = {"beta": 0.2, "average_log_prob": average, "compute_nll_loss": nll, "alpha": 0.7}
    liger = LigerFusedLinearDPOLoss(compiled=False, chunk_size=2, **kwargs)
    t = [torch.tensor(a, requires_grad=True) for a in arrays[:3]]
    expected = liger(t[1], t[0], torch.tensor(labels), t[2], *map(torch.tensor, arrays[3:]))[0]
    ours = [lg.tensor(a, requires_grad=True) for a in arrays[:3]]
    ref = [lg.tensor(a) for a in arrays[3:]]
    got = LF.linear_dpo_loss(
        ours[0],
        ours[1],
        lg.tensor(labels),
        linear_bias=ours[2],
        ref_input=ref[0],
        ref_weight=ref[1],
        ref_bias=ref[2],
        chunk_size=2,
        **kwargs,
    )
    assert got.dtype == ours[0].dtype
    tol = 2e-5 if dtype == np.float32 else 1e-6  # Liger takes the log-softmax in float32
    np.testing.assert_allclose(got.item(), expected.item(), rtol=tol, atol=tol)
    for g, e in zip(_grads(got, ours, lg), _grads(expected, t, torch)):
        np.testing.assert_allclose(g, e, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("average", [False, True])
def test_linear_dpo_matches_torch_formula_with_fully_ignored_rows(dtype, reduction, average):
    """Every chunking (one pair, two, all), a sequence with every token ignored (0 there, where
    Liger's average divides 0 by 0), the reference as a head, as log-probabilities, or none."""
    arrays, labels = _case(dtype=dtype, fully_ignored=True)
    t = [torch.tensor(a, requires_grad=True) for a in arrays[:3]]
    t_labels = torch.tensor(labels)
    t_reference = _sequence_logps(*map(torch.tensor, arrays[3:]), t_labels, average)[0]
    alpha = 0.5 if reduction != "none" else 0.0
    tol = 2e-5 if dtype == np.float32 else 1e-10
    weights = np.linspace(0.5, 1.5, 3) if reduction == "none" else np.ones(())
    references = {
        "head": dict(zip(("ref_input", "ref_weight", "ref_bias"), map(lg.tensor, arrays[3:]))),
        "logps": {"reference_logps": lg.tensor(t_reference.numpy())},
        "none": {},
    }
    for name, reference in references.items():
        reference_logps = torch.zeros(6, dtype=t[0].dtype) if name == "none" else t_reference
        expected = _torch_formula(t, reference_logps, t_labels, 0.3, average, alpha, reduction)
        assert torch.isfinite(expected).all()
        wanted = torch.autograd.grad(expected, t, torch.tensor(weights.astype(dtype)))
        for chunk_size in (1, 2, 3):
            ours = [lg.tensor(a, requires_grad=True) for a in arrays[:3]]
            got = LF.linear_dpo_loss(
                ours[0],
                ours[1],
                lg.tensor(labels),
                linear_bias=ours[2],
                beta=0.3,
                average_log_prob=average,
                compute_nll_loss=bool(alpha),
                alpha=alpha,
                reduction=reduction,
                chunk_size=chunk_size,
                **reference,
            )
            np.testing.assert_allclose(
                got.detach().numpy(), expected.detach().numpy(), rtol=tol, atol=tol
            )
            found = lg.autograd.grad(got, ours, lg.tensor(weights.astype(dtype)))
            for g, e in zip(found, wanted):
                np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=tol, atol=tol)


def test_linear_dpo_makes_no_logits_for_ignored_tokens():
    """An ignored token (the prompt) adds 0 to the loss and every gradient, so the fused heads
    skip it: NaN hidden states there (policy and reference) change nothing."""
    arrays, labels = _case()
    t = [torch.tensor(a, requires_grad=True) for a in arrays[:3]]
    t_labels = torch.tensor(labels)
    reference = _sequence_logps(*map(torch.tensor, arrays[3:]), t_labels, False)[0]
    expected = _torch_formula(t, reference, t_labels, 0.3, False, 0.5, "mean")
    wanted = torch.autograd.grad(expected, t)
    ignored = labels == -100
    arrays[0][ignored] = np.nan
    arrays[3][ignored] = np.nan
    ours = [lg.tensor(a, requires_grad=True) for a in arrays[:3]]
    ref_input, ref_weight, ref_bias = map(lg.tensor, arrays[3:])
    got = LF.linear_dpo_loss(
        ours[0],
        ours[1],
        lg.tensor(labels),
        linear_bias=ours[2],
        ref_input=ref_input,
        ref_weight=ref_weight,
        ref_bias=ref_bias,
        beta=0.3,
        compute_nll_loss=True,
        alpha=0.5,
    )
    np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-10)
    for g, e in zip(lg.autograd.grad(got, ours), wanted):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-10, atol=1e-12)


def test_linear_dpo_equals_the_composite_and_its_second_derivatives():
    """The fused forward against linear_sequence_log_probs + dpo_loss (values, gradients, a
    retained graph run twice, the head alone); gradgradcheck through create_graph."""
    arrays, labels = _case(pairs=2, length=3, features=2, vocab=5)
    hidden, head, bias = (lg.tensor(a, requires_grad=True) for a in arrays[:3])
    ref = [lg.tensor(a) for a in arrays[3:]]
    y = lg.tensor(labels)
    policy = LF.linear_sequence_log_probs(hidden, head, y, linear_bias=bias, average=True)
    reference = LF.linear_sequence_log_probs(*ref[:2], y, linear_bias=ref[2], average=True)
    composite = LF.dpo_loss(policy[:2], policy[2:], reference[:2], reference[2:], beta=0.4)
    wanted = _grads(composite, [hidden, head, bias], lg)

    def fused(x, w, b):
        return LF.linear_dpo_loss(
            x,
            w,
            y,
            linear_bias=b,
            ref_input=ref[0],
            ref_weight=ref[1],
            ref_bias=ref[2],
            beta=0.4,
            average_log_prob=True,
        )

    got = fused(hidden, head, bias)
    np.testing.assert_allclose(got.item(), composite.item(), rtol=1e-12)
    got.backward(retain_graph=True)
    first = [x.grad.numpy().copy() for x in (hidden, head, bias)]
    got.backward()
    for g, twice, e in zip(first, (hidden.grad, head.grad, bias.grad), wanted):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(twice.numpy(), 2 * e, rtol=1e-10, atol=1e-12)
    (head_alone,) = lg.autograd.grad(fused(hidden.detach(), head, None), [head])
    policy = LF.linear_sequence_log_probs(hidden.detach(), head, y, average=True)
    composite = LF.dpo_loss(policy[:2], policy[2:], reference[:2], reference[2:], beta=0.4)
    np.testing.assert_allclose(head_alone.numpy(), _grads(composite, [head], lg)[0], rtol=1e-10)
    assert gradgradcheck(fused, (hidden, head, bias))
    nll = lambda x, w, b: LF.linear_dpo_loss(x, w, y, linear_bias=b, compute_nll_loss=True)  # noqa: E731
    assert gradgradcheck(nll, (hidden, head, bias))


def test_linear_dpo_bad_arguments():
    arrays, labels = _case(pairs=1, length=2, features=2, vocab=3)
    hidden, head = lg.tensor(arrays[0]), lg.tensor(arrays[1])
    y = lg.tensor(labels)
    with pytest.raises(ValueError, match=r"input \(2B, T, D\).*\(3, 2, 2\)"):
        LF.linear_dpo_loss(
            lg.tensor(np.zeros((3, 2, 2))), head, lg.tensor(np.zeros((3, 2), np.int64))
        )
    with pytest.raises(ValueError, match="labels"):
        LF.linear_dpo_loss(hidden, head, lg.tensor(np.zeros((2, 3), np.int64)))
    with pytest.raises(ValueError, match="ref_input and ref_weight"):
        LF.linear_dpo_loss(hidden, head, y, ref_input=hidden)
    with pytest.raises(ValueError, match="not both"):
        LF.linear_dpo_loss(
            hidden, head, y, ref_input=hidden, ref_weight=head, reference_logps=lg.zeros(2)
        )
    with pytest.raises(ValueError, match=r"reference_logps of shape \(2,\), got \(3,\)"):
        LF.linear_dpo_loss(hidden, head, y, reference_logps=lg.zeros(3))
    with pytest.raises(ValueError, match=r"ref_weight \(V, D_ref\)"):
        LF.linear_dpo_loss(hidden, head, y, ref_input=hidden, ref_weight=lg.zeros(3, 5))
    with pytest.raises(ValueError, match="beta must be positive, got 0"):
        LF.linear_dpo_loss(hidden, head, y, beta=0)
    with pytest.raises(ValueError, match="chunk_size must be a positive int, got 0"):
        LF.linear_dpo_loss(hidden, head, y, chunk_size=0)
    with pytest.raises(ValueError, match="compute_nll_loss"):
        LF.linear_dpo_loss(hidden, head, y, compute_nll_loss=True, reduction="none")
