"""The language losses at long sequences, large vocabularies and extreme values: logits scaled
by 300 and 500, T = 8192 tokens, log-probabilities down to -1e5. Every value and gradient is
finite and equals the formula written out in torch in float64 (Liger-Kernel's pure-torch
losses, TRL's formulas), wherever that is finite."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from liger_kernel.chunked_loss.cpo_loss import LigerFusedLinearCPOFunction
from liger_kernel.chunked_loss.dpo_loss import LigerFusedLinearDPOFunction
from liger_kernel.chunked_loss.orpo_loss import LigerFusedLinearORPOFunction
from liger_kernel.chunked_loss.simpo_loss import LigerFusedLinearSimPOFunction

import lossgrad as lg
import lossgrad.nn.functional as LF
from test_loss_language_preference import LIGER_DPO_TYPES

RNG = np.random.default_rng(8192)


def _assert_matches(got, expected, dtype, rtol=None):
    """``got`` finite everywhere; equal to the float64 ``expected`` where that is finite."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert np.isfinite(got).all()
    finite = np.isfinite(expected)
    rtol = rtol or (1e-10 if dtype == np.float64 else 2e-5)
    scale = np.abs(expected[finite]).max(initial=1.0)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=rtol, atol=rtol * scale)


def _torch_grad(value, inputs):
    return [g.numpy() for g in torch.autograd.grad(value, inputs, retain_graph=True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [300.0, 500.0])
def test_sequence_log_probs_long_sequences_extreme_logits(dtype, scale):
    """TRL's get_batch_logps (log_softmax, gather, masked sum or mean with the count clamped at
    1) in float64, against both lossgrad paths, T = 8192, logits of size ``scale``."""
    batch, length, features, vocab = 2, 8192, 4, 48
    hidden = (RNG.standard_normal((batch, length, features)) * np.sqrt(scale)).astype(dtype)
    head = (RNG.standard_normal((vocab, features)) * np.sqrt(scale)).astype(dtype)
    labels = RNG.integers(0, vocab, (batch, length))
    labels[:, :1000] = -100
    t_hidden, t_head = (
        torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (hidden, head)
    )
    t_labels = torch.tensor(labels)
    mask = t_labels != -100
    log_probs = torch.log_softmax(t_hidden @ t_head.T, -1)
    token = log_probs.gather(-1, torch.where(mask, t_labels, 0).unsqueeze(-1)).squeeze(-1)
    assert log_probs.min() < -10 * scale  # extreme: some labels far below the others
    for average in (False, True):
        expected = (token * mask).sum(-1)
        if average:
            expected = expected / mask.sum(-1).clamp(min=1)
        weights = RNG.standard_normal(batch)
        t_grads = _torch_grad((expected * torch.tensor(weights)).sum(), [t_hidden, t_head])
        l_hidden, l_head = (lg.tensor(a, requires_grad=True) for a in (hidden, head))
        l_labels = lg.tensor(labels)
        fused = LF.linear_sequence_log_probs(l_hidden, l_head, l_labels, average=average)
        logits = lg.tensor(np.asarray(hidden @ head.T, dtype), requires_grad=True)
        plain = LF.sequence_log_probs(logits, l_labels, average=average)
        for got in (fused, plain):
            assert got.dtype == lg.float32 if dtype == np.float32 else lg.float64
            _assert_matches(got.detach().numpy(), expected.detach().numpy(), dtype)
        l_grads = lg.autograd.grad(fused, [l_hidden, l_head], lg.tensor(weights.astype(dtype)))
        for l_grad, t_grad in zip(l_grads, t_grads):
            _assert_matches(
                l_grad.numpy(), t_grad, dtype, rtol=None if dtype == np.float64 else 1e-4
            )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_cross_entropy_extras_extreme_logits(dtype):
    """z-loss and soft-capping at logits of size 500 over V = 4096, both paths, against the
    formula in torch (float64)."""
    tokens, features, vocab = 64, 8, 4096
    hidden = (RNG.standard_normal((tokens, features)) * 20).astype(dtype)
    head = (RNG.standard_normal((vocab, features)) * 25 / np.sqrt(features)).astype(dtype)
    target = RNG.integers(0, vocab, tokens)
    target[:5] = -100
    t_hidden = torch.tensor(hidden, dtype=torch.float64, requires_grad=True)
    logits = t_hidden @ torch.tensor(head, dtype=torch.float64).T
    assert logits.abs().max() > 500
    for softcap in (None, 30.0):
        capped = logits if softcap is None else softcap * torch.tanh(logits / softcap)
        keep = torch.tensor(target != -100)
        lse = torch.logsumexp(capped, -1)
        nll = TF.cross_entropy(capped, torch.tensor(target), reduction="none")
        expected = torch.where(keep, nll + 1e-4 * lse**2, 0.0).sum() / keep.sum()
        (t_grad,) = torch.autograd.grad(expected, t_hidden, retain_graph=True)
        for options in (None, lg.nn.LinearCrossEntropyOptions(batch_chunk_size=16)):
            l_hidden = lg.tensor(hidden, requires_grad=True)
            got = LF.linear_cross_entropy(
                l_hidden,
                lg.tensor(head),
                lg.tensor(target),
                lse_square_scale=1e-4,
                softcap=softcap,
                options=options,
            )
            (l_grad,) = lg.autograd.grad(got, l_hidden)
            _assert_matches(got.item(), expected.item(), dtype)
            _assert_matches(
                l_grad.numpy(), t_grad.numpy(), dtype, rtol=None if dtype == np.float64 else 1e-4
            )


def _trl_jsd(student, teacher, beta):
    """TRL's GKDTrainer.generalized_jsd_loss per token (log space), float64."""
    log_s, log_t = torch.log_softmax(student, -1), torch.log_softmax(teacher, -1)
    if beta == 0:
        return TF.kl_div(log_s, log_t, reduction="none", log_target=True).sum(-1)
    if beta == 1:
        return TF.kl_div(log_t, log_s, reduction="none", log_target=True).sum(-1)
    beta = torch.tensor(beta, dtype=log_s.dtype)
    mixture = torch.logsumexp(torch.stack([log_s + torch.log1p(-beta), log_t + torch.log(beta)]), 0)
    return beta * TF.kl_div(mixture, log_t, reduction="none", log_target=True).sum(-1) + (
        1 - beta
    ) * TF.kl_div(mixture, log_s, reduction="none", log_target=True).sum(-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_distillation_extreme_logits(dtype):
    """JSD (beta 0, 0.5, 1), TVD and T**2 KL of logits of size 500 over V = 2048, unfused and
    fused with the head."""
    tokens, features, vocab = 32, 6, 2048
    hidden = RNG.standard_normal((tokens, features)).astype(dtype)
    head = (RNG.standard_normal((vocab, features)) * 200).astype(dtype)
    teacher_head = (RNG.standard_normal((vocab, features)) * 200).astype(dtype)
    labels = RNG.integers(0, vocab, tokens)
    labels[:3] = -100
    t_hidden = torch.tensor(hidden, dtype=torch.float64, requires_grad=True)
    student = t_hidden @ torch.tensor(head, dtype=torch.float64).T
    teacher = (
        torch.tensor(hidden, dtype=torch.float64)
        @ torch.tensor(teacher_head, dtype=torch.float64).T
    )
    assert student.abs().max() > 500 and teacher.abs().max() > 500
    keep = torch.tensor(labels != -100)
    cases = [("jsd", beta, _trl_jsd(student, teacher, beta)) for beta in (0.0, 0.5, 1.0)]
    cases.append(("tvd", 0.5, 0.5 * (student.softmax(-1) - teacher.softmax(-1)).abs().sum(-1)))
    cases.append(("kl", 0.5, _trl_jsd(student, teacher, 0.0)))
    functions = {"jsd": LF.generalized_jsd_loss, "tvd": LF.tvd_loss, "kl": LF.distillation_kl_loss}
    for divergence, beta, per_token in cases:
        expected = torch.where(keep, per_token, 0.0).sum() / keep.sum()
        (t_grad,) = torch.autograd.grad(expected, t_hidden, retain_graph=True)
        options = {"beta": beta} if divergence == "jsd" else {}
        l_hidden = lg.tensor(hidden, requires_grad=True)
        logits = lg.nn.functional.linear(l_hidden, lg.tensor(head))
        unfused = functions[divergence](
            logits,
            lg.nn.functional.linear(lg.tensor(hidden), lg.tensor(teacher_head)),
            lg.tensor(labels),
            **options,
        )
        fused = LF.linear_distillation_loss(
            l_hidden,
            lg.tensor(head),
            lg.tensor(hidden),
            lg.tensor(teacher_head),
            lg.tensor(labels),
            divergence=divergence,
            beta=beta,
            chunk_size=8,
        )
        for got in (unfused, fused):
            (l_grad,) = lg.autograd.grad(got, l_hidden)
            _assert_matches(
                got.item(), expected.item(), dtype, rtol=None if dtype == np.float64 else 1e-4
            )
            _assert_matches(
                l_grad.numpy(), t_grad.numpy(), dtype, rtol=None if dtype == np.float64 else 1e-4
            )




@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_preference_losses_log_probs_down_to_minus_1e5(dtype):
    """Summed log-probabilities from -1e5 to -0.01 (margins up to 1e5 either way): DPO's loss
    types, SimPO, CPO and ORPO against Liger's pure-torch losses in float64."""
    magnitudes = np.array([1e5, 3e4, 5e3, 800.0, 90.0, 1.0, 0.01])
    grid = [-np.array(m, dtype=np.float64) for m in np.meshgrid(magnitudes, magnitudes)]
    chosen, rejected = (g.reshape(-1).astype(dtype) for g in grid)
    reference = [np.roll(chosen, 3), np.roll(rejected, 5)]
    arrays = [chosen, rejected, *reference]
    for loss_type in LIGER_DPO_TYPES:
        smoothing = {"exo_pair": 1e-3, "robust": 0.2}.get(loss_type, 0.0)
        tt = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
        expected = LigerFusedLinearDPOFunction.preference_loss_fn(
            tt[0],
            tt[1],
            torch.empty(2 * chosen.size),
            tt[2],
            tt[3],
            beta=0.1,
            loss_type=loss_type,
            label_smoothing=smoothing,
            discopop_tau=0.05,
        )[0]
        ll = [lg.tensor(a, requires_grad=True) for a in arrays]
        got = LF.dpo_loss(
            *ll, beta=0.1, loss_type=loss_type, label_smoothing=smoothing, reduction="sum"
        )
        # Liger's mean, times the batch: compared per pair through the gradient
        # Liger (and TRL) build exo_pair's log(1 - eps) and log(eps) from a float32 tensor
        rtol = 1e-5 if dtype == np.float32 else (1e-7 if loss_type == "exo_pair" else None)
        _assert_matches(got.item(), expected.item() * chosen.size, dtype, rtol=rtol)
        if np.isfinite(expected.item()):
            t_grads = torch.autograd.grad(expected * chosen.size, tt)
            for l_grad, t_grad in zip(lg.autograd.grad(got, ll), t_grads):
                _assert_matches(l_grad.numpy(), t_grad.numpy(), dtype)
        else:  # discopop: Liger's exp(-d) * sigma(d / tau) is inf * 0
            assert loss_type == "discopop"
            assert all(np.isfinite(g.numpy()).all() for g in lg.autograd.grad(got, ll))
    averaged = [chosen / 1e3, rejected / 1e3]  # ORPO takes length-averaged log-probs < 0
    cases = [
        (LigerFusedLinearSimPOFunction, LF.simpo_loss, dict(beta=2.0, gamma=0.5), arrays[:2]),
        (LigerFusedLinearCPOFunction, LF.cpo_loss, dict(beta=0.1), arrays[:2]),
        (LigerFusedLinearORPOFunction, LF.orpo_loss, dict(beta=0.1), averaged),
    ]
    for liger, ours, kwargs, pair in cases:
        tt = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in pair]
        expected = liger.preference_loss_fn(*tt, torch.empty(2 * chosen.size), **kwargs)[0]
        ll = [lg.tensor(a.astype(dtype), requires_grad=True) for a in pair]
        got = ours(*ll, **kwargs)
        _assert_matches(got.item(), expected.item(), dtype)
        for l_grad, t_grad in zip(lg.autograd.grad(got, ll), torch.autograd.grad(expected, tt)):
            _assert_matches(l_grad.numpy(), t_grad.numpy(), dtype)
