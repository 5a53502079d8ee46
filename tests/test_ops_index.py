"""Parity of indexing, gather/scatter, masked_fill, sort and topk with torch."""

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check, check_raises

rng = np.random.default_rng(3)


def rand(*shape, dtype=np.float64):
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


IDX = np.array([2, 0, 2, 1])  # repeated on purpose: gradients accumulate
MASK = np.array([True, False, True])

INDEXING = {
    "int": lambda lib, x: x[1],
    "neg_int": lambda lib, x: x[-1, 2],
    "all_ints": lambda lib, x: x[1, 2, 3],
    "slice": lambda lib, x: x[1:],
    "slice_step": lambda lib, x: x[:, ::2],
    "slice_neg": lambda lib, x: x[..., -3:-1],
    "slice_empty": lambda lib, x: x[:, 5:],
    "slice_past_end": lambda lib, x: x[:, 1:100],
    "none": lambda lib, x: x[None],
    "none_mid": lambda lib, x: x[:, None, 1],
    "ellipsis": lambda lib, x: x[..., 1],
    "ellipsis_none": lambda lib, x: x[0, ..., None],
    "int_tensor": lambda lib, x: x[lib.tensor([2, 0, 2, 1]) % 3],
    "int_tensor_dim1": lambda lib, x: x[:, lib.tensor([1, 1, 0])],
    "int_tensor_2d": lambda lib, x: x[lib.tensor([[0, 1], [2, 2]])],
    "two_int_tensors": lambda lib, x: x[lib.tensor([0, 2, 2]), lib.tensor([1, 0, 1])],
    "int_tensor_and_slice": lambda lib, x: x[lib.tensor([0, 2]), 1:3],
    "int_tensor_ellipsis": lambda lib, x: x[..., lib.tensor([3, 0])],
    "separated_advanced": lambda lib, x: x[lib.tensor([0, 1]), :, lib.tensor([3, 3])],
    "list": lambda lib, x: x[[0, 2, 2]],
    "neg_index_tensor": lambda lib, x: x[lib.tensor([-1, 0])],
    "bool_tensor": lambda lib, x: x[lib.tensor([True, False, True])],
    "bool_tensor_dim1": lambda lib, x: x[:, lib.tensor([True, False, True, True])],
    "bool_mask_full": lambda lib, x: x[x > 0],
    "bool_mask_2d": lambda lib, x: x[x[:, :, 0] > 0],
    "bool_scalar": lambda lib, x: x[True],
    "zero_dim_index_tensor": lambda lib, x: x[lib.tensor(1)],
}


@pytest.mark.parametrize("name", sorted(INDEXING))
def test_getitem_float64(name):
    check(lambda lib, x: INDEXING[name](lib, x) ** 2, [rand(3, 4, 5)])


@pytest.mark.parametrize(
    "name", ["int", "slice_step", "int_tensor", "bool_mask_full", "two_int_tensors"]
)
def test_getitem_float32(name):
    check(lambda lib, x: INDEXING[name](lib, x) ** 2, [rand(3, 4, 5, dtype=np.float32)])


def test_getitem_of_zero_dim_and_integer_tensors():
    check(lambda lib, x: (x[None], x[...], x[()]), [np.array(2.5)])
    check(lambda lib, x: (x[1], x[:, 1:], x[x > 2]), [rng.integers(0, 5, (3, 4))], grad=())


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: x[3],
        lambda lib, x: x[0, 0, 0, 0],
        lambda lib, x: x[lib.tensor([0, 3])],
        lambda lib, x: x[lib.tensor([0.0, 1.0])],
        lambda lib, x: x[lib.tensor([True, False])],
        lambda lib, x: x[:, -5],
    ],
)
def test_getitem_errors(fn):
    check_raises(fn, [rand(3, 4, 5)])


def test_gather():
    x = rand(3, 4)
    idx = rng.integers(0, 4, (3, 6))
    check(lambda lib, a, i: lib.gather(a, 1, i) ** 2, [x, idx], grad=(0,))
    check(lambda lib, a, i: a.gather(0, i[:2, :4] % 3) ** 2, [x, idx], grad=(0,))
    check(lambda lib, a, i: a.gather(-1, i[:1, :2]) ** 2, [x, idx], grad=(0,))
    check(lambda lib, a, i: lib.gather(a, 0, i[0, :2]) ** 2, [x[0].copy(), idx], grad=(0,))
    check(lambda lib, a, i: a.gather(0, i) ** 2, [np.array(1.5), np.array(0)], grad=(0,))
    check(lambda lib, a, i: a.gather(1, i), [rng.integers(0, 9, (3, 4)), idx], grad=())


