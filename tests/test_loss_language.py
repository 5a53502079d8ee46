"""linear_cross_entropy / LinearCrossEntropyLoss against torch 2.13 (both paths)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import lossgrad as lg
import lossgrad.nn.functional as LF
from lossgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(17)


def _pair(array, requires_grad=True):
    return (
        torch.tensor(array, requires_grad=requires_grad),
        lg.tensor(array, requires_grad=requires_grad),
    )


def _options(chunk, library):
    if chunk is None:
        return None
    if chunk == "auto":
        return library.nn.LinearCrossEntropyOptions()
    return library.nn.LinearCrossEntropyOptions(batch_chunk_size=chunk)


def _compare(
    input,
    linear_weight,
    target,
    *,
    bias=None,
    weight=None,
    chunk=None,
    dtype=np.float64,
    second=True,
    **kwargs,
):
    """Value, input/weight/bias gradients (random grad_output) and, on float64, the gradient of
    the input gradient's weighted sum (a second derivative) of lossgrad vs torch."""
    arrays = [input, linear_weight] + ([bias] if bias is not None else [])
    pairs = [_pair(a.astype(dtype)) for a in arrays]
    tt = [p[0] for p in pairs]
    ll = [p[1] for p in pairs]
    t_target = torch.tensor(target)
    l_target = lg.tensor(target)
    t_weight = torch.tensor(weight.astype(dtype)) if weight is not None else None
    l_weight = lg.tensor(weight.astype(dtype)) if weight is not None else None
    expected = torch.nn.functional.linear_cross_entropy(
        tt[0],
        tt[1],
        t_target,
        linear_bias=tt[2] if bias is not None else None,
        weight=t_weight,
        options=_options(chunk, torch),
        **kwargs,
    )
    got = LF.linear_cross_entropy(
        ll[0],
        ll[1],
        l_target,
        linear_bias=ll[2] if bias is not None else None,
        weight=l_weight,
        options=_options(chunk, lg),
        **kwargs,
    )
    tol = 1e-10 if dtype == np.float64 else 2e-5
    assert got.dtype == getattr(lg, np.dtype(dtype).name)
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
    grad_out = RNG.standard_normal(tuple(expected.shape)).astype(dtype)
    t_grads = torch.autograd.grad(expected, tt, torch.tensor(grad_out))
    l_grads = lg.autograd.grad(got, ll, lg.tensor(grad_out), create_graph=second)
    for t_grad, l_grad in zip(t_grads, l_grads):
        np.testing.assert_allclose(l_grad.detach().numpy(), t_grad.numpy(), rtol=tol, atol=tol)
    if second:
        # torch's chunked path is first-order: its second derivative comes from the reference path
        ref = torch.nn.functional.linear_cross_entropy(
            tt[0],
            tt[1],
            t_target,
            linear_bias=tt[2] if bias is not None else None,
            weight=t_weight,
            **kwargs,
        )
        ref_grads = torch.autograd.grad(ref, tt, torch.tensor(grad_out), create_graph=True)
        probe = RNG.standard_normal(input.shape).astype(dtype)
        t_second = torch.autograd.grad((ref_grads[0] * torch.tensor(probe)).sum(), tt)
        l_second = lg.autograd.grad((l_grads[0] * lg.tensor(probe)).sum(), ll)
        for t_grad, l_grad in zip(t_second, l_second):
            np.testing.assert_allclose(l_grad.numpy(), t_grad.numpy(), rtol=1e-9, atol=1e-9)


def _problem(n=9, d=5, v=13, ignore=True):
    input = RNG.standard_normal((n, d))
    linear_weight = RNG.standard_normal((v, d))
    target = RNG.integers(0, v, n)
    if ignore:
        target[1] = -100
    return input, linear_weight, target


@pytest.mark.parametrize("chunk", [None, "auto", 1, 4, 100])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize("use_weight", [False, True])
def test_index_targets_match_torch(chunk, reduction, use_bias, use_weight):
    input, linear_weight, target = _problem()
    bias = RNG.standard_normal(13) if use_bias else None
    weight = RNG.random(13) + 0.5 if use_weight else None
    _compare(
        input, linear_weight, target, bias=bias, weight=weight, chunk=chunk, reduction=reduction
    )


