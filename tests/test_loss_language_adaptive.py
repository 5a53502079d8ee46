"""AdaptiveLogSoftmaxWithLoss against torch with copied weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lossgrad as lg
from lossgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(1717)


def _pair(in_features=16, n_classes=20, cutoffs=(5, 12), div_value=2.0, head_bias=False,
          dtype="float64"):
    t_module = torch.nn.AdaptiveLogSoftmaxWithLoss(
        in_features, n_classes, list(cutoffs), div_value=div_value, head_bias=head_bias,
        dtype=getattr(torch, dtype),
    )
    l_module = lg.nn.AdaptiveLogSoftmaxWithLoss(
        in_features, n_classes, list(cutoffs), div_value=div_value, head_bias=head_bias,
        dtype=getattr(lg, dtype),
    )
    t_params = dict(t_module.named_parameters())
    l_params = dict(l_module.named_parameters())
    assert sorted(t_params) == sorted(l_params)
    for name, param in t_params.items():
        l_params[name].data = lg.tensor(param.detach().numpy().copy())
    return t_module, l_module, t_params, l_params


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("head_bias", [False, True])
@pytest.mark.parametrize("cutoffs, div_value", [((5, 12), 2.0), ((3,), 4.0), ((2, 8, 15), 1.5)])
def test_forward_backward_match_torch(dtype, head_bias, cutoffs, div_value):
    t_module, l_module, t_params, l_params = _pair(
        cutoffs=cutoffs, div_value=div_value, head_bias=head_bias, dtype=dtype
    )
    assert repr(l_module) == repr(t_module)
    input = RNG.standard_normal((11, 16)).astype(dtype)
    target = RNG.integers(0, 20, 11)
    target[:2] = [0, 19]
    t_input = torch.tensor(input, requires_grad=True)
    l_input = lg.tensor(input, requires_grad=True)
    expected = t_module(t_input, torch.tensor(target))
    got = l_module(l_input, lg.tensor(target))
    assert type(got).__name__ == "_ASMoutput" and got._fields == ("output", "loss")
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(got.output.detach().numpy(), expected.output.detach().numpy(),
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(got.loss.item(), expected.loss.item(), rtol=tol)
    expected.loss.backward()
    got.loss.backward()
    np.testing.assert_allclose(l_input.grad.numpy(), t_input.grad.numpy(), rtol=tol, atol=tol)
    for name, param in t_params.items():
        if param.grad is None:  # a cluster without targets in this batch
            assert l_params[name].grad is None
            continue
        np.testing.assert_allclose(l_params[name].grad.numpy(), param.grad.numpy(),
                                   rtol=tol, atol=tol, err_msg=name)
    np.testing.assert_allclose(l_module.log_prob(l_input).detach().numpy(),
                               t_module.log_prob(t_input).detach().numpy(), rtol=tol, atol=tol)


def test_unbatched_and_single_row():
    t_module, l_module, _, _ = _pair()
    input = RNG.standard_normal(16)
    for target in (3, 17):
        expected = t_module(torch.tensor(input), torch.tensor(target))
        got = l_module(lg.tensor(input), lg.tensor(target))
        assert tuple(got.output.shape) == tuple(expected.output.shape) == ()
        np.testing.assert_allclose(got.output.item(), expected.output.item(), rtol=1e-12)
    expected = t_module(torch.tensor(input[None]), torch.tensor([17]))
    got = l_module(lg.tensor(input[None]), lg.tensor([17]))
    np.testing.assert_allclose(got.output.detach().numpy(), expected.output.detach().numpy(),
                               rtol=1e-12)
    assert tuple(got.output.shape) == tuple(expected.output.shape)


@pytest.mark.parametrize(
    "target", [[0, 1, 2, 3], [0, 6, 13, 19], [7, 8, 9, 10]], ids=["shortlist", "mixed", "tail"]
)
def test_result_nodes_are_torchs(target):
    """torch adds the head's log-probabilities to the clusters' in place: the output's node is
    ``AddBackward0`` whichever rows are in a cluster; the loss's ``MeanBackward0``; an unbatched
    output's ``SqueezeBackward1``."""
    t_module, l_module, _, _ = _pair()
    input = RNG.standard_normal((4, 16))
    expected = t_module(torch.tensor(input, requires_grad=True), torch.tensor(target))
    got = l_module(lg.tensor(input, requires_grad=True), lg.tensor(target))
    assert got.output.grad_fn.name() == expected.output.grad_fn.name() == "AddBackward0"
    assert got.loss.grad_fn.name() == expected.loss.grad_fn.name()
    expected = t_module(torch.tensor(input[0], requires_grad=True), torch.tensor(target[0]))
    got = l_module(lg.tensor(input[0], requires_grad=True), lg.tensor(target[0]))
    assert got.output.grad_fn.name() == expected.output.grad_fn.name()


