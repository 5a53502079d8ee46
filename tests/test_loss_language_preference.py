"""Preference losses and per-sequence log-probabilities against Liger-Kernel's pure-torch chunked
losses (run on the CPU, compiled=False) and TRL 1.16's formulas written out in torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from liger_kernel.chunked_loss.cpo_loss import LigerFusedLinearCPOFunction
from liger_kernel.chunked_loss.dpo_loss import LigerFusedLinearDPOFunction, LigerFusedLinearDPOLoss
from liger_kernel.chunked_loss.orpo_loss import LigerFusedLinearORPOFunction
from liger_kernel.chunked_loss.simpo_loss import LigerFusedLinearSimPOFunction

import lossgrad as lg
import lossgrad.nn.functional as LF
from lossgrad.autograd import gradgradcheck
from oracles import trl_dpo_formula

RNG = np.random.default_rng(20261206)
LIGER_DPO_TYPES = [
    "sigmoid",
    "hinge",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "apo_zero",
    "apo_down",
    "discopop",
]


def _logps(batch=6, dtype=np.float64):
    return [-RNG.random(batch).astype(dtype) * 8 - 0.1 for _ in range(4)]


def _check(got, expected, inputs_lg, inputs_t, dtype, tol=None):
    tol = tol or (1e-10 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
    t_grads = torch.autograd.grad(expected, inputs_t, allow_unused=True)
    l_grads = lg.autograd.grad(got, inputs_lg, allow_unused=True)
    for t_grad, l_grad in zip(t_grads, l_grads):
        t_value = np.zeros(1) if t_grad is None else t_grad.numpy()
        l_value = np.zeros(1) if l_grad is None else l_grad.numpy()
        np.testing.assert_allclose(
            np.broadcast_to(l_value, t_value.shape) if t_grad is not None else l_value.sum(),
            t_value if t_grad is not None else 0.0,
            rtol=tol,
            atol=tol,
        )


def _liger_tolerance(loss_type, dtype):
    """Liger (and TRL) build exo_pair's log(1 - eps) and log(eps) from a float32 tensor: a
    float64 loss agrees to about 1e-7 (None: `_check`'s default)."""
    return 1e-7 if loss_type == "exo_pair" and dtype == np.float64 else None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss_type", LIGER_DPO_TYPES)
def test_dpo_matches_liger(loss_type, dtype):
    arrays = _logps(dtype=dtype)
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ll = [lg.tensor(a, requires_grad=True) for a in arrays]
    smoothing = {"exo_pair": 1e-3, "robust": 0.2}.get(loss_type, 0.0)
    expected = LigerFusedLinearDPOFunction.preference_loss_fn(
        tt[0],
        tt[1],
        torch.empty(12),
        tt[2],
        tt[3],
        beta=0.3,
        loss_type=loss_type,
        label_smoothing=smoothing,
        discopop_tau=0.05,
    )[0]
    got = LF.dpo_loss(*ll, beta=0.3, loss_type=loss_type, label_smoothing=smoothing)
    _check(got, expected, ll, tt, dtype, tol=_liger_tolerance(loss_type, dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss_type", ["ipo", "sigmoid_norm", "aot", "aot_unpaired"])
def test_dpo_matches_trl_formula(loss_type, dtype):
    arrays = _logps(dtype=dtype)
    lengths = [RNG.integers(0, 20, 6) for _ in range(2)]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ll = [lg.tensor(a, requires_grad=True) for a in arrays]
    expected = trl_dpo_formula(
        loss_type, *tt, 0.2, 0.1, *[torch.tensor(n, dtype=tt[0].dtype) for n in lengths]
    ).mean()
    got = LF.dpo_loss(
        *ll,
        beta=0.2,
        loss_type=loss_type,
        label_smoothing=0.1,
        chosen_lengths=lengths[0],
        rejected_lengths=lengths[1],
    )
    _check(got, expected, ll, tt, dtype)


def _discopop_closed_form(margin, tau):
    """DiscoPOP's loss and its derivative by the margin ``d``, in float64 log space:
    ``softplus(-d) (1 - m) + exp(-d + log m)``, ``m = sigma(d / tau)``, with ``log m =
    -softplus(-d / tau)`` and ``d log m / dd = (1 - m) / tau``."""
    scaled = margin / tau
    modulation, complement = np.exp(-np.logaddexp(0, -scaled)), np.exp(-np.logaddexp(0, scaled))
    exponential = np.exp(-margin - np.logaddexp(0, -scaled))
    loss = np.logaddexp(0, -margin) * complement + exponential
    slope = (
        -np.exp(-np.logaddexp(0, margin)) * complement
        - np.logaddexp(0, -margin) * modulation * complement / tau
        + exponential * (complement / tau - 1)
    )
    return loss, slope


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dpo_discopop_extreme_margins_finite(dtype):
    """TRL's exp(-d) * sigma(d / tau) is inf * 0 = NaN below d = -88.7 (float32) / -709.8
    (float64); lossgrad's log-space form stays finite and equals TRL where TRL is finite."""
    margins = np.array([-1e5, -800.0, -100.0, -89.0, -30.0, -0.7, 0.0, 0.4, 30.0, 100.0, 800.0])
    tau = 0.05
    chosen = lg.tensor(margins.astype(dtype), requires_grad=True)
    zeros = lg.tensor(np.zeros(margins.size, dtype))
    got = LF.dpo_loss(
        chosen,
        zeros,
        zeros,
        zeros,
        beta=1.0,
        loss_type="discopop",
        discopop_tau=tau,
        reduction="none",
    )
    (grad,) = lg.autograd.grad(got.sum(), chosen)
    loss, slope = _discopop_closed_form(margins.astype(dtype).astype(np.float64), tau)
    assert np.isfinite(got.detach().numpy()).all() and np.isfinite(grad.numpy()).all()
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(got.detach().numpy(), loss, rtol=tol, atol=1e-30)
    np.testing.assert_allclose(grad.numpy(), slope, rtol=tol, atol=1e-30)
    # TRL 1.16 DPOTrainer._compute_loss, loss_type='discopop' (dpo_trainer.py lines 1483-1493)
    logits = torch.tensor(margins.astype(dtype), requires_grad=True)
    modulation = torch.sigmoid(logits / tau)
    trl = -TF.logsigmoid(logits) * (1 - modulation) + torch.exp(-logits) * modulation
    (trl_grad,) = torch.autograd.grad(trl.sum(), logits)
    finite = torch.isfinite(trl) & torch.isfinite(trl_grad)
    assert not finite.all()  # the margins reach TRL's NaN
    np.testing.assert_allclose(
        got.detach().numpy()[finite], trl.detach().numpy()[finite], rtol=tol, atol=1e-30
    )
    np.testing.assert_allclose(grad.numpy()[finite], trl_grad.numpy()[finite], rtol=tol, atol=1e-30)


def test_dpo_loss_weights_combination_and_reductions():
    arrays = _logps()
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ll = [lg.tensor(a, requires_grad=True) for a in arrays]
    types, weights = ["sigmoid", "bco_pair", "apo_zero"], [1.0, 0.5, 0.25]
    expected = sum(
        w
        * LigerFusedLinearDPOFunction.preference_loss_fn(
            tt[0], tt[1], torch.empty(12), tt[2], tt[3], beta=0.1, loss_type=t
        )[0]
        for t, w in zip(types, weights)
    )
    got = LF.dpo_loss(*ll, loss_type=types, loss_weights=weights)
    _check(got, expected, ll, tt, np.float64)
    per_pair = LF.dpo_loss(*ll, loss_type=types, loss_weights=weights, reduction="none")
    np.testing.assert_allclose(per_pair.detach().numpy().mean(), got.item(), rtol=1e-12)
    total = LF.dpo_loss(*ll, loss_type=types, loss_weights=weights, reduction="sum")
    np.testing.assert_allclose(total.item(), 6 * got.item(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_free_losses_match_liger(dtype):
    chosen, rejected = (-RNG.random(7).astype(dtype) * 3 - 0.05 for _ in range(2))
    cases = [
        (
            LigerFusedLinearSimPOFunction,
            {"beta": 2.0, "gamma": 0.5, "label_smoothing": 0.1},
            LF.simpo_loss,
        ),
        (LigerFusedLinearCPOFunction, {"beta": 0.5, "label_smoothing": 0.1}, LF.cpo_loss),
        (LigerFusedLinearORPOFunction, {"beta": 0.3}, LF.orpo_loss),
    ]
    for liger, kwargs, ours in cases:
        tt = [torch.tensor(a, requires_grad=True) for a in (chosen, rejected)]
        ll = [lg.tensor(a, requires_grad=True) for a in (chosen, rejected)]
        expected = liger.preference_loss_fn(*tt, torch.empty(14), **kwargs)[0]
        _check(ours(*ll, **kwargs), expected, ll, tt, dtype)


@pytest.mark.parametrize("average", [False, True])
def test_fused_head_pipeline_matches_liger_dpo(average):
    """linear_sequence_log_probs + dpo_loss against Liger's chunked DPO (hidden states in)."""
    batch, length, features, vocab = 2, 5, 4, 11
    hidden = RNG.standard_normal((2 * batch, length, features))
    ref_hidden = RNG.standard_normal((2 * batch, length, features))
    head = RNG.standard_normal((vocab, features))
    ref_head = RNG.standard_normal((vocab, features))
    labels = RNG.integers(0, vocab, (2 * batch, length))
    labels[:, :2] = -100  # the prompt
    liger = LigerFusedLinearDPOLoss(beta=0.2, compiled=False, average_log_prob=average)
    t_hidden, t_head = (torch.tensor(a, requires_grad=True) for a in (hidden, head))
    expected = liger(
        t_head,
        t_hidden,
        torch.tensor(labels),
        None,
        torch.tensor(ref_hidden),
        torch.tensor(ref_head),
    )[0]
    l_hidden, l_head = (lg.tensor(a, requires_grad=True) for a in (hidden, head))
    l_labels = lg.tensor(labels)
    policy = LF.linear_sequence_log_probs(l_hidden, l_head, l_labels, average=average)
    reference = LF.linear_sequence_log_probs(
        lg.tensor(ref_hidden), lg.tensor(ref_head), l_labels, average=average
    )
    got = LF.dpo_loss(
        policy[:batch], policy[batch:], reference[:batch], reference[batch:], beta=0.2
    )
    # Liger takes the log-softmax in float32 (``logits_chunk.float()``)
    _check(got, expected, [l_hidden, l_head], [t_hidden, t_head], np.float64, tol=1e-5)
    logits = lg.nn.functional.linear(l_hidden, l_head)
    np.testing.assert_allclose(
        LF.sequence_log_probs(logits, l_labels, average=average).detach().numpy(),
        policy.detach().numpy(),
        rtol=1e-12,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("average", [False, True])
def test_sequence_log_probs_match_trl_formula(average, dtype):
    """Both helpers in float32 and float64 against TRL's get_batch_logps (trl 1.16
    trl/experimental/cpo/cpo_trainer.py, CPOTrainer.get_batch_logps: log-softmax, gather, masked
    sum or mean) in torch, in the same dtype, with a bias and the head chunked."""
    batch, length, features, vocab = 3, 7, 5, 13
    hidden = RNG.standard_normal((batch, length, features)).astype(dtype)
    head = RNG.standard_normal((vocab, features)).astype(dtype)
    bias = RNG.standard_normal(vocab).astype(dtype)
    labels = RNG.integers(0, vocab, (batch, length))
    labels[:, :2] = -100
    labels[1, 4] = -100
    tensors = [torch.tensor(a, requires_grad=True) for a in (hidden, head, bias)]
    t_labels = torch.tensor(labels)
    mask = t_labels != -100
    logits = TF.linear(*tensors)
    token = torch.log_softmax(logits, -1).gather(-1, torch.where(mask, t_labels, 0)[..., None])
    expected = (token[..., 0] * mask).sum(-1)
    if average:
        expected = expected / mask.sum(-1)
    grad_out = RNG.standard_normal(batch).astype(dtype)
    t_grads = torch.autograd.grad(expected, tensors, torch.tensor(grad_out), retain_graph=True)
    (t_logits_grad,) = torch.autograd.grad(expected, logits, torch.tensor(grad_out))
    ours = [lg.tensor(a, requires_grad=True) for a in (hidden, head, bias)]
    l_labels = lg.tensor(labels)
    options = lg.nn.LinearCrossEntropyOptions(batch_chunk_size=4)
    fused = LF.linear_sequence_log_probs(
        ours[0], ours[1], l_labels, linear_bias=ours[2], average=average, options=options
    )
    l_logits = lg.tensor(logits.detach().numpy(), requires_grad=True)
    plain = LF.sequence_log_probs(l_logits, l_labels, average=average)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    for got, inputs, grads in ((fused, ours, t_grads), (plain, [l_logits], [t_logits_grad])):
        assert got.detach().numpy().dtype == dtype
        np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=tol)
        l_grads = lg.autograd.grad(got, inputs, lg.tensor(grad_out))
        for l_grad, t_grad in zip(l_grads, grads):
            assert l_grad.numpy().dtype == dtype
            np.testing.assert_allclose(l_grad.numpy(), t_grad.numpy(), rtol=tol, atol=tol)


def test_sequence_log_probs_fully_ignored_rows_and_errors():
    logits = lg.tensor(RNG.standard_normal((3, 4, 5)), requires_grad=True)
    labels = lg.tensor(np.array([[1, 2, 3, 4], [-100] * 4, [0, -100, 1, -100]]))
    for average in (False, True):
        values = LF.sequence_log_probs(logits, labels, average=average)
        assert values[1].item() == 0.0
        values.sum().backward()
        assert np.isfinite(logits.grad.numpy()).all()
        np.testing.assert_array_equal(logits.grad.numpy()[1], 0)
        logits.grad = None
    expected = torch.log_softmax(torch.tensor(logits.detach().numpy()), -1)
    np.testing.assert_allclose(
        LF.sequence_log_probs(logits, labels)[2].item(),
        (expected[2, 0, 0] + expected[2, 2, 1]).item(),
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match="labels"):
        LF.sequence_log_probs(logits, lg.tensor(np.zeros((3, 5), np.int64)))


def test_preference_gradgradcheck():
    arrays = [lg.tensor(a, requires_grad=True) for a in _logps(batch=3)]
    lengths = np.array([3, 1, 4])
    for loss_type in LIGER_DPO_TYPES + ["ipo", "aot", "aot_unpaired", "sigmoid_norm"]:
        smoothing = {"exo_pair": 1e-3, "robust": 0.2, "aot": 0.1}.get(loss_type, 0.0)

        def loss(*logps, loss_type=loss_type, smoothing=smoothing):
            return LF.dpo_loss(
                *logps,
                beta=0.3,
                loss_type=loss_type,
                label_smoothing=smoothing,
                chosen_lengths=lengths,
                rejected_lengths=lengths[::-1].copy(),
            )

        assert gradgradcheck(loss, arrays), loss_type
    pair = arrays[:2]
    for fn in (LF.simpo_loss, LF.cpo_loss, LF.orpo_loss):
        assert gradgradcheck(fn, pair)
    logits = lg.tensor(RNG.standard_normal((2, 3, 4)), requires_grad=True)
    labels = lg.tensor(np.array([[1, -100, 3], [0, 2, 2]]))
    assert gradgradcheck(lambda z: LF.sequence_log_probs(z, labels, average=True), (logits,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_preference_kernels_match_torch_formulas(dtype):
    """The fused ('mean'/'sum') path: an input passed twice, a weighted loss, a reference that
    requires grad, a retained graph backpropagated twice, create_graph."""
    policy_chosen, policy_rejected, reference_chosen = _logps(dtype=dtype)[:3]
    t_in = [
        torch.tensor(a, requires_grad=True)
        for a in (policy_chosen, policy_rejected, reference_chosen)
    ]
    l_in = [
        lg.tensor(a, requires_grad=True) for a in (policy_chosen, policy_rejected, reference_chosen)
    ]
    # policy_chosen is also the rejected completions' reference log-probabilities
    margin = 0.3 * ((t_in[0] - t_in[2]) - (t_in[1] - t_in[0]))
    expected = -TF.logsigmoid(margin).sum() * 0.5
    got = LF.dpo_loss(*l_in, l_in[0], beta=0.3, loss_weights=[0.5], reduction="sum")
    recorded = lg.autograd.grad(got, l_in, retain_graph=True, create_graph=True)
    for got_grad, want in zip(recorded, torch.autograd.grad(expected, t_in, retain_graph=True)):
        np.testing.assert_allclose(got_grad.detach().numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    _check(got, expected, l_in, t_in, dtype)
    labels = np.array([True, False, True, False, False, True])
    ratio = t_in[0] - t_in[1]
    sign = torch.tensor(np.where(labels, 1.0, -1.0).astype(dtype))
    expected = (1 - TF.sigmoid(0.4 * (ratio - 0.2) * sign)).sum()
    got = LF.kto_loss(l_in[0], l_in[1], lg.tensor(labels), beta=0.4, kl=0.2, reduction="sum")
    _check(got, expected, l_in[:2], t_in[:2], dtype)
    for fn, torch_fn in (
        (LF.simpo_loss, _torch_simpo_loss),
        (LF.cpo_loss, _torch_cpo_loss),
        (LF.orpo_loss, _torch_orpo_loss),
    ):
        loss = fn(l_in[0], l_in[1], beta=0.7)
        first = lg.autograd.grad(loss, l_in[:2], retain_graph=True)
        again = lg.autograd.grad(loss, l_in[:2])
        (second,) = lg.autograd.grad(
            lg.autograd.grad(fn(l_in[0], l_in[1], beta=0.7), l_in[0], create_graph=True)[0].sum(),
            l_in[:1],
        )
        t_loss = torch_fn(t_in[0], t_in[1], 0.7)
        t_first = torch.autograd.grad(t_loss, t_in[:2], create_graph=True)
        (t_second,) = torch.autograd.grad(t_first[0].sum(), t_in[:1])
        tol = 1e-10 if dtype == np.float64 else 2e-5
        for got_grad, repeated, want in zip(first, again, t_first):
            np.testing.assert_allclose(got_grad.numpy(), want.detach().numpy(), rtol=tol, atol=tol)
            np.testing.assert_array_equal(repeated.numpy(), got_grad.numpy())
        np.testing.assert_allclose(second.numpy(), t_second.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "loss_type", LIGER_DPO_TYPES + ["ipo", "sigmoid_norm", "aot", "aot_unpaired"]
)
def test_dpo_fused_kernel_matches_its_definition(loss_type, dtype):
    """'sum' takes the loss type's NumPy kernel, 'none' its definition in lossgrad ops (the
    path of the recorded backward): the same values and gradients, margins from 0 to 1e4,
    ties in the sorted losses."""
    scales = np.array([1e-3, 1.0, 30.0, 300.0, 3e3])
    logps = -np.random.default_rng(2).random((4, 30)) * 8 - 0.1
    arrays = [(a * scales.repeat(6)).astype(dtype) for a in logps]
    arrays[0][:4] = arrays[1][:4] = arrays[0][4]  # ties
    smoothing = {"exo_pair": 1e-3, "robust": 0.2, "aot": 0.1}.get(loss_type, 0.0)
    counts = np.random.default_rng(3).integers(0, 9, (2, 30))
    lengths = {"chosen_lengths": counts[0], "rejected_lengths": counts[1]}
    options = dict(
        beta=0.3, loss_type=loss_type, label_smoothing=smoothing, loss_weights=[0.7], **lengths
    )
    inputs = [lg.tensor(a, requires_grad=True) for a in arrays]
    fused = LF.dpo_loss(*inputs, reduction="sum", **options)
    definition = LF.dpo_loss(*inputs, reduction="none", **options).sum()
    assert fused.grad_fn.name() == "KernelLossBackward"
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(fused.item(), definition.item(), rtol=tol, atol=tol)
    for got, want in zip(lg.autograd.grad(fused, inputs), lg.autograd.grad(definition, inputs)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)


def _torch_simpo_loss(chosen, rejected, beta):
    return -TF.logsigmoid(beta * (chosen - rejected) - 0.5).mean()


def _torch_cpo_loss(chosen, rejected, beta):
    return -TF.logsigmoid(beta * (chosen - rejected)).mean()


def _torch_orpo_loss(chosen, rejected, beta):
    def log_odds(logps):
        return logps - torch.log(-torch.expm1(logps))

    return -beta * TF.logsigmoid(log_odds(chosen) - log_odds(rejected)).mean()


def test_dpo_bad_arguments():
    arrays = [lg.tensor(a) for a in _logps()]
    with pytest.raises(ValueError, match="loss_type"):
        LF.dpo_loss(*arrays, loss_type="dpo")
    with pytest.raises(ValueError, match="loss_weights"):
        LF.dpo_loss(*arrays, loss_type=["sigmoid", "hinge"], loss_weights=[1.0])
    with pytest.raises(ValueError, match="label_smoothing"):
        LF.dpo_loss(*arrays, loss_type="robust", label_smoothing=0.5)
    with pytest.raises(ValueError, match="beta"):
        LF.dpo_loss(*arrays, beta=0.0)
    short = lg.tensor(_logps(batch=4)[0])
    for position, name in enumerate(
        ["policy_rejected_logps", "reference_chosen_logps", "reference_rejected_logps"], 1
    ):
        bad = arrays[:position] + [short] + arrays[position + 1 :]
        message = rf"dpo_loss: {name} must have the shape of policy_chosen_logps \(6,\), got \(4,\)"
        for loss_type in ("sigmoid", "ipo"):  # the fused kernel and the composite
            with pytest.raises(ValueError, match=message):
                LF.dpo_loss(*bad, loss_type=loss_type)
    column = lg.tensor(_logps()[0][:, None])  # (6, 1) would broadcast to (6, 6)
    with pytest.raises(ValueError, match=r"got \(6, 1\)"):
        LF.dpo_loss(arrays[0], column, *arrays[2:], reduction="none")
    for fn in (LF.simpo_loss, LF.cpo_loss, LF.orpo_loss):
        name = fn.__name__
        with pytest.raises(
            ValueError,
            match=rf"{name}: rejected_logps must have the shape of chosen_logps \(6,\), got \(4,\)",
        ):
            fn(arrays[0], short)
    with pytest.raises(
        ValueError, match=r"beta \(the odds-ratio term's weight\) must be >= 0, got -1"
    ):
        LF.orpo_loss(arrays[0], arrays[1], beta=-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kl", [None, 0.3])
def test_kto_matches_liger(kl, dtype):
    from liger_kernel.chunked_loss.kto_loss import LigerFusedLinearKTOFunction

    policy, reference = (-RNG.random(8).astype(dtype) * 6 for _ in range(2))
    labels = np.array([True, False, True, True, False, False, True, False])
    t_policy = torch.tensor(policy, requires_grad=True)
    expected = LigerFusedLinearKTOFunction.preference_loss_fn(
        t_policy,
        torch.tensor(labels),
        torch.empty(8),
        torch.tensor(reference),
        beta=0.4,
        kl=None if kl is None else torch.tensor(kl, dtype=t_policy.dtype),
    )[0]
    l_policy = lg.tensor(policy, requires_grad=True)
    got = LF.kto_loss(l_policy, lg.tensor(reference), lg.tensor(labels), beta=0.4, kl=kl)
    _check(got, expected, [l_policy], [t_policy], dtype)


def test_kto_weights_match_trl_formula_and_errors():
    policy, reference = (-RNG.random(6) * 6 for _ in range(2))
    labels = np.array([True, False, True, False, False, True])
    t_policy = torch.tensor(policy, requires_grad=True)
    ratio = t_policy - torch.tensor(reference)
    kl, beta = 0.2, 0.5
    # KTOTrainer: cat(desirable_weight * chosen_losses, undesirable_weight * rejected_losses).mean()
    chosen = 1 - TF.sigmoid(beta * (ratio[torch.tensor(labels)] - kl))
    rejected = 1 - TF.sigmoid(beta * (kl - ratio[torch.tensor(~labels)]))
    expected = torch.cat((1.5 * chosen, 0.7 * rejected)).mean()
    l_policy = lg.tensor(policy, requires_grad=True)
    got = LF.kto_loss(
        l_policy,
        lg.tensor(reference),
        lg.tensor(labels),
        beta=beta,
        kl=kl,
        desirable_weight=1.5,
        undesirable_weight=0.7,
    )
    _check(got, expected, [l_policy], [t_policy], np.float64)
    assert gradgradcheck(
        lambda x: LF.kto_loss(x, lg.tensor(reference), lg.tensor(labels), kl=kl), (l_policy,)
    )
    with pytest.raises(ValueError, match="preference_labels"):
        LF.kto_loss(l_policy, lg.tensor(reference), lg.tensor(labels.astype(np.int64)))


def _trl_f_scores(logratios, f_divergence_type, alpha=0.5):
    """TRL 1.16 DPOTrainer._compute_loss's f-divergence scores, copied into torch (its float32
    clamp at 80 applied to every dtype)."""
    if f_divergence_type == "forward_kl":
        return 1 - torch.exp(-logratios)
    if f_divergence_type == "js_divergence":
        return np.log(2) + TF.logsigmoid(logratios)
    coef = 1.0 / (alpha - 1.0)
    return (torch.exp(torch.clamp((alpha - 1.0) * logratios, max=80.0)) - 1.0) * coef


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f_divergence_type", ["forward_kl", "js_divergence", "alpha_divergence"])
@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge", "robust", "exo_pair", "discopop"])
def test_dpo_f_divergence_matches_liger_on_trl_scores(f_divergence_type, loss_type, dtype):
    """Liger's formulas applied to TRL's f-divergence scores (passed as log-ratios against a
    zero reference)."""
    arrays = [a / 8 for a in _logps(dtype=dtype)]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ll = [lg.tensor(a, requires_grad=True) for a in arrays]
    smoothing = {"exo_pair": 1e-3, "robust": 0.2}.get(loss_type, 0.0)
    chosen = _trl_f_scores(tt[0] - tt[2], f_divergence_type, 0.3)
    rejected = _trl_f_scores(tt[1] - tt[3], f_divergence_type, 0.3)
    zero = torch.zeros_like(chosen)
    expected = LigerFusedLinearDPOFunction.preference_loss_fn(
        chosen,
        rejected,
        torch.empty(12),
        zero,
        zero,
        beta=0.3,
        loss_type=loss_type,
        label_smoothing=smoothing,
        discopop_tau=0.05,
    )[0]
    got = LF.dpo_loss(
        *ll,
        beta=0.3,
        loss_type=loss_type,
        label_smoothing=smoothing,
        f_divergence_type=f_divergence_type,
        f_alpha_divergence_coef=0.3,
    )
    _check(got, expected, ll, tt, dtype, tol=_liger_tolerance(loss_type, dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dpo_sft_ipo_sigmoid_norm_with_f_divergence_match_trl_formula(dtype):
    arrays = [a / 8 for a in _logps(dtype=dtype)]
    lengths = [RNG.integers(1, 20, 6) for _ in range(2)]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ll = [lg.tensor(a, requires_grad=True) for a in arrays]
    chosen = _trl_f_scores(tt[0] - tt[2], "js_divergence")
    rejected = _trl_f_scores(tt[1] - tt[3], "js_divergence")
    t_lengths = [torch.tensor(n, dtype=chosen.dtype) for n in lengths]
    ipo = (chosen / t_lengths[0] - rejected / t_lengths[1] - 1 / (2 * 0.3)) ** 2
    norm = -TF.logsigmoid(0.3 * (chosen / t_lengths[0] - rejected / t_lengths[1]))
    sft = -tt[0].sum() / t_lengths[0].sum()  # TRL: mean of the chosen tokens' log-probs
    expected = 0.5 * ipo.mean() + norm.mean() + 2.0 * sft
    got = LF.dpo_loss(
        *ll,
        beta=0.3,
        loss_type=["ipo", "sigmoid_norm", "sft"],
        loss_weights=[0.5, 1.0, 2.0],
        chosen_lengths=lg.tensor(lengths[0]),
        rejected_lengths=lg.tensor(lengths[1]),
        f_divergence_type="js_divergence",
    )
    _check(got, expected, ll, tt, dtype)


def test_wpo_weights_match_trl_formula():
    """TRL's use_weighting: each pair's loss times exp(mean aligned log-probs) of its chosen and
    rejected completions (computed from the logits, detached)."""
    batch, length, vocab = 3, 5, 7
    logits = RNG.standard_normal((2 * batch, length, vocab))
    labels = RNG.integers(0, vocab, (2 * batch, length))
    labels[:, :2] = -100
    t_logits = torch.tensor(logits, requires_grad=True)
    mask = torch.tensor(labels != -100)
    log_probs = TF.log_softmax(t_logits, -1)
    per_token = log_probs.gather(-1, torch.tensor(np.where(labels < 0, 0, labels))[..., None])[
        ..., 0
    ]
    with torch.no_grad():
        log_sum_sq = torch.logsumexp(2 * log_probs, -1)
        aligned = ((per_token - log_sum_sq) * mask).sum(1) / mask.sum(1).clamp_min(1)
        weights = torch.exp(aligned)
    logps = (per_token * mask).sum(1)
    ref = torch.tensor(RNG.standard_normal(2 * batch) - 10)
    pc, pr = logps.chunk(2)
    rc, rr = ref.chunk(2)
    expected = (
        -TF.logsigmoid(0.2 * ((pc - rc) - (pr - rr))) * weights[:batch] * weights[batch:]
    ).mean()
    l_logits = lg.tensor(logits, requires_grad=True)
    l_labels = lg.tensor(labels)
    w = LF.wpo_sequence_weights(l_logits, l_labels)
    np.testing.assert_allclose(w.numpy(), weights.numpy(), rtol=1e-12)
    assert not w.requires_grad
    policy = LF.sequence_log_probs(l_logits, l_labels)
    reference = lg.tensor(ref.numpy())
    got = LF.dpo_loss(
        policy[:batch],
        policy[batch:],
        reference[:batch],
        reference[batch:],
        beta=0.2,
        wpo_weights=(w[:batch], w[batch:]),
    )
    _check(got, expected, [l_logits], [t_logits], np.float64)


def test_dpo_f_divergence_and_wpo_errors():
    ll = [lg.tensor(a) for a in _logps()]
    with pytest.raises(
        ValueError, match=r"only supported for the loss types .* got loss_type=\['nca_pair'\]"
    ):
        LF.dpo_loss(*ll, loss_type="nca_pair", f_divergence_type="forward_kl")
    with pytest.raises(ValueError, match="f_divergence_type must be .* got 'kl'"):
        LF.dpo_loss(*ll, f_divergence_type="kl")
    with pytest.raises(ValueError, match="needs chosen_lengths"):
        LF.dpo_loss(*ll, loss_type="sft")
    with pytest.raises(ValueError, match="wpo_weights is not supported"):
        LF.dpo_loss(*ll, loss_type="aot", wpo_weights=(ll[0], ll[1]))
    alpha_one = LF.dpo_loss(*ll, f_divergence_type="alpha_divergence", f_alpha_divergence_coef=1.0)
    np.testing.assert_allclose(alpha_one.item(), LF.dpo_loss(*ll).item(), rtol=1e-15)
