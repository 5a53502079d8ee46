"""GRPO-family policy losses and distillation losses against Liger-Kernel's pure-torch chunked
losses (CPU), kornia's js_div_loss_2d and the formulas written out in torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from kornia.losses import js_div_loss_2d
from liger_kernel.chunked_loss.grpo_loss import LigerFusedLinearGRPOFunction
from liger_kernel.chunked_loss.jsd_loss import LigerFusedLinearJSDFunction

import lossgrad as lg
import lossgrad.nn.functional as LF
from lossgrad.autograd import gradgradcheck

RNG = np.random.default_rng(4242)


def _assert_close(got, expected, dtype):
    tol = 1e-10 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=tol, atol=tol)


def _policy_inputs(dtype, batch=4, length=6):
    logps = (-RNG.random((batch, length)) * 3).astype(dtype)
    old = (logps + RNG.normal(0, 0.3, logps.shape)).astype(dtype)
    ref = (logps + RNG.normal(0, 0.3, logps.shape)).astype(dtype)
    advantages = RNG.standard_normal(batch).astype(dtype)
    mask = (RNG.random((batch, length)) < 0.7).astype(dtype)
    mask[0] = 0  # a sequence with no completion tokens
    return logps, old, ref, advantages, mask


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo", "cispo"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_grpo_family_matches_liger(loss_type, beta, dtype):
    logps, old, ref, advantages, mask = _policy_inputs(dtype)
    eps_low, eps_high = 0.2, (5.0 if loss_type == "cispo" else 0.28)
    t_logps = torch.tensor(logps, requires_grad=True)
    expected = LigerFusedLinearGRPOFunction.ppo_loss_fn(
        t_logps, torch.tensor(mask), torch.tensor(advantages), torch.tensor(mask),
        ref_per_token_logps=torch.tensor(ref), old_per_token_logps=torch.tensor(old),
        epsilon_low=eps_low, epsilon_high=eps_high, beta=beta, loss_type=loss_type,
        max_completion_length=6,
    )[0]
    l_logps = lg.tensor(logps, requires_grad=True)
    got = LF.grpo_loss(
        l_logps, lg.tensor(advantages), lg.tensor(mask), old_per_token_logps=lg.tensor(old),
        ref_per_token_logps=lg.tensor(ref), beta=beta, epsilon_low=eps_low,
        epsilon_high=eps_high, loss_type=loss_type, max_completion_length=6,
    )
    _assert_close(got.item(), expected.item(), dtype)
    (t_grad,) = torch.autograd.grad(expected, t_logps)
    (l_grad,) = lg.autograd.grad(got, l_logps)
    _assert_close(l_grad.numpy(), t_grad.numpy(), dtype)


def test_grpo_on_policy_and_errors():
    logps, _, _, advantages, mask = _policy_inputs(np.float64)
    t_logps = torch.tensor(logps, requires_grad=True)
    expected = LigerFusedLinearGRPOFunction.ppo_loss_fn(
        t_logps, torch.tensor(mask), torch.tensor(advantages), torch.tensor(mask), beta=0.0,
        loss_type="dapo")[0]
    got = LF.grpo_loss(lg.tensor(logps), lg.tensor(advantages), lg.tensor(mask))
    _assert_close(got.item(), expected.item(), np.float64)
    empty = LF.grpo_loss(lg.tensor(logps), lg.tensor(advantages), lg.zeros(*mask.shape))
    assert empty.item() == 0.0
    with pytest.raises(ValueError, match="max_completion_length"):
        LF.grpo_loss(lg.tensor(logps), lg.tensor(advantages), lg.tensor(mask), loss_type="dr_grpo")
    with pytest.raises(ValueError, match="ref_per_token_logps"):
        LF.grpo_loss(lg.tensor(logps), lg.tensor(advantages), lg.tensor(mask), beta=0.1)
    with pytest.raises(ValueError, match="loss_type"):
        LF.grpo_loss(lg.tensor(logps), lg.tensor(advantages), lg.tensor(mask), loss_type="ppo")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 1.0])
def test_generalized_jsd_matches_liger(beta, dtype):
    student = RNG.standard_normal((7, 9)).astype(dtype) * 2
    teacher = RNG.standard_normal((7, 9)).astype(dtype) * 2
    labels = RNG.integers(0, 9, 7)
    labels[[1, 4]] = -100
    t_student = torch.tensor(student, requires_grad=True)
    expected = LigerFusedLinearJSDFunction.distillation_loss_fn(
        t_student, torch.tensor(teacher), beta=beta, target=torch.tensor(labels)) / 5
    l_student = lg.tensor(student, requires_grad=True)
    got = LF.generalized_jsd_loss(l_student, lg.tensor(teacher), lg.tensor(labels), beta=beta)
    _assert_close(got.item(), expected.item(), dtype)
    (t_grad,) = torch.autograd.grad(expected, t_student)
    (l_grad,) = lg.autograd.grad(got, l_student)
    _assert_close(l_grad.numpy(), t_grad.numpy(), dtype)


def test_jsd_matches_kornia_js_div_2d():
    pred = RNG.random((2, 3, 4, 5)) + 1e-3
    target = RNG.random((2, 3, 4, 5)) + 1e-3
    pred /= pred.sum((2, 3), keepdims=True)
    target /= target.sum((2, 3), keepdims=True)
    expected = js_div_loss_2d(torch.tensor(pred), torch.tensor(target))
    got = LF.generalized_jsd_loss(lg.tensor(np.log(pred).reshape(6, 20)),
                                  lg.tensor(np.log(target).reshape(6, 20)), beta=0.5,
                                  reduction="mean")
    _assert_close(got.item(), expected.item(), np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none"])
def test_tvd_and_temperature_kl_match_torch_formula(dtype, reduction):
    student = RNG.standard_normal((6, 8)).astype(dtype)
    teacher = RNG.standard_normal((6, 8)).astype(dtype)
    labels = np.array([1, -100, 3, 4, 5, 0])
    temperature = 2.0
    t_student = torch.tensor(student, requires_grad=True)
    keep = torch.tensor(labels != -100)
    log_s = TF.log_softmax(t_student / temperature, -1)
    log_t = TF.log_softmax(torch.tensor(teacher) / temperature, -1)
    tvd = torch.where(keep, 0.5 * (log_s.exp() - log_t.exp()).abs().sum(-1), 0.0)
    kl = torch.where(keep, temperature**2 * TF.kl_div(log_s, log_t, reduction="none",
                                                      log_target=True).sum(-1), 0.0)
    for fn, per_token in ((LF.tvd_loss, tvd), (LF.distillation_kl_loss, kl)):
        expected = {"batchmean": per_token.sum() / keep.sum(), "sum": per_token.sum(),
                    "none": per_token}[reduction]
        l_student = lg.tensor(student, requires_grad=True)
        got = fn(l_student, lg.tensor(teacher), lg.tensor(labels), temperature=temperature,
                 reduction=reduction)
        _assert_close(got.detach().numpy(), expected.detach().numpy(), dtype)
        grad_out = RNG.standard_normal(tuple(expected.shape)).astype(dtype)
        (t_grad,) = torch.autograd.grad(expected, t_student, torch.tensor(grad_out),
                                        retain_graph=True)
        (l_grad,) = lg.autograd.grad(got, l_student, lg.tensor(grad_out))
        _assert_close(l_grad.numpy(), t_grad.numpy(), dtype)


def test_gradgradcheck_and_fully_ignored():
    student = lg.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    teacher = lg.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    labels = lg.tensor(np.array([0, -100, 2]))
    for beta in (0.0, 0.4, 1.0):
        assert gradgradcheck(
            lambda s, t, beta=beta: LF.generalized_jsd_loss(s, t, labels, beta=beta),
            (student, teacher))
    assert gradgradcheck(lambda s, t: LF.distillation_kl_loss(s, t, temperature=3.0),
                         (student, teacher))
    logps, old, ref, advantages, mask = _policy_inputs(np.float64, batch=2, length=3)
    x = lg.tensor(logps, requires_grad=True)
    assert gradgradcheck(
        lambda x: LF.grpo_loss(x, lg.tensor(advantages), lg.tensor(mask), beta=0.1,
                               ref_per_token_logps=lg.tensor(ref), loss_type="grpo",
                               old_per_token_logps=lg.tensor(old)), (x,))
    ignored = lg.tensor(np.full(3, -100))
    for fn in (LF.generalized_jsd_loss, LF.tvd_loss, LF.distillation_kl_loss):
        assert fn(student, teacher, ignored, reduction="sum").item() == 0.0
        # TRL's GKD (jsd[mask].sum() / mask.sum().clamp_min(1)) and Liger clamp the count at 1
        for other in (teacher, teacher.detach()):  # the composite and the fused kernel
            for reduction in ("batchmean", "mean"):
                value = fn(student, other, ignored, reduction=reduction)
                (grad,) = lg.autograd.grad(value, student)
                assert value.item() == 0.0 and not grad.numpy().any()
    hidden = lg.tensor(RNG.standard_normal((3, 2)), requires_grad=True)
    head = lg.tensor(RNG.standard_normal((4, 2)))
    for divergence in ("jsd", "tvd", "kl"):
        value = LF.linear_distillation_loss(hidden, head, hidden.detach(), head * 2, ignored,
                                            divergence=divergence)
        (grad,) = lg.autograd.grad(value, hidden)
        assert value.item() == 0.0 and not grad.numpy().any()
    with pytest.raises(ValueError, match="beta"):
        LF.generalized_jsd_loss(student, teacher, beta=1.5)
    with pytest.raises(ValueError, match="same shape"):
        LF.tvd_loss(student, teacher[:2])


@pytest.mark.parametrize("loss_type", ["grpo", "dapo"])
def test_gspo_sequence_level_matches_liger(loss_type):
    logps, old, ref, advantages, mask = _policy_inputs(np.float64)
    t_logps = torch.tensor(logps, requires_grad=True)
    expected = LigerFusedLinearGRPOFunction.ppo_loss_fn(
        t_logps, torch.tensor(mask), torch.tensor(advantages), torch.tensor(mask),
        ref_per_token_logps=torch.tensor(ref), old_per_token_logps=torch.tensor(old),
        epsilon_low=3e-4, epsilon_high=4e-4, beta=0.04, loss_type=loss_type,
        importance_sampling_level="sequence",
    )[0]
    l_logps = lg.tensor(logps, requires_grad=True)
    got = LF.grpo_loss(
        l_logps, lg.tensor(advantages), lg.tensor(mask), old_per_token_logps=lg.tensor(old),
        ref_per_token_logps=lg.tensor(ref), beta=0.04, epsilon_low=3e-4, epsilon_high=4e-4,
        loss_type=loss_type, importance_sampling_level="sequence",
    )
    _assert_close(got.item(), expected.item(), np.float64)
    (t_grad,) = torch.autograd.grad(expected, t_logps)
    (l_grad,) = lg.autograd.grad(got, l_logps)
    _assert_close(l_grad.numpy(), t_grad.numpy(), np.float64)
    with pytest.raises(ValueError, match="importance_sampling_level"):
        LF.grpo_loss(l_logps, lg.tensor(advantages), lg.tensor(mask), loss_type="cispo",
                     importance_sampling_level="sequence")


def _trl_grpo_formula(logps, old, ref, advantages, mask, beta, eps_low, eps_high, loss_type):
    """TRL 1.16 GRPOTrainer._compute_loss (trl/trainer/grpo_trainer.py) written out in torch, on
    one process, without gradient accumulation, delta, use_bias_correction_kl or vLLM: the
    ratio (lines 3083-3095), k3 (3098-3102), the per-token loss (3109-3120, 3149-3150) and the
    normalisation of each loss_type (3153-3174; dapo/cispo's num_items_in_batch is sum(mask))."""
    coef_1 = torch.exp(logps - old)
    advantages = advantages.unsqueeze(1)
    if loss_type == "cispo":
        per_token_loss = -torch.clamp(coef_1, max=eps_high).detach() * advantages * logps
    else:
        coef_2 = torch.clamp(coef_1, 1 - eps_low, 1 + eps_high)
        per_token_loss = -torch.min(coef_1 * advantages, coef_2 * advantages)
    if beta != 0.0:
        per_token_kl = torch.exp(ref - logps) - (ref - logps) - 1
        per_token_loss = per_token_loss + beta * per_token_kl
    if loss_type == "grpo":
        return ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":
        return (per_token_loss * mask).sum() / (per_token_loss.size(0) * 6)
    return (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo", "cispo"])
@pytest.mark.parametrize("epsilons", [(0.2, None), (0.1, 0.3), (0.25, 0.05)])
def test_grpo_family_matches_trl_formula(loss_type, epsilons, dtype):
    logps, _, ref, advantages, mask = _policy_inputs(dtype)
    ratios = np.ones_like(logps)
    # beyond both clipping bounds, none within 0.02 of one (float32 rounding could pick a side)
    spread = [0.5, 1.6, 0.7, 1.4, 0.62, 1.25, 0.85, 1.15, 0.95, 1.12, 1.0]
    ratios[mask > 0] = np.resize(spread, int(mask.sum()))
    old = (logps - np.log(ratios)).astype(dtype)
    eps_low, eps_high = epsilons
    eps_high = {"cispo": 1.1}.get(loss_type, eps_high)
    t_logps = torch.tensor(logps, requires_grad=True)
    expected = _trl_grpo_formula(
        t_logps, torch.tensor(old), torch.tensor(ref), torch.tensor(advantages),
        torch.tensor(mask), 0.04, eps_low, eps_low if eps_high is None else eps_high, loss_type,
    )
    l_logps = lg.tensor(logps, requires_grad=True)
    got = LF.grpo_loss(
        l_logps, lg.tensor(advantages), lg.tensor(mask), old_per_token_logps=lg.tensor(old),
        ref_per_token_logps=lg.tensor(ref), beta=0.04, epsilon_low=eps_low,
        epsilon_high=eps_high, loss_type=loss_type, max_completion_length=6,
    )
    _assert_close(got.item(), expected.item(), dtype)
    (t_grad,) = torch.autograd.grad(expected, t_logps)
    (l_grad,) = lg.autograd.grad(got, l_logps)
    _assert_close(l_grad.numpy(), t_grad.numpy(), dtype)


def test_grpo_second_derivatives():
    """gradgradcheck for bnpo, dr_grpo and dapo; cispo's weight is detached by design (TRL,
    Liger), so its second derivative is compared with torch's double backward of TRL's
    formula instead."""
    logps, old, ref, advantages, mask = _policy_inputs(np.float64, batch=2, length=3)
    mask[0, 0] = 1.0
    for loss_type in ("bnpo", "dr_grpo", "dapo"):
        x = lg.tensor(logps, requires_grad=True)
        assert gradgradcheck(
            lambda x, loss_type=loss_type: LF.grpo_loss(
                x, lg.tensor(advantages), lg.tensor(mask), old_per_token_logps=lg.tensor(old),
                ref_per_token_logps=lg.tensor(ref), beta=0.1, epsilon_low=0.1,
                epsilon_high=0.3, loss_type=loss_type, max_completion_length=3,
            ),
            (x,),
        ), loss_type
    direction = RNG.standard_normal(logps.shape)
    t_logps = torch.tensor(logps, requires_grad=True)
    trl = _trl_grpo_formula(t_logps, torch.tensor(old), torch.tensor(ref),
                            torch.tensor(advantages), torch.tensor(mask), 0.1, 0.2, 1.1, "cispo")
    (t_grad,) = torch.autograd.grad(trl, t_logps, create_graph=True)
    (t_second,) = torch.autograd.grad(t_grad, t_logps, torch.tensor(direction))
    l_logps = lg.tensor(logps, requires_grad=True)
    got = LF.grpo_loss(l_logps, lg.tensor(advantages), lg.tensor(mask),
                       old_per_token_logps=lg.tensor(old), ref_per_token_logps=lg.tensor(ref),
                       beta=0.1, epsilon_high=1.1, loss_type="cispo")
    (l_grad,) = lg.autograd.grad(got, l_logps, create_graph=True)
    (l_second,) = lg.autograd.grad(l_grad, l_logps, lg.tensor(direction))
    assert np.abs(t_second.numpy()).max() > 0.01  # k3's curvature: not trivially zero
    _assert_close(l_second.numpy(), t_second.numpy(), np.float64)


def test_tvd_gradgradcheck():
    student = lg.tensor(RNG.standard_normal((3, 5)), requires_grad=True)
    teacher = lg.tensor(RNG.standard_normal((3, 5)))
    labels = lg.tensor(np.array([0, -100, 2]))
    for reduction in ("batchmean", "sum", "none"):
        assert gradgradcheck(
            lambda s, reduction=reduction: LF.tvd_loss(s, teacher, labels, temperature=1.5,
                                                       reduction=reduction), (student,))


def test_grpo_bad_shapes_and_epsilons():
    logps, old, ref, advantages, mask = _policy_inputs(np.float64)
    args = lg.tensor(logps), lg.tensor(advantages), lg.tensor(mask)
    with pytest.raises(ValueError, match=r"completion_mask must have the shape of "
                       r"per_token_logps \(4, 6\), got \(4, 5\)"):
        LF.grpo_loss(args[0], args[1], lg.tensor(mask[:, :5]))
    with pytest.raises(ValueError, match=r"old_per_token_logps .* \(4, 6\), got \(3, 6\)"):
        LF.grpo_loss(*args, old_per_token_logps=lg.tensor(old[:3]))
    with pytest.raises(ValueError, match=r"ref_per_token_logps .* got \(4, 6, 1\)"):
        LF.grpo_loss(*args, ref_per_token_logps=lg.tensor(ref[..., None]), beta=0.1)
    with pytest.raises(ValueError, match=r"advantages of shape \(3,\)"):
        LF.grpo_loss(args[0], lg.tensor(advantages[:3]), args[2])
    with pytest.raises(ValueError, match=r"epsilon_low must be >= 0, got -0.1"):
        LF.grpo_loss(*args, epsilon_low=-0.1)
    with pytest.raises(ValueError, match=r"epsilon_high must be >= 0, got -0.3"):
        LF.grpo_loss(*args, epsilon_high=-0.3)
    # TRL's (B, T) advantages (grpo_trainer.py lines 3057-3058): the same as (B,) repeated
    per_token = lg.tensor(np.repeat(advantages[:, None], 6, 1))
    np.testing.assert_allclose(LF.grpo_loss(args[0], per_token, args[2]).item(),
                               LF.grpo_loss(*args).item(), rtol=1e-15)
