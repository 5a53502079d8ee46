"""Parity of the reductions with torch: dim/keepdim forms, ties, empty inputs, errors."""

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check, check_raises

rng = np.random.default_rng(1)


def rand(*shape, dtype=np.float64, low=-2.0, high=2.0):
    return np.asarray(rng.uniform(low, high, shape), dtype=dtype)


REDUCTIONS = {
    "sum": lambda lib, x, d, k: x.sum(d, keepdim=k) if d is not None else x.sum(),
    "mean": lambda lib, x, d, k: lib.mean(x, d, keepdim=k) if d is not None else x.mean(),
    "amax": lambda lib, x, d, k: lib.amax(x, d, keepdim=k) if d is not None else x.amax(),
    "amin": lambda lib, x, d, k: x.amin(d, k) if d is not None else lib.amin(x),
    "logsumexp": lambda lib, x, d, k: lib.logsumexp(
        x, d if d is not None else (0, 1, 2), keepdim=k
    ),
    "norm": lambda lib, x, d, k: x.norm(dim=d, keepdim=k),
    "norm_p1": lambda lib, x, d, k: lib.norm(x, 1, d, k),
    "norm_p3": lambda lib, x, d, k: x.norm(p=3, dim=d, keepdim=k),
    "norm_inf": lambda lib, x, d, k: x.norm(p=float("inf"), dim=d, keepdim=k),
    "norm_ninf": lambda lib, x, d, k: x.norm(p=float("-inf"), dim=d, keepdim=k),
    "var": lambda lib, x, d, k: x.var(d, keepdim=k) if d is not None else x.var(),
    "var_biased": lambda lib, x, d, k: lib.var(x, d, unbiased=False, keepdim=k),
    "var_correction": lambda lib, x, d, k: x.var(d, keepdim=k, correction=2),
    "std": lambda lib, x, d, k: x.std(d, keepdim=k) if d is not None else x.std(),
    "std_biased": lambda lib, x, d, k: lib.std(x, d, correction=0, keepdim=k),
}

SOFTMAX = {
    "softmax": lambda lib, x, d: lib.softmax(x, d),
    "log_softmax": lambda lib, x, d: x.log_softmax(d),
    "F_softmax": lambda lib, x, d: lib.nn.functional.softmax(x, dim=d),
    "F_log_softmax": lambda lib, x, d: lib.nn.functional.log_softmax(x, d),
}

