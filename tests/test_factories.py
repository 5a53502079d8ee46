"""Factories against torch: dtype inference, values (bit for bit), errors and warnings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lossgrad
from parity import check_code

# Expressions evaluated with ``t`` = torch, then lossgrad; results compared exactly.
EXPRESSIONS = [
    # tensor(): dtype inference
    "t.tensor([1, 2.5])",
    "t.tensor(3)",
    "t.tensor(True)",
    "t.tensor([True, False])",
    "t.tensor([True, 2])",
    "t.tensor([True, 2.5])",
    "t.tensor(np.float64(1.5))",
    "t.tensor([np.float64(1.5)])",
    "t.tensor([1.5, np.float64(2)])",
    "t.tensor([np.float32(1.), 2.])",
    "t.tensor([np.int32(1), 2])",
    "t.tensor([np.int32(1), 2.5])",
    "t.tensor(np.float32(2.5))",
    "t.tensor(np.float16(1))",
    "t.tensor([np.bool_(True)])",
    "t.tensor(np.array(2.5))",
    "t.tensor(np.array([1, 2], np.int32))",
    "t.tensor(np.array([1, 2], np.uint8))",
    "t.tensor([[1, 2], [3, 4.]])",
    "t.tensor([])",
    "t.tensor([[]])",
    "t.tensor([[], []])",
    "t.tensor((1, 2))",
    "t.tensor(range(3))",
    "t.tensor([t.tensor(1.), t.tensor(2.)])",
    "t.tensor([t.tensor(1, dtype=t.int32), 2])",
    "t.tensor([t.tensor([1.5])])",
    "t.tensor([[t.tensor(1.)]])",
    "t.tensor([-2**63])",
    "t.tensor(1e40)",
    "t.tensor([1, 2], dtype=t.float16)",
    "t.tensor(3, dtype=t.float64)",
    "t.tensor([1.5, 2.5], dtype=t.int64)",
    "t.tensor(np.array([1.5, -2.5]), dtype=t.int32)",
    "t.tensor(np.array([1, 2], np.int64), dtype=t.float32)",
    "t.tensor([1., 2.], dtype=t.float64, requires_grad=True)",
    # errors of tensor()
    "t.tensor([1, 2], requires_grad=True)",
    "t.tensor([[1, 2], [3]])",
    "t.tensor([[1], [2, 3]])",
    "t.tensor([[[1], [2]], [[3], [4, 5]]])",
    "t.tensor([[1, 2], 3])",
    "t.tensor([1, [2]])",
    "t.tensor('a')",
    "t.tensor(['a'])",
    "t.tensor(object())",
    "t.tensor(None)",
    "t.tensor([1, None])",
    "t.tensor(2**63)",
    "t.tensor([2**63])",
    "t.tensor(-2**63 - 1)",
    "t.tensor([t.tensor([1, 2]), t.tensor([3, 4])])",
    "t.tensor([300], dtype=t.uint8)",
    "t.tensor([float('nan')], dtype=t.int64)",
    # as_tensor / from_numpy
    "t.as_tensor([1, 2])",
    "t.as_tensor(np.array([1., 2.]))",
    "t.as_tensor([1., 2.], dtype=t.float64)",
    "t.from_numpy(np.array([1, 2], np.int16))",
    "t.from_numpy([1])",
    # filled
    "t.zeros(2, 3)",
    "t.zeros((2, 3))",
    "t.zeros([2, 3], dtype=t.int32)",
    "t.zeros(2, 3, dtype=t.long)",
    "t.zeros(t.Size([2, 3]))",
    "t.zeros(0, 3)",
    "t.ones(3, requires_grad=True)",
    "t.ones(3, dtype=t.float64)",
    "t.empty(2, 3).shape",
    "t.full((2, 2), 3)",
    "t.full((2, 2), 3.)",
    "t.full((2, 2), True)",
    "t.full((2, 2), 3, dtype=t.float32)",
    "t.full([2], 1.5)",
    "t.full((2,), t.tensor(3))",
    "t.full((2,), t.tensor(3.5))",
    "t.zeros_like(t.tensor([1, 2]))",
    "t.zeros_like(t.zeros(2), dtype=t.int64)",
    "t.ones_like(t.tensor([1., 2.]), dtype=t.float64)",
    "t.full_like(t.tensor([1, 2]), 2.7)",
    "t.full_like(t.tensor([1., 2.]), 7)",
    "t.empty_like(t.tensor([1., 2.])).shape",
    "t.ones_like(t.tensor([1., 2.]), requires_grad=True)",
    # errors of the filled factories
    "t.zeros(-1)",
    "t.zeros(2, -3)",
    "t.zeros()",
    "t.ones(-1)",
    "t.full((-1,), 1.)",
    "t.empty(-1)",
    "t.ones(2.5)",
    "t.ones(3, dtype=t.int64, requires_grad=True)",
    # ranges
    "t.arange(5)",
    "t.arange(1, 4)",
    "t.arange(10, 0, -3)",
    "t.arange(5, 5)",
    "t.arange(0., 5)",
    "t.arange(5, dtype=t.float32)",
    "t.arange(10, dtype=t.uint8)",
    "t.arange(t.tensor(3))",
    "t.arange(0, 1, 0.1)",
    "t.arange(0, 1, 0.1, dtype=t.float64)",
    "t.arange(0, 1, 0.3, dtype=t.float64)",
    "t.arange(1, 2.5, 0.5)",
    "t.arange(-1.2, 3.7, 0.7)",
    "t.arange(-5, 5, 0.37)",
    "t.arange(-5, 5, 0.37, dtype=t.float64)",
    "t.arange(100, -3, -0.77)",
    "t.arange(0, 100.5, 1.1)",
    "t.arange(1.5, 7, 2, dtype=t.int64)",
    "t.arange(-2.5, 3, 1.5, dtype=t.int64)",
    "t.arange(0, 10, 0)",
    "t.arange(5, 0)",
    "t.arange(0, 3, 0.5, dtype=t.int64)",
    "t.arange(0, 3, -0.5, dtype=t.int64)",
    "t.linspace(0, 1, 5)",
    "t.linspace(0, 1, 1)",
    "t.linspace(0, 1, 0)",
    "t.linspace(0, 1, 2)",
    "t.linspace(5, 5, 3)",
    "t.linspace(0, 1, 7)",
    "t.linspace(0, 1, 7, dtype=t.float64)",
    "t.linspace(-3.3, 7.7, 100)",
    "t.linspace(-3.3, 7.7, 100, dtype=t.float64)",
    "t.linspace(-3.3, 7.7, 100, dtype=t.float16)",
    "t.linspace(2.7, -1.3, 33)",
    "t.linspace(0, 10, 4, dtype=t.int64)",
    "t.linspace(-5, 10, 9, dtype=t.int32)",
    "t.linspace(t.tensor(0.), t.tensor(1.), 3)",
    "t.linspace(0, 1, -1)",
    "t.eye(3)",
    "t.eye(2, 3)",
    "t.eye(3, dtype=t.int64)",
    "t.eye(2, 3, dtype=t.bool)",
    "t.eye(0)",
    "t.eye(-1)",
    # legacy constructors
    "t.FloatTensor([1, 2])",
    "t.DoubleTensor([1, 2])",
    "t.LongTensor([1.7, 2])",
    "t.FloatTensor(2, 3).shape",
    "t.LongTensor(3).shape",
    "isinstance(t.zeros(2), t.FloatTensor)",
    "isinstance(t.zeros(2), t.LongTensor)",
    "isinstance(t.zeros(2, dtype=t.long), t.LongTensor)",
    # random factories: dtypes, shapes, errors
    "t.randn(3).dtype",
    "t.rand(2, 3).shape",
    "t.rand((2, 3), dtype=t.float64).dtype",
    "t.randn(2, 3, requires_grad=True).requires_grad",
    "t.randint(5, (3,)).dtype",
    "t.randint(2, 5, (3,)).shape",
    "t.randint(0, 5, (3,), dtype=t.float32).dtype",
    "t.randint(3, 10, size=(2, 2)).shape",
    "t.randint(high=3, size=(2,)).dtype",
    "t.normal(0., 1., (2, 3)).shape",
    "t.normal(t.zeros(3), 1.).shape",
    "t.normal(t.zeros(3), t.ones(3)).dtype",
    "t.normal(0., t.ones(2, 2)).shape",
    "t.normal(0., 1., (2,), dtype=t.float64).dtype",
    "t.normal(t.zeros(2, dtype=t.float64), 1.).dtype",
    "t.randperm(5).dtype",
    "t.randperm(3, dtype=t.float32).dtype",
    "t.rand_like(t.zeros(2, dtype=t.float64)).dtype",
    "t.randn_like(t.zeros(2, 3)).shape",
    "t.randint_like(t.zeros(2), 5).dtype",
    "t.randint_like(t.zeros(2), 2, 5).dtype",
    "t.randn(2, dtype=t.int64)",
    "t.rand(2, dtype=t.int64)",
    "t.rand_like(t.zeros(2, dtype=t.int64))",
    "t.randint(5, 2, (3,))",
    "t.randint(3, (2,), dtype=t.bool)",
    "t.rand(-1)",
    "t.randn(-1)",
    "t.randint(3, (-1,))",
    "t.normal(t.zeros(3), -1.)",
    "t.Generator().initial_seed()",
    "t.manual_seed(3).initial_seed()",
    "t.Generator().manual_seed(5).initial_seed()",
    "t.rand(2, generator=t.Generator().manual_seed(0)).shape",
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_factory_matches_torch(expr: str) -> None:
    check_code(f"out = {expr}")


@pytest.mark.parametrize("expr", [
    "t.normal(0., 1.)",  # TypeError; torch lists the overloads on several lines
    "t.normal(t.zeros(2), t.ones(3))",
    "t.zeros((2, 'a'))",
])
def test_factory_error_class_matches_torch(expr: str) -> None:
    check_code(f"out = {expr}", message=False)


def test_copy_construct_warning() -> None:
    check_code("out = t.tensor(t.ones(2))")


def test_list_of_arrays_value() -> None:
    check_code("out = t.tensor([np.array([1, 2]), np.array([3, 4])])", warns=False)


def test_from_numpy_shares_memory() -> None:
    a = np.array([1.0, 2.0], np.float32)
    x = lossgrad.from_numpy(a)
    a[0] = 7.0
    assert x[0].item() == 7.0
    x.add_(1)
    np.testing.assert_array_equal(a, [8.0, 3.0])
    assert x.numpy() is a


def test_tensor_copies_and_as_tensor_shares() -> None:
    a = np.array([1.0, 2.0])
    x = lossgrad.tensor(a)
    y = lossgrad.as_tensor(a)
    z = lossgrad.as_tensor(a, dtype=lossgrad.float32)
    a[0] = 5.0
    assert x[0].item() == 1.0 and y[0].item() == 5.0 and z[0].item() == 1.0
    t = lossgrad.ones(2)
    assert lossgrad.as_tensor(t) is t


def test_arange_and_linspace_bit_for_bit_sweep() -> None:
    rng = np.random.default_rng(0)
    pairs = [(torch.float32, lossgrad.float32), (torch.float64, lossgrad.float64),
             (torch.float16, lossgrad.float16), (torch.int64, lossgrad.int64)]
    for _ in range(60):
        a, b = (float(v) for v in rng.uniform(-100, 100, 2))
        n = int(rng.integers(2, 300))
        step = float(rng.uniform(0.01, 3.0))
        for tdt, ldt in pairs:
            np.testing.assert_array_equal(
                lossgrad.linspace(a, b, n, dtype=ldt).numpy(),
                torch.linspace(a, b, n, dtype=tdt).numpy(),
                err_msg=f"linspace({a}, {b}, {n}, {tdt})",
            )
        for tdt, ldt in pairs[:2]:
            np.testing.assert_array_equal(
                lossgrad.arange(a, a + step * n, step, dtype=ldt).numpy(),
                torch.arange(a, a + step * n, step, dtype=tdt).numpy(),
                err_msg=f"arange({a}, {a + step * n}, {step}, {tdt})")


def test_manual_seed_reproduces_streams() -> None:
    lossgrad.manual_seed(123)
    a = (lossgrad.rand(5), lossgrad.randn(5), lossgrad.randint(0, 10, (5,)))
    lossgrad.manual_seed(123)
    b = (lossgrad.rand(5), lossgrad.randn(5), lossgrad.randint(0, 10, (5,)))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    g1, g2 = lossgrad.Generator().manual_seed(7), lossgrad.Generator().manual_seed(7)
    np.testing.assert_array_equal(lossgrad.rand(4, generator=g1).numpy(),
                                  lossgrad.rand(4, generator=g2).numpy())
    state = g1.get_state()
    x = lossgrad.randn(3, generator=g1)
    g1.set_state(state)
    np.testing.assert_array_equal(lossgrad.randn(3, generator=g1).numpy(), x.numpy())


def test_random_samples_lie_in_their_ranges() -> None:
    lossgrad.manual_seed(0)
    u = lossgrad.rand(10000).numpy()
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    n = lossgrad.normal(2.0, 3.0, (20000,)).numpy()
    assert abs(n.mean() - 2.0) < 0.1 and abs(n.std() - 3.0) < 0.1
    r = lossgrad.randint(-3, 4, (10000,)).numpy()
    assert set(np.unique(r)) == set(range(-3, 4))
    p = lossgrad.randperm(10).numpy()
    assert sorted(p) == list(range(10))


# In-place samplers and fills, compared with torch where the values are deterministic.
INPLACE = [
    "t.zeros(3).fill_(2)",
    "t.zeros(3, dtype=t.int64).fill_(2.7)",
    "t.zeros(3).fill_(t.tensor(4.))",
    "t.ones(3).zero_()",
    "t.zeros(2).copy_(t.tensor([1, 2]))",
    "t.zeros(2, 2).copy_(t.tensor([1., 2.]))",
    "t.zeros(3, requires_grad=True).fill_(1)",
    "t.zeros(3, requires_grad=True).zero_()",
    "t.zeros(3, requires_grad=True).uniform_()",
    "t.zeros(3, requires_grad=True).normal_()",
    "t.zeros(3, requires_grad=True).random_()",
    "t.zeros(3).uniform_(2, 2)",
    "t.zeros(3).normal_(5, 0)",
    "t.zeros(3, dtype=t.int64).random_(1, 2)",
    "t.zeros(3, dtype=t.int64).random_(1)",
    "t.zeros(3).random_(0, 1)",
    "t.zeros(3).random_().dtype",
    "t.zeros(3, dtype=t.bool).random_().dtype",
    "t.zeros(2, dtype=t.float16).random_().dtype",
    "t.zeros(2, dtype=t.int8).random_(-3, 5).dtype",
    "t.zeros(2, dtype=t.bool).random_(2).dtype",
    "t.zeros(3, dtype=t.int64).random_(3, 1)",
    "t.tensor(3).random_(-5)",
    "t.zeros(2, dtype=t.uint8).random_(-3, 0)",
    "t.zeros(3, dtype=t.uint8).random_(300)",
    "t.zeros(2, dtype=t.bool).random_(0, 3)",
    "t.zeros(3).uniform_(2, 1)",
    "t.zeros(3).normal_(0, -1)",
    "t.zeros(2, dtype=t.int64).uniform_()",
    "t.zeros(2, dtype=t.int64).normal_()",
]


@pytest.mark.parametrize("expr", INPLACE)
def test_inplace_fill_matches_torch(expr: str) -> None:
    check_code(f"out = {expr}")


def test_random_forms_ranges() -> None:
    x = lossgrad.zeros(20000, dtype=lossgrad.int64)
    assert set(np.unique(x.random_(4).numpy())) == {0, 1, 2, 3}
    assert set(np.unique(x.random_(-2, 1).numpy())) == {-2, -1, 0}
    f = lossgrad.zeros(20000).random_().numpy()
    assert f.min() >= 0 and f.max() <= 2**24 and f.max() > 2**23 and np.all(f == np.floor(f))
    b = lossgrad.zeros(100, dtype=lossgrad.uint8).random_().numpy()
    assert b.max() <= 255
    u = lossgrad.zeros(10000, dtype=lossgrad.float64).uniform_(-2, 3).numpy()
    assert u.min() >= -2 and u.max() < 3 and u.dtype == np.float64
    v = lossgrad.zeros(1000).random_(2, None).numpy()
    assert v.min() >= 2
    with pytest.raises(TypeError):
        lossgrad.zeros(2).random_(0.5)


def test_inplace_sampler_bumps_version() -> None:
    x = lossgrad.ones(3, requires_grad=True)
    y = x * 1
    z = y * y
    with lossgrad.no_grad():
        y.normal_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_python_floats_keep_double_precision_when_a_dtype_is_requested():
    import torch

    import lossgrad

    cases = [(d, n) for d in (0.4, [0.7, 1e-300], [[0.1, 2], [3, 0.3]])
             for n in ("float64", "float32", "int64")]
    for data, name in cases + [([1e40, -2.5], "float64"), ([1e40, -2.5], "float32")]:
        lg = lossgrad.tensor(data, dtype=getattr(lossgrad, name))
        th = torch.tensor(data, dtype=getattr(torch, name))
        np.testing.assert_array_equal(lg.numpy(), th.numpy())


def test_zero_dim_sizes():
    import torch

    import lossgrad

    for name in ("zeros", "ones", "empty", "rand", "randn"):
        for size in ((), []):
            assert tuple(getattr(lossgrad, name)(size).shape) == tuple(getattr(torch, name)(size).shape) == ()