@pytest.mark.parametrize("chunk", [None, 3])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_float32_matches_torch(chunk, reduction):
    input, linear_weight, target = _problem(n=12, d=8, v=40)
    _compare(
        input,
        linear_weight,
        target,
        bias=RNG.standard_normal(40),
        chunk=chunk,
        dtype=np.float32,
        second=False,
        reduction=reduction,
    )


@pytest.mark.parametrize("chunk", [None, 2])
def test_custom_ignore_index_and_unbatched(chunk):
    input, linear_weight, target = _problem(ignore=False)
    target[3] = 4
    _compare(input, linear_weight, target, chunk=chunk, ignore_index=4)
    _compare(input[0], linear_weight, np.array(target[0]), chunk=chunk, reduction="none")
    _compare(input[0], linear_weight, np.array(target[0]), chunk=chunk)


def test_probability_targets_and_label_smoothing():
    input, linear_weight, target = _problem(ignore=False)
    probs = RNG.random((9, 13))
    probs /= probs.sum(1, keepdims=True)
    weight = RNG.random(13) + 0.5
    for reduction in ("mean", "sum", "none"):
        _compare(input, linear_weight, probs, weight=weight, reduction=reduction)
        _compare(
            input, linear_weight, target, weight=weight, reduction=reduction, label_smoothing=0.2
        )


def test_k_dimensional_out_features():
    input = RNG.standard_normal((4, 3))
    linear_weight = RNG.standard_normal((5, 2, 3, 3))
    bias = RNG.standard_normal((5, 2, 3))
    target = RNG.integers(0, 5, (4, 2, 3))
    target[0, 1, 2] = -100
    for reduction in ("mean", "none"):
        _compare(input, linear_weight, target, bias=bias, reduction=reduction)
    probs = RNG.random((4, 5, 2, 3))
    _compare(input, linear_weight, probs / probs.sum(1, keepdims=True), bias=bias)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"label_smoothing": 0.1},
        {"out_features": True},
        {"probabilities": True},
    ],
)
def test_chunked_fallback_warns_like_torch(kwargs):
    input, linear_weight, target = _problem(ignore=False)
    if kwargs.pop("out_features", False):
        linear_weight = RNG.standard_normal((13, 2, 5))
        target = RNG.integers(0, 13, (9, 2))
    if kwargs.pop("probabilities", False):
        target = np.full((9, 13), 1 / 13)
    results = []
    for library in (torch, lg):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            functional = library.nn.functional
            value = functional.linear_cross_entropy(
                library.tensor(input),
                library.tensor(linear_weight),
                library.tensor(target),
                options=library.nn.LinearCrossEntropyOptions(),
                **kwargs,
            )
        messages = [str(w.message) for w in caught if w.category is UserWarning]
        assert len(messages) == 1 and "``options`` ignored" in messages[0]
        results.append((value.item(), messages[0]))
    assert results[0][1] == results[1][1]
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_chunked_scalar_path_makes_no_logits_for_ignored_tokens(reduction):
    """An ignored token adds 0 to the loss and every gradient, so the scalar chunked path skips
    it: a NaN hidden state there changes nothing (torch's value: the same loss without it)."""
    input, linear_weight, target = _problem()
    kept = target != -100
    expected_input, expected_weight = torch.tensor(input[kept]), torch.tensor(linear_weight)
    for t in (expected_input, expected_weight):
        t.requires_grad_(True)
    expected = torch.nn.functional.linear_cross_entropy(
        expected_input, expected_weight, torch.tensor(target[kept]), reduction=reduction
    )
    expected.backward()
    input[~kept] = np.nan
    x, w = lg.tensor(input, requires_grad=True), lg.tensor(linear_weight, requires_grad=True)
    got = LF.linear_cross_entropy(
        x, w, lg.tensor(target), reduction=reduction, options=_options(4, lg)
    )
    got.backward()
    np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy()[kept], expected_input.grad.numpy(), rtol=1e-10)
    np.testing.assert_array_equal(x.grad.numpy()[~kept], 0)
    np.testing.assert_allclose(w.grad.numpy(), expected_weight.grad.numpy(), rtol=1e-10)


