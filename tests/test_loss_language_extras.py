"""The language-model options of cross_entropy and linear_cross_entropy (z-loss, soft-capping,
token accuracy, token scaling) against their formulas written out in torch, on both paths of
linear_cross_entropy, with first and second derivatives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lossgrad as lg
import lossgrad.nn.functional as LF
from lossgrad.autograd import gradgradcheck

RNG = np.random.default_rng(1717)


def _torch_formula(
    logits,
    target,
    *,
    weight=None,
    reduction="mean",
    ignore_index=-100,
    label_smoothing=0.0,
    lse_square_scale=0.0,
    softcap=None,
    use_token_scaling=False,
):
    """(loss, z_loss, token_accuracy) in torch: Liger-Kernel's conventions (the z-loss is not
    class-weighted and 'mean' divides it by the tokens kept; token scaling multiplies both by
    the detached target probability)."""
    class_dim = 1 if logits.dim() >= 2 else 0
    if softcap is not None:
        logits = softcap * torch.tanh(logits / softcap)
    ce = torch.nn.functional.cross_entropy(
        logits,
        target,
        weight=weight,
        reduction="none",
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )
    valid = target != ignore_index
    safe = torch.where(valid, target, 0)
    z_loss = torch.where(valid, lse_square_scale * torch.logsumexp(logits, class_dim) ** 2, 0.0)
    if use_token_scaling:
        prob = (
            torch.softmax(logits.detach(), class_dim)
            .gather(class_dim, safe.unsqueeze(class_dim))
            .squeeze(class_dim)
        )
        prob = torch.where(valid, prob, 0.0)
        ce, z_loss = ce * prob, z_loss * prob
    denominator = valid.sum() if weight is None else torch.where(valid, weight[safe], 0.0).sum()
    correct = ((logits.argmax(class_dim) == target) & valid).to(logits.dtype)
    if reduction == "none":
        return ce + z_loss, z_loss, correct
    if reduction == "sum":
        loss, z_loss = ce.sum(), z_loss.sum()
    else:
        loss, z_loss = ce.sum() / denominator, z_loss.sum() / valid.sum()
    return loss + z_loss, z_loss, correct.sum() / valid.sum()


def _check(got, expected, tensors, dtype):
    tol = 1e-10 if dtype == np.float64 else 3e-5
    assert isinstance(got, LF.loss_language.CrossEntropyOutput)
    for l_value, t_value in zip(got, expected):
        assert tuple(l_value.shape) == tuple(t_value.shape)
        np.testing.assert_allclose(
            l_value.detach().numpy(), t_value.detach().numpy(), rtol=tol, atol=tol
        )
    grad_out = RNG.standard_normal(tuple(expected[0].shape)).astype(dtype)
    t_grads = torch.autograd.grad(expected[0], [p[0] for p in tensors], torch.tensor(grad_out))
    l_grads = lg.autograd.grad(got.loss, [p[1] for p in tensors], lg.tensor(grad_out))
    for t_grad, l_grad in zip(t_grads, l_grads):
        np.testing.assert_allclose(l_grad.numpy(), t_grad.numpy(), rtol=tol, atol=tol)


def _pair(array, dtype):
    array = array.astype(dtype)
    return torch.tensor(array, requires_grad=True), lg.tensor(array, requires_grad=True)


SETTINGS = [
    dict(lse_square_scale=1e-3),
    dict(softcap=2.5),
    dict(use_token_scaling=True),
    dict(lse_square_scale=1e-2, softcap=3.0, use_token_scaling=True),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(7,), (9, 7), (4, 7, 3)])
@pytest.mark.parametrize("settings", SETTINGS)
def test_cross_entropy_extras_match_torch_formula(dtype, reduction, shape, settings):
    logits = RNG.standard_normal(shape) * 3
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = RNG.integers(0, 7, target_shape)
    if target.ndim:
        target.reshape(-1)[0] = -100
    weight = RNG.random(7) + 0.5
    label_smoothing = 0.1 if len(shape) == 3 else 0.0
    pair = _pair(logits, dtype)
    expected = _torch_formula(
        pair[0],
        torch.tensor(target),
        weight=torch.tensor(weight.astype(dtype)),
        reduction=reduction,
        label_smoothing=label_smoothing,
        **settings,
    )
    got = LF.cross_entropy(
        pair[1],
        lg.tensor(target),
        weight=lg.tensor(weight.astype(dtype)),
        reduction=reduction,
        label_smoothing=label_smoothing,
        return_z_loss=True,
        return_token_accuracy=True,
        **settings,
    )
    _check(got, expected, [pair], dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softcap_in_blocks_matches_torch_formula(dtype):
    """The soft cap runs as one op in blocks: on logits of several blocks, torch's ``c tanh(z /
    c)``, its gradient and its second derivative; the composite's value and gradient bit for
    bit."""
    logits = (RNG.standard_normal((700, 1000)) * 20).astype(dtype)
    target = RNG.integers(0, 1000, 700)
    ours, theirs = lg.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    got = LF.cross_entropy(ours, lg.tensor(target), softcap=3.0, reduction="sum")
    capped = 3.0 * torch.tanh(theirs / 3.0)
    expected = torch.nn.functional.cross_entropy(capped, torch.tensor(target), reduction="sum")
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got.item(), expected.item(), rtol=tol)
    (grad,) = lg.autograd.grad(got, ours, create_graph=True)
    (t_grad,) = torch.autograd.grad(expected, theirs, create_graph=True)
    np.testing.assert_allclose(grad.detach().numpy(), t_grad.detach().numpy(), rtol=tol, atol=tol)
    (second,) = lg.autograd.grad(grad.sum(), ours)
    (t_second,) = torch.autograd.grad(t_grad.sum(), theirs)
    np.testing.assert_allclose(second.numpy(), t_second.numpy(), rtol=tol, atol=tol)
    # against the composite in lossgrad ops (torch's tanh rounds otherwise than NumPy's)
    upstream = lg.tensor(RNG.standard_normal(logits.shape).astype(dtype))
    fused = LF.loss_language._softcapped(ours, 3.0)
    composite = LF.loss_language._softcap_composite(ours, 3.0)
    assert fused.grad_fn.name() == "SoftcapBackward"
    np.testing.assert_array_equal(fused.detach().numpy(), composite.detach().numpy())
    for got_grad, want in zip(
        lg.autograd.grad(fused, ours, upstream), lg.autograd.grad(composite, ours, upstream)
    ):
        np.testing.assert_array_equal(got_grad.numpy(), want.numpy())


def test_cross_entropy_default_extras_equal_torch():
    """Asking only for the z-loss and accuracy (scale 0) leaves torch's loss unchanged; the
    plain call returns a tensor, as torch."""
    logits, target = RNG.standard_normal((6, 5)), RNG.integers(0, 5, 6)
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(target))
    got = LF.cross_entropy(lg.tensor(logits), lg.tensor(target), return_z_loss=True)
    np.testing.assert_allclose(got.loss.item(), expected.item(), rtol=1e-13)
    assert got.z_loss.item() == 0.0 and got.token_accuracy is None
    assert isinstance(LF.cross_entropy(lg.tensor(logits), lg.tensor(target)), lg.Tensor)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("chunk", [None, 1, 4, "auto"])
@pytest.mark.parametrize("settings", SETTINGS)
def test_linear_cross_entropy_extras_both_paths(dtype, reduction, chunk, settings):
    n, d, v = 10, 4, 9
    input, head, bias = (
        RNG.standard_normal((n, d)),
        RNG.standard_normal((v, d)) * 2,
        RNG.standard_normal(v),
    )
    target = RNG.integers(0, v, n)
    target[3] = -100
    weight = RNG.random(v) + 0.5
    pairs = [_pair(a, dtype) for a in (input, head, bias)]
    logits = torch.nn.functional.linear(*(p[0] for p in pairs))
    expected = _torch_formula(
        logits,
        torch.tensor(target),
        weight=torch.tensor(weight.astype(dtype)),
        reduction=reduction,
        **settings,
    )
    if chunk is None:
        options = None
    elif chunk == "auto":
        options = lg.nn.LinearCrossEntropyOptions()
    else:
        options = lg.nn.LinearCrossEntropyOptions(batch_chunk_size=chunk)
    got = LF.linear_cross_entropy(
        pairs[0][1],
        pairs[1][1],
        lg.tensor(target),
        linear_bias=pairs[2][1],
        weight=lg.tensor(weight.astype(dtype)),
        reduction=reduction,
        options=options,
        return_z_loss=True,
        return_token_accuracy=True,
        **settings,
    )
    _check(got, expected, pairs, dtype)


@pytest.mark.parametrize("settings", SETTINGS)
def test_chunked_extras_second_derivatives(settings):
    """The input gradient's weighted sum, differentiated again, equals torch's (reference
    formula: torch's own chunked path is first-order), and gradgradcheck passes (except with
    token scaling, whose detached factor makes the gradient differ from finite differences)."""
    n, d, v = 6, 3, 7
    input, head, bias = (
        RNG.standard_normal((n, d)),
        RNG.standard_normal((v, d)),
        RNG.standard_normal(v),
    )
    target = RNG.integers(0, v, n)
    target[0] = -100
    pairs = [_pair(a, np.float64) for a in (input, head, bias)]
    probe = RNG.standard_normal((n, d))
    expected = _torch_formula(
        torch.nn.functional.linear(*(p[0] for p in pairs)), torch.tensor(target), **settings
    )[0]
    t_grad = torch.autograd.grad(expected, pairs[0][0], create_graph=True)[0]
    t_second = torch.autograd.grad((t_grad * torch.tensor(probe)).sum(), [p[0] for p in pairs])
    options = lg.nn.LinearCrossEntropyOptions(batch_chunk_size=4)
    got = LF.linear_cross_entropy(
        pairs[0][1],
        pairs[1][1],
        lg.tensor(target),
        linear_bias=pairs[2][1],
        options=options,
        **settings,
    )
    l_grad = lg.autograd.grad(got, pairs[0][1], create_graph=True)[0]
    l_second = lg.autograd.grad((l_grad * lg.tensor(probe)).sum(), [p[1] for p in pairs])
    for t_value, l_value in zip(t_second, l_second):
        np.testing.assert_allclose(l_value.numpy(), t_value.numpy(), rtol=1e-9, atol=1e-10)

    def loss(x, w, b):
        return LF.linear_cross_entropy(
            x, w, lg.tensor(target), linear_bias=b, options=options, **settings
        )

    if not settings.get("use_token_scaling"):  # a detached factor: not a true gradient
        assert gradgradcheck(loss, [p[1] for p in pairs])


def test_unbatched_chunked_extras():
    input, head = RNG.standard_normal(4), RNG.standard_normal((6, 4))
    settings = dict(lse_square_scale=0.1, softcap=2.0)
    expected = _torch_formula(
        torch.tensor(head) @ torch.tensor(input), torch.tensor(2), reduction="none", **settings
    )
    got = LF.linear_cross_entropy(
        lg.tensor(input),
        lg.tensor(head),
        lg.tensor(2),
        reduction="none",
        return_z_loss=True,
        return_token_accuracy=True,
        options=lg.nn.LinearCrossEntropyOptions(),
        **settings,
    )
    for l_value, t_value in zip(got, expected):
        assert tuple(l_value.shape) == ()
        np.testing.assert_allclose(l_value.numpy(), t_value.numpy(), rtol=1e-12)


def test_extras_bad_arguments_name_the_argument():
    logits, target = lg.tensor(RNG.standard_normal((3, 4))), lg.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="softcap must be a positive number or None, got 0"):
        LF.cross_entropy(logits, target, softcap=0.0)
    with pytest.raises(ValueError, match="lse_square_scale must be finite, got nan"):
        LF.cross_entropy(logits, target, lse_square_scale=float("nan"))
    with pytest.raises(TypeError, match="need class-index .* dtype torch.float64"):
        LF.cross_entropy(logits, lg.softmax(logits, 1), return_z_loss=True)


def test_extras_do_not_mutate_inputs():
    logits, target = RNG.standard_normal((5, 4)), RNG.integers(0, 4, 5)
    copies = logits.copy(), target.copy()
    LF.cross_entropy(
        lg.from_numpy(logits).requires_grad_(True),
        lg.from_numpy(target),
        softcap=1.0,
        lse_square_scale=0.1,
        use_token_scaling=True,
    ).backward()
    np.testing.assert_array_equal(logits, copies[0])
    np.testing.assert_array_equal(target, copies[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("chunk", [1, 4, "auto"])
@pytest.mark.parametrize("settings", [{}, *SETTINGS])
def test_chunked_scalar_loss_with_gradient_made_in_the_forward(dtype, reduction, chunk, settings):
    """The scalar reductions of the chunked path (the gradient made in the forward, scaled in
    the backward) against torch's reference path and the extras' formula; a retained graph
    gives the same gradient twice."""
    n, d, v = 10, 4, 9
    input, head = RNG.standard_normal((n, d)), RNG.standard_normal((v, d)) * 2
    bias, target = RNG.standard_normal(v), RNG.integers(0, v, n)
    target[[3, 7]] = -100
    weight = (RNG.random(v) + 0.5).astype(dtype)
    pairs = [_pair(a, dtype) for a in (input, head, bias)]
    logits = torch.nn.functional.linear(*(p[0] for p in pairs))
    expected = _torch_formula(
        logits, torch.tensor(target), weight=torch.tensor(weight), reduction=reduction, **settings
    )[0]
    options = lg.nn.LinearCrossEntropyOptions(
        **({} if chunk == "auto" else {"batch_chunk_size": chunk})
    )
    got = LF.linear_cross_entropy(
        pairs[0][1],
        pairs[1][1],
        lg.tensor(target),
        linear_bias=pairs[2][1],
        weight=lg.tensor(weight),
        reduction=reduction,
        options=options,
        **settings,
    )
    tol = 1e-10 if dtype == np.float64 else 3e-5
    np.testing.assert_allclose(got.item(), expected.item(), rtol=tol, atol=tol)
    t_grads = torch.autograd.grad(expected * 0.7, [p[0] for p in pairs])
    for _ in range(2):
        l_grads = lg.autograd.grad(got * 0.7, [p[1] for p in pairs], retain_graph=True)
        for t_grad, l_grad in zip(t_grads, l_grads):
            np.testing.assert_allclose(l_grad.numpy(), t_grad.numpy(), rtol=tol, atol=tol)


def test_chunked_scalar_loss_every_token_ignored():
    """'mean' over no token is NaN with a zero gradient (torch's reference path)."""
    input, head = RNG.standard_normal((5, 3)), RNG.standard_normal((6, 3))
    x = lg.tensor(input, requires_grad=True)
    loss = LF.linear_cross_entropy(
        x,
        lg.tensor(head),
        lg.tensor(np.full(5, -100)),
        options=lg.nn.LinearCrossEntropyOptions(),
        softcap=2.0,
    )
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)
