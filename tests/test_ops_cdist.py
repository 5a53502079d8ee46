"""lossgrad.cdist against torch.cdist: every p, every compute_mode, batches, gradients at zero
distance, second derivatives (torch on the matrix-product path, finite differences elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import assert_close, check, check_raises

MODES = (
    "use_mm_for_euclid_dist_if_necessary",
    "use_mm_for_euclid_dist",
    "donot_use_mm_for_euclid_dist",
)
PS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, float("inf"))


def _pair(rows1: int, rows2: int, width: int, dtype: type, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((rows1, width)).astype(dtype),
        rng.standard_normal((rows2, width)).astype(dtype),
    )


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rows", (5, 30))
@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_values_and_gradients_match_torch(p, mode, rows, dtype):
    x1, x2 = _pair(rows, 7, 4, dtype)
    # torch raises for the second derivative off the matrix-product path
    mm = p == 2 and (mode == MODES[1] or (mode == MODES[0] and rows > 25))
    check(lambda lib, a, b: lib.cdist(a, b, p, mode), [x1, x2], grad=(0, 1), second_order=mm)


@pytest.mark.parametrize("p", (1.0, 2.0, 3.0, float("inf")))
@pytest.mark.parametrize("mode", (MODES[1], MODES[2]))
def test_batched_broadcast(p, mode):
    rng = np.random.default_rng(1)
    x1 = rng.standard_normal((2, 1, 5, 3))
    x2 = rng.standard_normal((3, 6, 3))
    check(lambda lib, a, b: lib.cdist(a, b, p, mode), [x1, x2], grad=(0, 1), second_order=False)


@pytest.mark.parametrize("p", PS)
def test_zero_distance_gradient_is_torch_subgradient(p):
    """Equal rows (distance 0) and rows equal in some coordinates (u == 0 for p < 1)."""
    x1, x2 = _pair(4, 5, 3, np.float64, seed=2)
    x2[0] = x1[0]
    x2[1, :2] = x1[1, :2]
    x2[2, 0] = x1[3, 0]
    check(
        lambda lib, a, b: lib.cdist(a, b, p, MODES[2]),
        [x1, x2],
        grad=(0, 1),
        second_order=False,
        atol=0.0,
        rtol=1e-12,
    )


def test_zero_distance_on_the_matrix_product_path():
    """Self-distances: torch's clamp at 0 and its masked ratio; the rounding residue of the
    product can differ from torch's BLAS, so compare at sqrt(eps) on the value."""
    x = np.random.default_rng(3).standard_normal((30, 4))
    x[1] = x[0]
    lg_x = lossgrad.tensor(x, requires_grad=True)
    th_x = torch.tensor(x, requires_grad=True)
    lg_d, th_d = lossgrad.cdist(lg_x, lg_x), torch.cdist(th_x, th_x)
    assert_close(lg_d, th_d, 1e-7, 1e-7, "value")
    weights = np.random.default_rng(4).standard_normal((30, 30))
    np.fill_diagonal(weights, 0.0)  # the diagonal's gradient depends on the residue's rounding
    weights[0, 1] = weights[1, 0] = 0.0
    (lg_g,) = lossgrad.autograd.grad(lg_d, lg_x, lossgrad.tensor(weights))
    (th_g,) = torch.autograd.grad(th_d, th_x, torch.tensor(weights))
    assert_close(lg_g, th_g, 1e-7, 1e-9, "gradient")


@pytest.mark.parametrize(
    ("p", "mode"),
    [(2.0, MODES[1])] + [(p, MODES[2]) for p in (0.5, 1.0, 1.5, 2.0, 3.0, float("inf"))],
)
def test_gradgradcheck(p, mode):
    x1, x2 = _pair(3, 4, 3, np.float64, seed=5)
    a = lossgrad.tensor(x1, requires_grad=True)
    b = lossgrad.tensor(x2, requires_grad=True)
    assert gradcheck(lambda u, v: lossgrad.cdist(u, v, p, mode), (a, b))
    assert gradgradcheck(lambda u, v: lossgrad.cdist(u, v, p, mode), (a, b))


@pytest.mark.parametrize(
    "args",
    [
        (np.zeros(3), np.zeros((2, 3)), 2.0, MODES[0]),
        (np.zeros((2, 3)), np.zeros((2, 4)), 2.0, MODES[0]),
        (np.zeros((2, 3)), np.zeros((2, 3)), -1.0, MODES[0]),
        (np.zeros((2, 3), np.int64), np.zeros((2, 3), np.int64), 2.0, MODES[0]),
        (np.zeros((2, 3)), np.zeros((2, 3), np.float32), 2.0, MODES[0]),
        (np.zeros((2, 3)), np.zeros((2, 3)), 2.0, "fast"),
    ],
)
def test_errors_match_torch(args):
    err = check_raises(lambda lib, a, b, p, m: lib.cdist(a, b, p, m), list(args))
    torch_err = None
    try:
        torch.cdist(torch.tensor(args[0]), torch.tensor(args[1]), args[2], args[3])
    except Exception as e:  # noqa: BLE001
        torch_err = e
    assert str(err) == str(torch_err)


def test_empty_inputs():
    check(
        lambda lib, a, b: lib.cdist(a, b),
        [np.zeros((3, 0)), np.zeros((2, 0))],
        grad=(0, 1),
        second_order=False,
    )
    check(
        lambda lib, a, b: lib.cdist(a, b),
        [np.zeros((0, 4)), np.ones((2, 4))],
        grad=(0, 1),
        second_order=False,
    )