def test_all_ignored_tokens():
    input, linear_weight, _ = _problem()
    target = np.full(9, -100)
    for chunk in (None, 4):
        for reduction in ("mean", "sum", "none"):
            expected = torch.nn.functional.linear_cross_entropy(
                torch.tensor(input),
                torch.tensor(linear_weight),
                torch.tensor(target),
                reduction=reduction,
                options=_options(chunk, torch),
            )
            x = lg.tensor(input, requires_grad=True)
            got = LF.linear_cross_entropy(
                x,
                lg.tensor(linear_weight),
                lg.tensor(target),
                reduction=reduction,
                options=_options(chunk, lg),
            )
            np.testing.assert_array_equal(got.detach().numpy(), expected.numpy())
            if reduction != "mean":  # 'mean' is NaN (0 / 0), as in torch
                got.sum().backward()
                assert not np.isnan(x.grad.numpy()).any()
                np.testing.assert_array_equal(x.grad.numpy(), 0)


def test_chunked_path_gradgradcheck_float64():
    input, linear_weight, target = _problem(n=6, d=3, v=7)
    bias = RNG.standard_normal(7)
    weight = RNG.random(7) + 0.5
    tensors = [lg.tensor(a, requires_grad=True) for a in (input, linear_weight, bias, weight)]
    for reduction in ("mean", "sum", "none"):

        def loss(x, w, b, cw, reduction=reduction):
            return LF.linear_cross_entropy(
                x,
                w,
                lg.tensor(target),
                linear_bias=b,
                weight=cw,
                reduction=reduction,
                options=lg.nn.LinearCrossEntropyOptions(batch_chunk_size=4),
            )

        assert gradcheck(loss, tensors)
        assert gradgradcheck(loss, tensors)


def test_chunk_size_resolution_matches_torch():
    for n, d, v, method in [
        (4096, 1024, 32000, "auto"),
        (100, 8, 1000, "aspect_ratio"),
        (37, 16, 50, "aspect_ratio:4"),
        (5, 4, 3, "auto"),
    ]:
        t_opts = torch.nn.LinearCrossEntropyOptions(chunking_method=method)
        expected = t_opts._adjust(n, d, v, torch.float32, torch.device("cpu")).batch_chunk_size
        got = lg.nn.LinearCrossEntropyOptions(chunking_method=method).rows_per_chunk(n, d, v)
        assert got == expected


def test_options_validation_matches_torch():
    for kwargs in (
        {"acc_policy": "fast"},
        {"chunking_method": "rows"},
        {"chunking_method": "aspect_ratio:0"},
        {"batch_chunk_size": 0},
    ):
        with pytest.raises(ValueError) as expected:
            torch.nn.LinearCrossEntropyOptions(**kwargs)
        with pytest.raises(ValueError) as got:
            lg.nn.LinearCrossEntropyOptions(**kwargs)
        assert str(got.value) == str(expected.value)
    with pytest.raises(ValueError, match="give different chunk sizes"):
        lg.nn.LinearCrossEntropyOptions(
            batch_chunk_size=3, chunking_method="aspect_ratio"
        ).rows_per_chunk(64, 4, 8)