def test_gather_errors():
    x, idx = rand(3, 4), rng.integers(0, 4, (3, 2))
    check_raises(lambda lib, a, i: a.gather(2, i), [x, idx])
    check_raises(lambda lib, a, i: a.gather(1, i + 4), [x, idx])
    check_raises(lambda lib, a, i: a.gather(1, i[0]), [x, idx])
    check_raises(lambda lib, a, i: a.gather(1, i - 5), [x, idx])
    check_raises(lambda lib, a, i: a.gather(1, i.float()), [x, idx])
    check(lambda lib, a, i: a.gather(1, i.int()), [x, idx])
    check(lambda lib, a, i: a.gather(0, lib.cat([i, i], 1).repeat(2, 1) % 3), [x, idx])


def test_take_along_dim():
    x = rand(3, 4)
    check(lambda lib, a: lib.take_along_dim(a, a.argsort(1), 1) ** 2, [x])
    check(lambda lib, a: lib.take_along_dim(a, a.argmax(0, keepdim=True), dim=0) ** 2, [x])
    check(lambda lib, a: lib.take_along_dim(a, lib.tensor([[0], [3], [1]]), 1) ** 2, [x])
    check(lambda lib, a: lib.take_along_dim(a, lib.tensor([5, 0, 5])) ** 2, [x])
    check(lambda lib, a: a.take_along_dim(lib.tensor([[1, 0, 3]]), 1) ** 2, [x])


def test_index_select():
    x = rand(3, 4, 2)
    check(lambda lib, a: lib.index_select(a, 1, lib.tensor([3, 0, 3])) ** 2, [x])
    check(lambda lib, a: a.index_select(0, lib.tensor([2])) ** 2, [x])
    check(lambda lib, a: a.index_select(-1, lib.tensor(1)) ** 2, [x])
    check(lambda lib, a: a.index_select(0, lib.tensor([], dtype=lib.long)), [x])
    check_raises(lambda lib, a: a.index_select(1, lib.tensor([[0]])), [x])
    check_raises(lambda lib, a: a.index_select(1, lib.tensor([4])), [x])
    check_raises(lambda lib, a: a.index_select(3, lib.tensor([0])), [x])
    check_raises(lambda lib, a: a.index_select(0, lib.tensor([0.0])), [x])
    for d in range(-1, 3):
        check_raises(lambda lib, a, d=d: a.index_select(d, lib.tensor([-1])), [x])
        check_raises(lambda lib, a, d=d: a.index_select(d, lib.tensor([9])), [x[0]])
    check(lambda lib, a: a.index_select(1, lib.tensor([1, 0], dtype=lib.int32)) ** 2, [x])
    check(lambda lib, a: a.index_select(0, lib.tensor([0])) ** 2, [np.array(1.5)])
    check(lambda lib, a: a.index_select(0, lib.tensor(0)) ** 2, [np.array(1.5)])
    check_raises(lambda lib, a: a.index_select(0, lib.tensor([0, 0])), [np.array(1.5)])


def test_masked_fill():
    x = rand(3, 4)
    m = rng.random((3, 4)) > 0.5
    check(lambda lib, a, k: lib.masked_fill(a, k, 0.5) ** 2, [x, m], grad=(0,))
    check(lambda lib, a, k: a.masked_fill(k[0], float("-inf")).softmax(1), [x, m], grad=(0,))
    check(lambda lib, a, k: a.masked_fill(k, lib.tensor(2.0)) ** 2, [x, m], grad=(0,))
    check(lambda lib, a, v: a.masked_fill(a > 0, v) ** 2, [x, np.array(1.5)], grad=(0, 1))
    check(lambda lib, a, k: a.masked_fill(k, 2.7), [rng.integers(0, 5, (3, 4)), m], grad=())
    check(lambda lib, a, k: a.masked_fill(k[:, :1], -1.0) ** 2, [x, m], grad=(0,))
    check_raises(lambda lib, a, k: a.masked_fill(k.int(), 0.0), [x, m])
    check_raises(lambda lib, a, k: a.masked_fill(k, lib.tensor([1.0, 2.0])), [x, m])
    check_raises(lambda lib, a, k: a.masked_fill(k[:2], 0.0), [x, m])


