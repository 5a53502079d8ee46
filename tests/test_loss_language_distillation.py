"""linear_distillation_loss (the student's and teacher's heads fused with the divergence,
chunked) against Liger-Kernel's pure-torch chunked LigerFusedLinearJSDFunction (CPU,
compiled=False) and the divergences written out in torch on the materialised logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from liger_kernel.chunked_loss.jsd_loss import LigerFusedLinearJSDFunction

import lossgrad as lg
import lossgrad.nn.functional as LF
from lossgrad.autograd import gradgradcheck

RNG = np.random.default_rng(2024)


def _tol(dtype):
    return 1e-10 if dtype == np.float64 else 3e-5


def _problem(n=11, d_student=5, d_teacher=7, v=13, dtype=np.float64):
    arrays = dict(
        student_input=RNG.standard_normal((n, d_student)),
        student_weight=RNG.standard_normal((v, d_student)),
        student_bias=RNG.standard_normal(v),
        teacher_input=RNG.standard_normal((n, d_teacher)),
        teacher_weight=RNG.standard_normal((v, d_teacher)),
        teacher_bias=RNG.standard_normal(v),
    )
    labels = RNG.integers(0, v, n)
    labels[[2, 5]] = -100
    return {k: a.astype(dtype) for k, a in arrays.items()}, labels


STUDENT = ("student_input", "student_weight", "student_bias")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("temperature, chunk", [(1.0, 4), (2.0, 1024), (0.7, 3)])
def test_jsd_matches_liger_chunked(dtype, beta, temperature, chunk):
    arrays, labels = _problem(dtype=dtype)
    t = {k: torch.tensor(a, requires_grad=k in STUDENT) for k, a in arrays.items()}
    expected = LigerFusedLinearJSDFunction.apply(
        t["student_input"],
        t["student_weight"],
        t["teacher_input"],
        t["teacher_weight"],
        torch.tensor(labels),
        t["student_bias"],
        t["teacher_bias"],
        0.0,
        1.0,
        beta,
        -100,
        temperature,
        False,
        4,
    )
    lgt = {k: lg.tensor(a, requires_grad=k in STUDENT) for k, a in arrays.items()}
    got = LF.linear_distillation_loss(
        lgt["student_input"],
        lgt["student_weight"],
        lgt["teacher_input"],
        lgt["teacher_weight"],
        lg.tensor(labels),
        student_bias=lgt["student_bias"],
        teacher_bias=lgt["teacher_bias"],
        beta=beta,
        temperature=temperature,
        chunk_size=chunk,
    )
    tol = _tol(dtype)
    # Liger accumulates the loss value in a float32 scalar (its gradients keep the dtype)
    np.testing.assert_allclose(got.item(), expected.item(), rtol=max(tol, 2e-6))
    t_grads = torch.autograd.grad(expected, [t[k] for k in STUDENT])
    l_grads = lg.autograd.grad(got, [lgt[k] for k in STUDENT])
    for t_grad, l_grad in zip(t_grads, l_grads):
        np.testing.assert_allclose(l_grad.numpy(), t_grad.numpy(), rtol=tol, atol=tol)


def _torch_divergence(student_logits, teacher_logits, divergence, beta, temperature):
    log_s = TF.log_softmax(student_logits / temperature, -1)
    log_t = TF.log_softmax(teacher_logits / temperature, -1)
    if divergence == "tvd":
        return 0.5 * (log_s.exp() - log_t.exp()).abs().sum(-1)
    if divergence == "kl":
        return temperature**2 * TF.kl_div(log_s, log_t, reduction="none", log_target=True).sum(-1)
    mixture = torch.log(beta * log_t.exp() + (1 - beta) * log_s.exp())
    return beta * TF.kl_div(mixture, log_t, reduction="none", log_target=True).sum(-1) + (
        1 - beta
    ) * TF.kl_div(mixture, log_s, reduction="none", log_target=True).sum(-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("divergence", ["jsd", "tvd", "kl"])
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none"])
def test_divergences_match_torch_formula(dtype, divergence, reduction):
    arrays, labels = _problem(dtype=dtype)
    t = {k: torch.tensor(a, requires_grad=k in STUDENT) for k, a in arrays.items()}
    keep = torch.tensor(labels != -100)
    per_token = _torch_divergence(
        TF.linear(t["student_input"], t["student_weight"], t["student_bias"]),
        TF.linear(t["teacher_input"], t["teacher_weight"], t["teacher_bias"]),
        divergence,
        0.3,
        1.5,
    )
    per_token = torch.where(keep, per_token, 0.0)
    expected = {
        "batchmean": per_token.sum() / keep.sum(),
        "sum": per_token.sum(),
        "none": per_token,
    }[reduction]
    lgt = {k: lg.tensor(a, requires_grad=k in STUDENT) for k, a in arrays.items()}
    got = LF.linear_distillation_loss(
        lgt["student_input"],
        lgt["student_weight"],
        lgt["teacher_input"],
        lgt["teacher_weight"],
        lg.tensor(labels),
        student_bias=lgt["student_bias"],
        teacher_bias=lgt["teacher_bias"],
        divergence=divergence,
        beta=0.3,
        temperature=1.5,
        reduction=reduction,
        chunk_size=4,
    )
    tol = _tol(dtype)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
    grad_out = RNG.standard_normal(tuple(expected.shape)).astype(dtype)
    t_grads = torch.autograd.grad(expected, [t[k] for k in STUDENT], torch.tensor(grad_out))
    l_grads = lg.autograd.grad(got, [lgt[k] for k in STUDENT], lg.tensor(grad_out))
    for t_grad, l_grad in zip(t_grads, l_grads):
        np.testing.assert_allclose(l_grad.numpy(), t_grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("divergence", ["jsd", "kl"])
def test_second_derivatives_match_torch_and_gradgradcheck(divergence):
    arrays, labels = _problem(n=6, d_student=3, d_teacher=4, v=5)
    t = {k: torch.tensor(a, requires_grad=k in STUDENT) for k, a in arrays.items()}
    expected = torch.where(
        torch.tensor(labels != -100),
        _torch_divergence(
            TF.linear(t["student_input"], t["student_weight"], t["student_bias"]),
            TF.linear(t["teacher_input"], t["teacher_weight"], t["teacher_bias"]),
            divergence,
            0.4,
            2.0,
        ),
        0.0,
    ).sum()
    probe = RNG.standard_normal(arrays["student_input"].shape)
    (t_grad,) = torch.autograd.grad(expected, t["student_input"], create_graph=True)
    t_second = torch.autograd.grad((t_grad * torch.tensor(probe)).sum(), [t[k] for k in STUDENT])
    lgt = {k: lg.tensor(a, requires_grad=k in STUDENT) for k, a in arrays.items()}

    def loss(x, w, b):
        return LF.linear_distillation_loss(
            x,
            w,
            lgt["teacher_input"],
            lgt["teacher_weight"],
            lg.tensor(labels),
            student_bias=b,
            teacher_bias=lgt["teacher_bias"],
            divergence=divergence,
            beta=0.4,
            temperature=2.0,
            reduction="sum",
            chunk_size=4,
        )

    got = loss(*(lgt[k] for k in STUDENT))
    (l_grad,) = lg.autograd.grad(got, lgt["student_input"], create_graph=True)
    l_second = lg.autograd.grad((l_grad * lg.tensor(probe)).sum(), [lgt[k] for k in STUDENT])
    for t_value, l_value in zip(t_second, l_second):
        np.testing.assert_allclose(l_value.numpy(), t_value.numpy(), rtol=1e-9, atol=1e-10)
    assert gradgradcheck(loss, [lgt[k] for k in STUDENT])


def test_teacher_gets_no_gradient_and_inputs_unchanged():
    arrays, labels = _problem()
    copies = {k: a.copy() for k, a in arrays.items()}
    lgt = {k: lg.from_numpy(a).requires_grad_(True) for k, a in arrays.items()}
    LF.linear_distillation_loss(
        lgt["student_input"],
        lgt["student_weight"],
        lgt["teacher_input"],
        lgt["teacher_weight"],
        lg.tensor(labels),
        student_bias=lgt["student_bias"],
        teacher_bias=lgt["teacher_bias"],
    ).backward()
    assert lgt["teacher_weight"].grad is None and lgt["teacher_input"].grad is None
    assert lgt["student_weight"].grad is not None
    for k, a in arrays.items():
        np.testing.assert_array_equal(a, copies[k])


def test_bad_arguments_name_the_argument():
    arrays, labels = _problem()
    lgt = {k: lg.tensor(a) for k, a in arrays.items()}
    args = (
        lgt["student_input"],
        lgt["student_weight"],
        lgt["teacher_input"],
        lgt["teacher_weight"],
    )
    with pytest.raises(ValueError, match="divergence must be one of .* got 'js'"):
        LF.linear_distillation_loss(*args, divergence="js")
    with pytest.raises(ValueError, match="temperature must be positive, got 0"):
        LF.linear_distillation_loss(*args, temperature=0.0)
    with pytest.raises(
        ValueError, match=r"teacher_weight \(V, D\), got shapes \(11, 7\) and \(13, 5\)"
    ):
        LF.linear_distillation_loss(args[0], args[1], args[2], args[1])
    with pytest.raises(ValueError, match="chunk_size must be a positive int, got 0"):
        LF.linear_distillation_loss(*args, chunk_size=0)


def _torch_divergence_log_space(student_logits, teacher_logits, divergence, beta, temperature):
    """The divergences in log space throughout (the mixture by logsumexp), for logits whose
    probabilities underflow."""
    log_s = TF.log_softmax(student_logits / temperature, -1)
    log_t = TF.log_softmax(teacher_logits / temperature, -1)

    def kl_rows(log_p, log_q):
        return (log_p.exp() * (log_p - log_q)).sum(-1)

    if divergence == "tvd":
        return 0.5 * (log_s.exp() - log_t.exp()).abs().sum(-1)
    if divergence == "kl":
        return temperature**2 * kl_rows(log_t, log_s)
    if beta in (0.0, 1.0):
        return kl_rows(log_t, log_s) if beta == 0.0 else kl_rows(log_s, log_t)
    log_m = torch.logsumexp(torch.stack([log_t + np.log(beta), log_s + np.log(1 - beta)]), 0)
    return beta * kl_rows(log_t, log_m) + (1 - beta) * kl_rows(log_s, log_m)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "divergence, beta", [("jsd", 0.0), ("jsd", 0.3), ("jsd", 1.0), ("tvd", 0.5), ("kl", 0.5)]
)
@pytest.mark.parametrize("reduction", ["batchmean", "sum"])
def test_reduced_divergences_on_logits_match_torch(dtype, divergence, beta, reduction):
    """The reduced losses on logits (one fused kernel over blocks of rows): 3-D logits, ignored
    tokens, classes to which both distributions give probability 0, first and second
    derivatives."""
    student = RNG.standard_normal((2, 5, 300)) * 3
    teacher = RNG.standard_normal((2, 5, 300)) * 3
    student[..., :7], teacher[..., :7] = -900.0, -1000.0
    student, teacher = student.astype(dtype), teacher.astype(dtype)
    labels = RNG.integers(0, 300, (2, 5))
    labels[0, [1, 3]] = -100
    keep = torch.tensor(labels != -100)
    t_student = torch.tensor(student, requires_grad=True)
    per_token = _torch_divergence_log_space(t_student, torch.tensor(teacher), divergence, beta, 1.5)
    per_token = torch.where(keep, per_token, 0.0)
    expected = per_token.sum() / (keep.sum() if reduction == "batchmean" else 1)
    loss = {"jsd": LF.generalized_jsd_loss, "tvd": LF.tvd_loss, "kl": LF.distillation_kl_loss}
    options = {"beta": beta} if divergence == "jsd" else {}
    l_student = lg.tensor(student, requires_grad=True)
    got = loss[divergence](
        l_student,
        lg.tensor(teacher),
        lg.tensor(labels),
        temperature=1.5,
        reduction=reduction,
        **options,
    )
    tol = _tol(dtype)
    np.testing.assert_allclose(got.item(), expected.item(), rtol=tol, atol=tol)
    (t_grad,) = torch.autograd.grad(expected, t_student, create_graph=True)
    (l_grad,) = lg.autograd.grad(got, l_student, retain_graph=True)
    np.testing.assert_allclose(l_grad.numpy(), t_grad.detach().numpy(), rtol=tol, atol=tol)
    probe = RNG.standard_normal(student.shape).astype(dtype)
    (t_second,) = torch.autograd.grad((t_grad * torch.tensor(probe)).sum(), t_student)
    (l_grad,) = lg.autograd.grad(got, l_student, create_graph=True)
    (l_second,) = lg.autograd.grad((l_grad * lg.tensor(probe)).sum(), l_student)
    assert np.isfinite(l_second.numpy()).all()
    np.testing.assert_allclose(l_second.numpy(), t_second.numpy(), rtol=tol, atol=tol)


def test_reduced_linear_distillation_with_a_retained_graph_and_the_head_alone():
    """The reduced loss keeps its gradient from the forward: backpropagated twice through a
    retained graph, into the head only (the input and bias without gradient)."""
    arrays, labels = _problem()
    t = {k: torch.tensor(a, requires_grad=k == "student_weight") for k, a in arrays.items()}
    per_token = _torch_divergence(
        TF.linear(t["student_input"], t["student_weight"], t["student_bias"]),
        TF.linear(t["teacher_input"], t["teacher_weight"], t["teacher_bias"]),
        "jsd",
        0.3,
        1.5,
    )
    expected = torch.where(torch.tensor(labels != -100), per_token, 0.0).sum()
    (t_grad,) = torch.autograd.grad(expected, t["student_weight"])
    lgt = {k: lg.tensor(a, requires_grad=k == "student_weight") for k, a in arrays.items()}
    got = LF.linear_distillation_loss(
        lgt["student_input"],
        lgt["student_weight"],
        lgt["teacher_input"],
        lgt["teacher_weight"],
        lg.tensor(labels),
        student_bias=lgt["student_bias"],
        teacher_bias=lgt["teacher_bias"],
        beta=0.3,
        temperature=1.5,
        reduction="sum",
        chunk_size=4,
    )
    np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-10)
    got.backward(retain_graph=True)
    np.testing.assert_allclose(lgt["student_weight"].grad.numpy(), t_grad.numpy(), rtol=1e-10)
    got.backward()
    np.testing.assert_allclose(lgt["student_weight"].grad.numpy(), 2 * t_grad.numpy(), rtol=1e-10)
    assert lgt["student_input"].grad is None and lgt["student_bias"].grad is None