@pytest.mark.parametrize(
    "shapes, kwargs",
    [
        (((2, 3, 4), (5, 4), (2,)), {}),
        (((2, 4), (5,), (2,)), {}),
        (((2, 4), (5, 3), (2,)), {}),
        (((2, 4), (5, 4), (2,)), {"linear_bias": (4,)}),
        (((4,), (5, 2, 4), (2,)), {}),
        (((2, 4), (5, 4), (2, 5)), {"ignore_index": 1}),
    ],
)
def test_bad_shapes_raise_like_torch(shapes, kwargs):
    errors = []
    for library in (torch, lg):
        args = [library.zeros(*s) for s in shapes[:2]]
        target = (
            library.zeros(*shapes[2])
            if len(shapes[2]) == 2
            else library.zeros(*shapes[2], dtype=library.int64)
        )
        extra = {k: library.zeros(*v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
        with pytest.raises(RuntimeError) as info:
            library.nn.functional.linear_cross_entropy(*args, target, **extra)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def test_module_matches_torch_with_copied_weights():
    for options in (None, "chunked"):
        for out_features, bias in [((), True), ((2,), False)]:
            t_module = torch.nn.LinearCrossEntropyLoss(
                6,
                10,
                out_features=out_features,
                bias=bias,
                dtype=torch.float64,
                ignore_index=3,
                options=None if options is None else torch.nn.LinearCrossEntropyOptions(),
            )
            l_module = lg.nn.LinearCrossEntropyLoss(
                6,
                10,
                out_features=out_features,
                bias=bias,
                dtype=lg.float64,
                ignore_index=3,
                options=None if options is None else lg.nn.LinearCrossEntropyOptions(),
            )
            assert repr(l_module) == repr(t_module)
            with torch.no_grad():
                l_module.linear.weight.data = lg.tensor(t_module.linear.weight.numpy().copy())
                if bias:
                    l_module.linear.bias.data = lg.tensor(t_module.linear.bias.numpy().copy())
            l_module.linear.weight.requires_grad_(True)
            input = RNG.standard_normal((8, 6))
            target = RNG.integers(0, 10, (8, *out_features))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = t_module(torch.tensor(input), torch.tensor(target))
                got = l_module(lg.tensor(input), lg.tensor(target))
            np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-12)
            expected.backward()
            got.backward()
            np.testing.assert_allclose(
                l_module.linear.weight.grad.numpy(),
                t_module.linear.weight.grad.numpy(),
                rtol=1e-10,
                atol=1e-12,
            )


def test_module_checks_like_torch():
    for kwargs in ({"weight": "bad"}, {"label_smoothing": 1.5}):
        errors = []
        for library in (torch, lg):
            args = dict(kwargs)
            if args.get("weight") == "bad":
                args["weight"] = library.ones(3)
            with pytest.raises(RuntimeError) as info:
                library.nn.LinearCrossEntropyLoss(4, 5, **args)
            errors.append(str(info.value))
        assert errors[0] == errors[1]


def test_signatures_match_torch():
    import inspect

    got = list(inspect.signature(LF.linear_cross_entropy).parameters.values())
    expected = list(inspect.signature(torch.nn.functional.linear_cross_entropy).parameters.values())
    # torch's parameters first, then lossgrad's keyword-only extensions (defaults = torch)
    assert [(p.name, p.kind, p.default) for p in got[: len(expected)]] == [
        (p.name, p.kind, p.default) for p in expected
    ]
    assert [p.name for p in got[len(expected) :]] == [
        "lse_square_scale",
        "softcap",
        "return_z_loss",
        "return_token_accuracy",
        "use_token_scaling",
    ]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in got[len(expected) :])
    got = inspect.signature(lg.nn.LinearCrossEntropyLoss)
    expected = inspect.signature(torch.nn.LinearCrossEntropyLoss)
    assert list(got.parameters) == list(expected.parameters)


def test_chunked_path_does_not_mutate_inputs():
    input, linear_weight, target = _problem()
    copies = [a.copy() for a in (input, linear_weight, target)]
    x = lg.from_numpy(input).requires_grad_(True)
    LF.linear_cross_entropy(
        x,
        lg.from_numpy(linear_weight),
        lg.from_numpy(target),
        options=lg.nn.LinearCrossEntropyOptions(batch_chunk_size=2),
    ).backward()
    for array, copy in zip((input, linear_weight, target), copies):
        np.testing.assert_array_equal(array, copy)


def _torch_extras(
    input, linear_weight, target, bias, weight, reduction, scale, softcap, ignore_index=-100
):
    """z-loss, soft-capping and token accuracy written out in torch (Liger's conventions)."""
    logits = torch.nn.functional.linear(input, linear_weight, bias)
    if softcap is not None:
        logits = softcap * torch.tanh(logits / softcap)
    loss = torch.nn.functional.cross_entropy(
        logits, target, weight=weight, reduction=reduction, ignore_index=ignore_index
    )
    valid = target != ignore_index
    z_loss = torch.where(valid, scale * torch.logsumexp(logits, 1) ** 2, 0.0)
    correct = ((logits.argmax(1) == target) & valid).to(logits.dtype)
    if reduction == "mean":
        z_loss = z_loss.sum() / valid.sum()
    elif reduction == "sum":
        z_loss = z_loss.sum()
    accuracy = correct if reduction == "none" else correct.sum() / valid.sum()
    return loss + z_loss, z_loss, accuracy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("scale, softcap", [(1e-3, None), (0.0, 3.0), (1e-2, 2.5)])