DIMS = [None, 0, -1, (0, 2), (2, 0, 1), [1]]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_float64(name, dim, keepdim):
    check(lambda lib, x: REDUCTIONS[name](lib, x, dim, keepdim), [rand(2, 3, 4)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", sorted(SOFTMAX))
def test_softmax(name, dim, dtype):
    check(lambda lib, x: SOFTMAX[name](lib, x, dim), [rand(2, 3, 4, dtype=dtype)])


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_float32(name):
    check(lambda lib, x: REDUCTIONS[name](lib, x, 1, False), [rand(3, 4, 2, dtype=np.float32)])


ONE_DIM = {
    "prod": lambda lib, x, d, k: x.prod(d, keepdim=k) if d is not None else x.prod(),
    "max": lambda lib, x, d, k: x.max(d, keepdim=k) if d is not None else x.max(),
    "min": lambda lib, x, d, k: lib.min(x, d, k) if d is not None else lib.min(x),
    "max_values": lambda lib, x, d, k: (
        lib.max(x, dim=d, keepdim=k).values if d is not None else x.max()
    ),
    "min_indices": lambda lib, x, d, k: x.min(dim=d, keepdim=k)[1] if d is not None else x.argmin(),
    "argmax": lambda lib, x, d, k: x.argmax(d, keepdim=k),
    "argmin": lambda lib, x, d, k: lib.argmin(x, dim=d, keepdim=k),
    "cumsum": lambda lib, x, d, k: x.cumsum(d if d is not None else 0),
}


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("name", sorted(ONE_DIM))
def test_single_dim_reduction(name, dim, keepdim):
    x = rand(3, 4, 2)
    check(lambda lib, a: ONE_DIM[name](lib, a, dim, keepdim), [x])
    check(lambda lib, a: ONE_DIM[name](lib, a, dim, keepdim), [x[0, :, 0].copy()])


def test_max_min_return_named_tuples():
    x = rand(3, 4)
    out = check(lambda lib, a: lib.max(a, 1), [x])
    assert out.values.shape == (3,) and out.indices.dtype == lossgrad.int64
    out = check(lambda lib, a: a.sort(0), [x])
    assert hasattr(out, "values") and hasattr(out, "indices")


def test_zero_dim_input():
    x = np.array(1.5)
    for fn in (
        lambda lib, a: a.sum(),
        lambda lib, a: a.sum(0),
        lambda lib, a: a.mean(-1),
        lambda lib, a: a.max(0),
        lambda lib, a: a.amax(0),
        lambda lib, a: a.prod(0),
        lambda lib, a: a.logsumexp(0),
        lambda lib, a: a.softmax(0),
        lambda lib, a: a.log_softmax(0),
        lambda lib, a: a.norm(),
        lambda lib, a: a.argmax(0),
        lambda lib, a: a.cumsum(0),
        lambda lib, a: a.sum(0, keepdim=True),
    ):
        check(fn, [x])


def test_integer_and_bool_reductions():
    i = rng.integers(-5, 5, (3, 4))
    b = i > 0
    for fn in (
        lambda lib, a: a.sum(),
        lambda lib, a: a.sum(1),
        lambda lib, a: a.prod(0),
        lambda lib, a: a.amax(1),
        lambda lib, a: a.max(),
        lambda lib, a: a.max(1),
        lambda lib, a: a.argmax(),
        lambda lib, a: a.cumsum(1),
        lambda lib, a: a.sum(dtype=lib.float64),
        lambda lib, a: a.mean(dtype=lib.float32),
    ):
        check(fn, [i], grad=())
        check(fn, [b], grad=())
    check(lambda lib, a: (lib.any(a), lib.all(a), a.any(1), a.all(0, keepdim=True)), [b], grad=())
    check(lambda lib, a: (a.any(), a.all(1)), [i], grad=())
    check(lambda lib, a: (a.any(), a.all(1)), [rand(3, 2)], grad=())
    check(lambda lib, a: lib.count_nonzero(a, 1), [i], grad=())


def test_mean_of_integers_raises():
    check_raises(lambda lib, a: a.mean(), [rng.integers(0, 5, (3,))])


def test_sum_with_dtype():
    check(lambda lib, a: a.sum(1, dtype=lib.float64), [rand(3, 4, dtype=np.float32)])
    check(lambda lib, a: a.sum(dtype=lib.float32), [rand(3, 4)])
    check(lambda lib, a: a.mean(0, dtype=lib.float64), [rand(3, 4, dtype=np.float32)])


def test_ties_split_evenly_for_all_reduce_max_and_amax():
    x = np.array([[1.0, 3.0, 3.0], [3.0, 0.0, -1.0]])
    for fn in (
        lambda lib, a: a.max(),
        lambda lib, a: a.min(),
        lambda lib, a: a.amax(),
        lambda lib, a: a.amax(1),
        lambda lib, a: a.amin(0),
        lambda lib, a: a.amax((0, 1)),
        lambda lib, a: a.norm(p=float("inf")),
        lambda lib, a: a.norm(p=float("inf"), dim=1),
    ):
        check(fn, [x])


def test_max_with_dim_sends_gradient_to_the_index_torch_picks():
    x = np.array([[1.0, 3.0, 3.0], [3.0, 0.0, 3.0]])
    check(lambda lib, a: a.max(1), [x])
    check(lambda lib, a: a.min(0), [-x])
    check(lambda lib, a: (a.argmax(1), a.argmin(0), a.argmax()), [x], grad=())


def test_nan_propagates_in_max_and_argmax():
    x = np.array([[1.0, np.nan, 3.0], [3.0, 0.0, 2.0]])
    check(lambda lib, a: (*a.max(1), a.argmax(1), a.amax(1), a.max()), [x], grad=())
    check(lambda lib, a: (*a.min(1), a.argmin(1), a.amin(0), a.min()), [x], grad=())


def test_norm_gradient_at_zero():
    x = np.zeros((2, 3))
    x[1] = [1.0, -2.0, 2.0]
    for fn in (
        lambda lib, a: a.norm(dim=1),
        lambda lib, a: a.norm(),
        lambda lib, a: a.norm(p=1, dim=1),
        lambda lib, a: lib.norm(a, 3, dim=1),
    ):
        check(fn, [x])


def test_prod_with_zeros():
    x = np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, 2.0, -1.0]])
    check(lambda lib, a: a.prod(1), [x])
    check(lambda lib, a: a.prod(0, keepdim=True), [x])
    check(lambda lib, a: a.prod(), [x])
    check(lambda lib, a: a.prod(), [x[2].copy()])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape, dim, keepdim", [((700, 1000), 1, False), ((3, 400, 300), -1, True)]
)
def test_logsumexp_blocks_of_rows_match_torch(shape, dim, keepdim, dtype):
    """Over the last axis of a large array lossgrad runs in blocks of rows: torch's values and
    gradients, rows of infinities included, and the one-pass formula's values bit for bit."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(shape) * 30).astype(dtype)
    x.reshape(-1, shape[-1])[:3] = [[np.inf], [-np.inf], [np.nan]]
    ours, theirs = lossgrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got, expected = ours.logsumexp(dim, keepdim), theirs.logsumexp(dim, keepdim)
    upstream = rng.standard_normal(tuple(expected.shape)).astype(dtype)
    (grad,) = lossgrad.autograd.grad(got, ours, lossgrad.tensor(upstream))
    (t_grad,) = torch.autograd.grad(expected, theirs, torch.tensor(upstream))
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=tol)
    # exp(x - lse) carries lse's rounding (|lse| ~ 100 here) as its relative error
    np.testing.assert_allclose(grad.numpy(), t_grad.numpy(), rtol=30 * tol, atol=tol)
    with np.errstate(invalid="ignore", divide="ignore"):
        row_max = x.max(axis=dim, keepdims=True)
        row_max[~np.isfinite(row_max)] = 0
        one_pass = np.log(np.exp(x - row_max).sum(axis=dim, keepdims=True)) + row_max
    np.testing.assert_array_equal(got.detach().numpy(), one_pass if keepdim else one_pass[..., 0])


def test_logsumexp_stability():
    x = np.array([[1e4, 1e4 + 1.0, -1e4], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0]])
    check(lambda lib, a: a.logsumexp(1), [x[:1].copy()])
    check(lambda lib, a: a.logsumexp(1), [x], grad=())
    check(lambda lib, a: lib.softmax(a, 1), [x[:1].copy()])
    check(lambda lib, a: lib.log_softmax(a, 1), [x[:1].copy()])


def test_softmax_implicit_dim_warns_like_torch():
    for shape in [(3,), (2, 3), (2, 3, 4), (2, 2, 2, 2)]:
        check(lambda lib, a: lib.nn.functional.softmax(a), [rand(*shape)])
        check(lambda lib, a: lib.nn.functional.log_softmax(a), [rand(*shape)])


def test_softmax_dtype_and_integer_inputs():
    check(lambda lib, a: lib.softmax(a, 1, dtype=lib.float64), [rand(2, 3, dtype=np.float32)])
    check(lambda lib, a: a.log_softmax(1, dtype=lib.float64), [rand(2, 3, dtype=np.float32)])
    check_raises(lambda lib, a: lib.softmax(a, 0), [rng.integers(0, 5, (3,))])


def test_empty_reductions():
    e = np.zeros((0, 3))
    check(lambda lib, a: (a.sum(), a.sum(0), a.prod(0)), [e])
    check(lambda lib, a: a.mean(0), [e])
    check(lambda lib, a: a.amax(1), [e])
    check_raises(lambda lib, a: a.amax(), [e])
    check_raises(lambda lib, a: a.max(), [e])
    check_raises(lambda lib, a: a.max(0), [e])
    check_raises(lambda lib, a: a.argmax(), [e])


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, a: a.sum(3),
        lambda lib, a: a.mean(-4),
        lambda lib, a: a.amax((0, 5)),
        lambda lib, a: a.max(3),
        lambda lib, a: a.argmax(3),
        lambda lib, a: a.logsumexp(3),
        lambda lib, a: a.softmax(3),
        lambda lib, a: a.log_softmax(-4),
        lambda lib, a: a.var(3),
        lambda lib, a: a.norm(dim=3),
        lambda lib, a: a.prod(3),
        lambda lib, a: a.cumsum(3),
        lambda lib, a: a.any(3),
        lambda lib, a: a.std(-5),
    ],
)
def test_dim_out_of_range_is_index_error(fn):
    err = check_raises(fn, [rand(2, 3, 4)])
    assert isinstance(err, IndexError)


def test_repeated_dim_raises():
    check_raises(lambda lib, a: a.sum((0, 0)), [rand(2, 3)])
    check_raises(lambda lib, a: a.amax((1, -1)), [rand(2, 3)])


def test_var_std_edge_cases():
    check(lambda lib, a: a.var(), [rand(1)])
    check(lambda lib, a: a.std(0), [rand(1, 3)])
    check(lambda lib, a: a.var(0, correction=3), [rand(2, 3)])
    check(lambda lib, a: lib.var(a, 1, True), [rand(2, 3)])
    check(lambda lib, a: lib.std(a, 1, False, True), [rand(2, 3)])
    check(lambda lib, a: a.std(), [np.full((3,), 2.0)])


def test_grad_fn_names():
    x = lossgrad.tensor(rand(2, 3), requires_grad=True)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    for fn in (
        lambda t: t.sum(),
        lambda t: t.sum(1),
        lambda t: t.mean(),
        lambda t: t.mean(0),
        lambda t: t.amax(1),
        lambda t: t.max(),
        lambda t: t.max(1)[0],
        lambda t: t.prod(),
        lambda t: t.prod(1),
        lambda t: t.logsumexp(1),
        lambda t: t.softmax(1),
        lambda t: t.log_softmax(1),
        lambda t: t.norm(),
        lambda t: t.cumsum(0),
    ):
        assert fn(x).grad_fn.name() == fn(tx).grad_fn.name(), fn(tx).grad_fn.name()


GRADCHECK = [
    lambda a: a.sum(1) * a.mean(0, keepdim=True).sum(),
    lambda a: a.prod(1) + a.prod(),
    lambda a: a.amax(1).sum() - a.max(0).values.sum() + a.min(),
    lambda a: a.logsumexp(0) * a.norm(dim=1).sum() + a.norm(p=3),
    lambda a: a.var(1) + a.std(0).sum() + a.var(),
    lambda a: a.softmax(1) * a.log_softmax(0),
    lambda a: a.cumsum(1) * a,
]


@pytest.mark.parametrize("k", range(len(GRADCHECK)))
def test_gradcheck(k):
    x = np.linspace(-1.5, 1.8, 12)
    rng.shuffle(x)  # distinct values: no ties in max/min
    a = lossgrad.tensor(x.reshape(3, 4), requires_grad=True)
    assert gradcheck(GRADCHECK[k], (a,))
    assert gradgradcheck(GRADCHECK[k], (a,))


@pytest.mark.parametrize("size", [7, 5000])
def test_full_reduction_gradients_small_and_large(size):
    """A full sum's or mean's gradient is a filled array on small inputs and a broadcast view on
    large ones: both give torch's gradients, into a leaf and through a further node, and the
    leaf's ``.grad`` can be written in place."""
    a = np.random.default_rng(3).standard_normal(size)
    grads = []
    for lib in (lossgrad, torch):
        x = lib.tensor(a, requires_grad=True)
        (x.sum() * 2.0 + (x * x).mean()).backward()
        x.grad.mul_(3.0)
        x.sum().backward()
        grads.append(x.grad.numpy().copy() if lib is lossgrad else x.grad.detach().numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_blocks_of_rows_match_torch(dtype):
    """Over the last axis of a large array log_softmax runs in blocks of rows: torch's values
    and gradients (first and second order), rows of infinities and NaN included."""
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((700, 300)) * 30).astype(dtype)
    x[:4] = [[np.inf], [-np.inf], [np.nan], [0.0]]
    x[4, 7] = -np.inf
    ours, theirs = lossgrad.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got, expected = lossgrad.log_softmax(ours, -1), torch.log_softmax(theirs, -1)
    upstream = rng.standard_normal(x.shape).astype(dtype)
    (grad,) = lossgrad.autograd.grad(got, ours, lossgrad.tensor(upstream), create_graph=True)
    (t_grad,) = torch.autograd.grad(expected, theirs, torch.tensor(upstream), create_graph=True)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(
        grad.detach().numpy(), t_grad.detach().numpy(), rtol=30 * tol, atol=tol
    )
    (second,) = lossgrad.autograd.grad(grad.sum(), ours)
    (t_second,) = torch.autograd.grad(t_grad.sum(), theirs)
    np.testing.assert_allclose(second.numpy(), t_second.numpy(), rtol=30 * tol, atol=30 * tol)