def test_scatter_add():
    x = rand(3, 4)
    idx = rng.integers(0, 3, (2, 4))
    check(lambda lib, a, s, i: a.scatter_add(0, i, s) ** 2, [x, rand(2, 4), idx], grad=(0, 1))
    check(
        lambda lib, a, s, i: lib.scatter_add(a, 1, i[:, :2], s) ** 2,
        [x, rand(3, 5), idx],
        grad=(0,),
    )


SORTS = {
    "sort": lambda lib, x: x.sort(),
    "sort_desc": lambda lib, x: lib.sort(x, 0, descending=True),
    "sort_stable": lambda lib, x: x.sort(dim=1, stable=True),
    "argsort": lambda lib, x: x.argsort(1),
    "argsort_desc": lambda lib, x: lib.argsort(x, 0, descending=True),
    "topk": lambda lib, x: x.topk(2),
    "topk_smallest": lambda lib, x: lib.topk(x, 3, 1, largest=False),
    "topk_dim0": lambda lib, x: x.topk(1, dim=0),
    "topk_zero": lambda lib, x: x.topk(0),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(SORTS))
def test_sort_topk(name, dtype):
    x = rng.permutation(20).reshape(4, 5).astype(dtype) / 7  # distinct values
    check(lambda lib, a: SORTS[name](lib, a), [x])
    check(lambda lib, a: SORTS[name](lib, a)[0] ** 2 if name[:3] != "arg" else a, [x])


def test_sort_ties_and_nan_follow_torch():
    x = np.array([[3.0, 1.0, 3.0, np.nan, 1.0], [0.0, -0.0, 2.0, 2.0, 2.0]])
    check(lambda lib, a: a.sort(stable=True), [x], grad=())
    check(lambda lib, a: a.sort(descending=True, stable=True), [x], grad=())
    check(lambda lib, a: a.argsort(stable=True), [x], grad=())
    check(lambda lib, a: a.topk(2)[0], [x], grad=())


def test_sort_of_integers_and_bools():
    i = rng.integers(-5, 5, (3, 6))
    check(
        lambda lib, a: (*a.sort(stable=True), *a.sort(dim=0, descending=True, stable=True)),
        [i],
        grad=(),
    )
    check(lambda lib, a: a.sort(stable=True), [i > 0], grad=())


def test_sort_topk_errors():
    x = rand(3, 4)
    check_raises(lambda lib, a: a.topk(5), [x])
    check_raises(lambda lib, a: a.topk(2, dim=2), [x])
    check_raises(lambda lib, a: a.sort(2), [x])


def test_nonzero_and_where_indices():
    x = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    check(
        lambda lib, a: (a.nonzero(), lib.nonzero(a, as_tuple=True)[1], lib.where(a > 0)[0]),
        [x],
        grad=(),
    )


def test_grad_fn_names():
    x = lossgrad.tensor(rand(3, 4), requires_grad=True)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)

    def lib(t):
        return torch if isinstance(t, torch.Tensor) else lossgrad

    for fn in (
        lambda t: t[lib(t).tensor([0, 1])],
        lambda t: t[t > 0],
        lambda t: t.gather(1, lib(t).tensor([[0], [1], [2]])),
        lambda t: t.index_select(1, lib(t).tensor([0, 2])),
        lambda t: t.masked_fill(t > 0, 0.0),
        lambda t: t.sort()[0],
        lambda t: t.topk(2)[0],
        lambda t: t[0],
        lambda t: t[:, 1:],
        lambda t: t[None],
    ):
        assert fn(x).grad_fn.name() == fn(tx).grad_fn.name(), fn(tx).grad_fn.name()


def test_gradcheck():
    x = lossgrad.tensor(rng.permutation(12).reshape(3, 4) / 5.0, requires_grad=True)
    i = lossgrad.tensor([[0, 0, 3], [1, 2, 2], [3, 3, 3]])
    fns = [
        lambda a: a[lossgrad.tensor([0, 2, 2])][:, 1:] ** 2 + a[a > 1.1].sum(),
        lambda a: a.gather(1, i) ** 2 + a.index_select(1, lossgrad.tensor([3, 3, 0])),
        lambda a: a.sort(1)[0] * a.topk(2, 0)[0].sum() + a.masked_fill(a > 1.1, 0.0) ** 3,
        lambda a: a[None, ..., 1] ** 2 + lossgrad.take_along_dim(a, i, 1).sum(),
    ]
    for fn in fns:
        assert gradcheck(fn, (x,))
        assert gradgradcheck(fn, (x,))