def test_z_loss_softcap_accuracy_match_torch_formula(dtype, reduction, scale, softcap):
    input, linear_weight, target = _problem(n=10, d=4, v=7)
    linear_weight *= 3
    bias = RNG.standard_normal(7)
    weight = RNG.random(7) + 0.5
    arrays = [a.astype(dtype) for a in (input, linear_weight, bias)]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    ll = [lg.tensor(a, requires_grad=True) for a in arrays]
    expected = _torch_extras(
        *tt[:2],
        torch.tensor(target),
        tt[2],
        torch.tensor(weight.astype(dtype)),
        reduction,
        scale,
        softcap,
    )
    got = LF.linear_cross_entropy(
        *ll[:2],
        lg.tensor(target),
        linear_bias=ll[2],
        weight=lg.tensor(weight.astype(dtype)),
        reduction=reduction,
        lse_square_scale=scale,
        softcap=softcap,
        return_z_loss=True,
        return_token_accuracy=True,
    )
    tol = 1e-10 if dtype == np.float64 else 2e-5
    for t_value, l_value in zip(expected, got):
        np.testing.assert_allclose(
            l_value.detach().numpy(), t_value.detach().numpy(), rtol=tol, atol=tol
        )
    grad_out = RNG.standard_normal(tuple(expected[0].shape)).astype(dtype)
    t_grads = torch.autograd.grad(expected[0], tt, torch.tensor(grad_out))
    l_grads = lg.autograd.grad(got.loss, ll, lg.tensor(grad_out))
    for t_grad, l_grad in zip(t_grads, l_grads):
        np.testing.assert_allclose(l_grad.numpy(), t_grad.numpy(), rtol=tol, atol=tol)


def test_extras_default_to_torch_and_gradgradcheck():
    input, linear_weight, target = _problem(n=5, d=3, v=6)
    plain = LF.linear_cross_entropy(
        lg.tensor(input), lg.tensor(linear_weight), lg.tensor(target), lse_square_scale=0.0
    )
    expected = torch.nn.functional.linear_cross_entropy(
        torch.tensor(input), torch.tensor(linear_weight), torch.tensor(target)
    )
    np.testing.assert_allclose(plain.item(), expected.item(), rtol=1e-12)
    tensors = [lg.tensor(a, requires_grad=True) for a in (input, linear_weight)]

    def loss(x, w):
        return LF.linear_cross_entropy(x, w, lg.tensor(target), lse_square_scale=0.1, softcap=2.0)

    assert gradgradcheck(loss, tensors)


def test_extras_bad_arguments():
    input, linear_weight, target = _problem(n=5, d=3, v=6)
    with pytest.raises(ValueError, match="softcap"):
        LF.linear_cross_entropy(
            lg.tensor(input), lg.tensor(linear_weight), lg.tensor(target), softcap=-1.0
        )
    with pytest.raises(TypeError, match="int64"):
        LF.linear_cross_entropy(
            lg.tensor(input),
            lg.tensor(linear_weight),
            lg.tensor(np.full((5, 6), 1 / 6)),
            lse_square_scale=0.1,
        )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_chunked_results_carry_torchs_node_names(reduction, batched, weighted):
    """The chunked path's result has torch's grad_fn: its custom operator's generated node
    (``..._no_reduction_...`` for 'none'), or SqueezeBackward1 for an unbatched input."""
    rng = np.random.default_rng(8)
    hidden, head = rng.random((4, 3)), rng.random((5, 3))
    target, class_weight = np.array([0, 1, 2, 4]), rng.random(5)
    names = []
    for lib in (torch, lg):
        x = lib.tensor(hidden if batched else hidden[0], requires_grad=True)
        y = lib.tensor(target if batched else target[0])
        weight = lib.tensor(class_weight, requires_grad=True) if weighted else None
        out = lib.nn.functional.linear_cross_entropy(
            x,
            lib.tensor(head, requires_grad=True),
            y,
            weight=weight,
            reduction=reduction,
            options=lib.nn.LinearCrossEntropyOptions(),
        )
        names.append(out.grad_fn.name())
    assert names[1] == names[0]
