"""torch.logcumsumexp parity: values, gradients, second derivatives, extremes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lossgrad as lg
from lossgrad.autograd import gradgradcheck

rng = np.random.default_rng(3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_values_and_gradients_match_torch(dim, dtype):
    x = (rng.normal(size=(4, 6)) * 10).astype(dtype)
    upstream = rng.normal(size=(4, 6)).astype(dtype)
    ours, theirs = lg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_ours, out_theirs = lg.logcumsumexp(ours, dim), torch.logcumsumexp(theirs, dim)
    (out_ours * lg.tensor(upstream)).sum().backward()
    (out_theirs * torch.tensor(upstream)).sum().backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out_ours.detach().numpy(), out_theirs.detach().numpy(), rtol=tol)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=tol * 10, atol=tol)


def test_hessian_matches_torch():
    x, g = rng.normal(size=5), rng.normal(size=5)
    hessians = []
    for lib in (lg, torch):
        t = lib.tensor(x, requires_grad=True)
        (grad,) = lib.autograd.grad(
            (lib.logcumsumexp(t, 0) * lib.tensor(g)).sum(), t, create_graph=True
        )
        hessians.append(
            np.array(
                [
                    lib.autograd.grad(grad[j], t, retain_graph=True)[0].detach().numpy()
                    for j in range(5)
                ]
            )
        )
    np.testing.assert_allclose(hessians[0], hessians[1], atol=1e-12)
    assert gradgradcheck(
        lambda t: (lg.logcumsumexp(t, 0) * lg.tensor(g)).sum(), (lg.tensor(x, requires_grad=True),)
    )


def test_extremes_are_exact():
    out = lg.logcumsumexp(lg.tensor([-np.inf, 0.0, 1000.0, -1000.0], dtype=lg.float64), 0)
    np.testing.assert_array_equal(
        out.numpy(), torch.logcumsumexp(torch.tensor([-np.inf, 0.0, 1000.0, -1000.0]), 0).numpy()
    )


def test_integer_input_raises_like_torch():
    with pytest.raises(RuntimeError, match="logcumsumexp"):
        lg.logcumsumexp(lg.tensor([1, 2, 3]), 0)
    with pytest.raises(RuntimeError):
        torch.logcumsumexp(torch.tensor([1, 2, 3]), 0)
