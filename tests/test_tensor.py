"""Tensor inspection, conversion, dtypes and promotion against torch."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import numpy as np
import pytest

import lossgrad
from parity import check_code

EXPRESSIONS = [
    # inspection
    "t.tensor([1., 2.]).shape",
    "t.tensor([[1., 2.]]).size()",
    "t.tensor([[1., 2.]]).size(1)",
    "t.tensor([[1., 2.]]).size(-1)",
    "t.tensor([[1., 2.]]).size(2)",
    "t.tensor([[1., 2.]]).dim()",
    "t.tensor([[1., 2.]]).ndim",
    "t.tensor([[1., 2.]]).numel()",
    "t.numel(t.zeros(2, 3))",
    "t.tensor([[1., 2.]]).dtype",
    "t.tensor([1., 2.]).device",
    "str(t.tensor([1., 2.]).device)",
    "t.tensor([1., 2.]).is_floating_point()",
    "t.tensor([1, 2]).is_floating_point()",
    "t.tensor([1., 2.]).element_size()",
    "t.tensor([1., 2.]).type()",
    "t.tensor([1, 2]).type()",
    "t.tensor([1, 2]).type(t.float64)",
    "t.tensor([[1., 2.]]).T",
    "t.tensor([[1., 2.], [3, 4]]).T",
    "t.tensor([[1., 2.]]).is_leaf",
    "t.tensor([[1., 2.]]).requires_grad",
    "t.tensor([[1., 2.]]).grad",
    "t.tensor([[1., 2.]]).grad_fn",
    "repr(t.Size([2, 3]))",
    "t.is_tensor(t.zeros(1))",
    "t.is_tensor(1)",
    # values out
    "t.tensor([[1., 2.]]).item()",
    "t.tensor([1.5]).item()",
    "t.tensor(7).item()",
    "t.tensor(True).item()",
    "t.tensor([1., 2.]).item()",
    "t.tensor([1, 2]).tolist()",
    "t.tensor([[1.5, 2.]]).tolist()",
    "t.tensor(2.5).tolist()",
    "t.tensor([True]).tolist()",
    "int(t.tensor(3.7))",
    "int(t.tensor(-3.7))",
    "float(t.tensor(3))",
    "float(t.tensor([3]))",
    "float(t.tensor([3, 4]))",
    "int(t.tensor([1, 2]))",
    "bool(t.tensor([0.]))",
    "bool(t.tensor(2))",
    "bool(t.tensor([1, 2]))",
    "bool(t.tensor([]))",
    "[1, 2, 3][t.tensor(1)]",
    "[1, 2, 3][t.tensor(1.)]",
    "[1, 2, 3][t.tensor([1])]",
    "t.tensor([1, 2]).__index__()",
    "len(t.tensor([[1, 2], [3, 4], [5, 6]]))",
    "len(t.tensor(1))",
    "[x.tolist() for x in t.tensor([[1, 2], [3, 4]])]",
    "list(t.tensor(3.))",
    "t.tensor([1., 2.]).numpy()",
    "t.tensor([1., 2.], requires_grad=True).numpy()",
    "t.tensor([1., 2.], requires_grad=True).detach().numpy()",
    "np.asarray(t.tensor([1, 2]))",
    "np.asarray(t.tensor([1, 2]), dtype=np.float64)",
    "f'{t.tensor(2.5):.2f}'",
    "np.float32(2) * t.tensor([1., 2.])",
    # conversions
    "t.tensor([1, 2]).float()",
    "t.tensor([1.7, -2.7]).long()",
    "t.tensor([1.7, -2.7]).int()",
    "t.tensor([1.7, 0.]).bool()",
    "t.tensor([1.7, 0.]).double()",
    "t.tensor([1.7, 0.]).half()",
    "t.tensor([1.7, 0.]).to(t.float64)",
    "t.tensor([1.7, 0.]).to(t.int32)",
    "t.tensor([1.7, 0.]).to('cpu')",
    "t.tensor([1.7, 0.]).to('cpu', t.float64)",
    "t.tensor([1.7, 0.]).to(t.tensor([1], dtype=t.int64))",
    "t.tensor([1.7, 0.]).to(dtype=t.float16)",
    "t.tensor([1.7, 0.], requires_grad=True).double()",
    "t.tensor([1.7, 0.], requires_grad=True).to(t.float32)",
    "t.tensor([1, 2]).new_zeros(3)",
    "t.tensor([1., 2.]).new_ones((2, 2))",
    "t.tensor([1., 2.]).new_full((2,), 5)",
    "t.tensor([1., 2.]).new_tensor([3, 4])",
    "t.tensor([1, 2]).new_tensor([3.5])",
    "t.tensor([[1., 2.]]).contiguous()",
    # autograd flags
    "t.tensor([1., 2.]).requires_grad_()",
    "t.tensor([1, 2]).requires_grad_()",
    "t.tensor([1., 2.]).requires_grad_(False)",
    "(t.tensor([1., 2.], requires_grad=True) * 2).requires_grad_(False)",
    "t.tensor([1., 2.], requires_grad=True).detach()",
    "t.tensor([1., 2.], requires_grad=True).clone()",
    "(t.tensor([1., 2.], requires_grad=True) * 2).is_leaf",
    # dtypes
    "t.float", "t.double", "t.long", "t.int", "t.half", "t.short", "t.bool", "t.uint8", "t.int8",
    "t.float == t.float32",
    "t.long is t.int64",
    "t.tensor([1, 2]).dtype == t.int64",
    "t.tensor([1.]).dtype.is_floating_point",
    "t.int32.is_floating_point",
    "t.int32.is_signed",
    "t.uint8.is_signed",
    "t.float16.itemsize",
    "t.get_default_dtype()",
    # promotion
    "t.tensor([1., 2.]) + t.tensor([1, 2])",
    "t.tensor([1, 2]) * 2.5",
    "t.tensor([1, 2]) / 2",
    "t.tensor([1, 2]) // 2",
    "t.tensor([1, 2], dtype=t.int32) + t.tensor(5)",
    "t.tensor([1, 2], dtype=t.int32) + 5",
    "t.tensor([1, 2], dtype=t.uint8) + t.tensor([1], dtype=t.int8)",
    "t.tensor([1., 2.], dtype=t.float16) + t.tensor([1.], dtype=t.float32)",
    "t.tensor([1., 2.], dtype=t.float16) + t.tensor(1., dtype=t.float64)",
    "t.tensor([1., 2.], dtype=t.float16) * 2.5",
    "t.tensor([1., 2.], dtype=t.float32) * t.tensor(2, dtype=t.int64)",
    "t.tensor(1., dtype=t.float64) + t.tensor([1, 2])",
    "t.tensor(1., dtype=t.float64) + t.tensor(2., dtype=t.float16)",
    "t.tensor([True]) + t.tensor([True])",
    "t.tensor([True]) + 1",
    "t.tensor([True]) + 1.5",
    "t.tensor([1, 2]) + True",
    "t.tensor([1, 2], dtype=t.uint8) - 3",
    "t.tensor([1., 2.]) * np.float64(2)",
    "t.tensor([1, 2]) * np.float64(2)",
    "t.tensor([1., 2.], dtype=t.float64) * np.float32(2)",
    "t.tensor([1, 2]) ** 2",
    "t.tensor([1, 2]) ** 0.5",
    "2 ** t.tensor([1, 2])",
    "2. ** t.tensor([1, 2])",
    "t.tensor([1., 2.], requires_grad=True) * t.tensor([1, 2])",
    "t.tensor([1., 2.], requires_grad=True) + 1",
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_tensor_matches_torch(expr: str) -> None:
    check_code(f"out = {expr}")


@pytest.mark.parametrize("expr", ["t.tensor([1, 2]) ** -1"])
def test_tensor_error_class_matches_torch(expr: str) -> None:
    check_code(f"out = {expr}", message=False)


def test_T_deprecation_warnings_once() -> None:
    """torch warns once per process for ``.T`` on 0-D and on non-2-D tensors: compare the
    messages in a fresh interpreter."""
    code = (
        "import warnings, sys\n"
        "warnings.simplefilter('always')\n"
        "import {lib} as t\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    t.zeros(2, 3, 4).T; t.zeros(2).T; t.tensor(1.).T; t.tensor(1.).T\n"
        "for x in w: print(str(x.message).split(' (Triggered')[0])\n"
    )
    outs = [
        subprocess.run([sys.executable, "-c", code.format(lib=lib)], capture_output=True,
                       text=True, check=True).stdout
        for lib in ("torch", "lossgrad")
    ]
    assert outs[1] == outs[0] and outs[0].count("\n") == 2


def test_detach_shares_data_and_version() -> None:
    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    d[0] = 5.0
    assert x[0].item() == 5.0 and x._version == d._version == 1


def test_clone_copies_and_records() -> None:
    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert type(c.grad_fn).__name__ == "CloneBackward0"
    c.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    with lossgrad.no_grad():
        c[0] = 9.0
    assert x[0].item() == 1.0


def test_requires_grad_setter_rules() -> None:
    x = lossgrad.tensor([1.0, 2.0])
    x.requires_grad = True
    assert x.requires_grad and x.is_leaf
    y = x * 2
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables"):
        y.requires_grad = False
    with pytest.raises(RuntimeError, match="Only Tensors of floating point"):
        lossgrad.tensor([1]).requires_grad = True


def test_grad_assignment_checks() -> None:
    check_code("x = t.tensor([1., 2.], requires_grad=True); x.grad = t.tensor([1., 1., 1.])")
    check_code("x = t.tensor([1., 2.]); x.grad = t.tensor([1., 2.], dtype=t.float64)")
    check_code("x = t.tensor([1., 2.]); x.grad = [1., 2.]")
    check_code("x = t.tensor([1., 2.]); x.grad = t.tensor([3., 4.]); out = x.grad")


def test_non_leaf_grad_access_warns() -> None:
    check_code("x = t.tensor([1., 2.], requires_grad=True); out = (x * 2).grad")


def test_iteration_yields_views_over_dim0() -> None:
    x = lossgrad.arange(6).reshape(3, 2)
    rows = list(x)
    assert len(rows) == 3 and all(r.shape == (2,) for r in rows)
    assert [r.tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]


def test_numpy_shares_memory() -> None:
    x = lossgrad.zeros(3)
    a = x.numpy()
    a[1] = 4.0
    assert x[1].item() == 4.0
    assert np.asarray(x) is a


def test_deepcopy_and_pickle_round_trip() -> None:
    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    y = copy.deepcopy(x)
    assert y.requires_grad and y.is_leaf and y.grad is not None
    assert not np.shares_memory(y.numpy(force=True), x.numpy(force=True))
    np.testing.assert_array_equal(y.grad.numpy(), x.grad.numpy())
    z = pickle.loads(pickle.dumps(x))
    assert z.requires_grad and z.tolist() == [1.0, 2.0]
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(x * 2)


def test_hash_is_identity() -> None:
    a, b = lossgrad.zeros(2), lossgrad.zeros(2)
    assert len({a, b, a}) == 2


def test_default_dtype_switch() -> None:
    lossgrad.set_default_dtype(lossgrad.float64)
    try:
        assert lossgrad.tensor([1.5]).dtype == lossgrad.float64
        assert lossgrad.zeros(2).dtype == lossgrad.float64
        assert (lossgrad.tensor([1, 2]) * 0.5).dtype == lossgrad.float64
        assert lossgrad.arange(0.0, 1.0, 0.5).dtype == lossgrad.float64
    finally:
        lossgrad.set_default_dtype(lossgrad.float32)
    with pytest.raises(TypeError):
        lossgrad.set_default_dtype(lossgrad.int64)