def test_predict_matches_torch_with_rows_in_clusters():
    t_module, l_module, t_params, l_params = _pair()
    head = RNG.standard_normal((7, 16))
    head[5:] *= 4  # make the head prefer the clusters for some rows
    for params, lib in ((t_params, torch), (l_params, lg)):
        params["head.weight"].data = lib.tensor(head.copy())
    input = RNG.standard_normal((40, 16))
    expected = t_module.predict(torch.tensor(input)).numpy()
    got = l_module.predict(lg.tensor(input)).numpy()
    assert (expected >= 5).any() and (expected < 5).any()
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        got, t_module.log_prob(torch.tensor(input)).argmax(1).numpy()
    )


def test_second_derivatives_match_torch():
    t_module, l_module, t_params, l_params = _pair()
    input = RNG.standard_normal((6, 16))
    target = np.array([0, 6, 13, 19, 4, 12])
    t_input = torch.tensor(input, requires_grad=True)
    l_input = lg.tensor(input, requires_grad=True)
    t_grad = torch.autograd.grad(t_module(t_input, torch.tensor(target)).loss, t_input,
                                 create_graph=True)[0]
    l_grad = lg.autograd.grad(l_module(l_input, lg.tensor(target)).loss, l_input,
                              create_graph=True)[0]
    probe = RNG.standard_normal(input.shape)
    names = sorted(t_params)
    t_second = torch.autograd.grad((t_grad * torch.tensor(probe)).sum(),
                                   [t_input] + [t_params[n] for n in names])
    l_second = lg.autograd.grad((l_grad * lg.tensor(probe)).sum(),
                                [l_input] + [l_params[n] for n in names])
    for expected, got in zip(t_second, l_second):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)
    target_tensor = lg.tensor(target)
    x = lg.tensor(input[:3], requires_grad=True)

    def loss(x):
        return l_module(x, target_tensor[:3]).loss

    assert gradcheck(loss, (x,))
    assert gradgradcheck(loss, (x,))


@pytest.mark.parametrize(
    "args",
    [((16, 20, []),), ((16, 20, [5, 3]),), ((16, 20, [0, 5]),), ((16, 20, [5, 20]),),
     ((16, 20, [5, 5]),), ((16, 20, [2.5]),)],
)
def test_bad_cutoffs_raise_like_torch(args):
    with pytest.raises(ValueError) as expected:
        torch.nn.AdaptiveLogSoftmaxWithLoss(*args[0])
    with pytest.raises(ValueError) as got:
        lg.nn.AdaptiveLogSoftmaxWithLoss(*args[0])
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize(
    "input_shape, target",
    [((4, 16), [1, 2, 3]), ((2, 2, 16), [1, 2]), ((4, 16), 3), ((16,), [[1]]),
     ((3, 16), [1, 25, 2]), ((3, 16), [1, -1, 2])],
)
def test_bad_inputs_raise_like_torch(input_shape, target):
    t_module, l_module, _, _ = _pair()
    messages = []
    for module, lib in ((t_module, torch), (l_module, lg)):
        with pytest.raises(RuntimeError) as info:
            module(lib.zeros(*input_shape, dtype=lib.float64), lib.tensor(target))
        messages.append(str(info.value))
    assert messages[0] == messages[1]
