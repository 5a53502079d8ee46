"""nn.Embedding, F.embedding and F.one_hot against torch: values, first and second gradients
(padding_idx, scale_grad_by_freq), max_norm's in-place renormalisation, errors, the module."""

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check, check_code

rng = np.random.default_rng(7)
INDICES = np.array([[1, 4, 1], [0, 3, 1]])


@pytest.mark.parametrize("padding_idx", [None, 1, -1, 0])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_matches_torch(padding_idx, scale_grad_by_freq, dtype):
    weight = rng.standard_normal((5, 3)).astype(dtype)

    def fn(lib, w):
        out = lib.nn.functional.embedding(
            lib.tensor(INDICES), w, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq
        )
        return out * out  # second derivatives are nonzero

    check(fn, [weight], grad=(0,))


@pytest.mark.parametrize(
    "index", [np.array(2), np.array([], dtype=np.int64), INDICES.astype(np.int32)]
)
def test_embedding_shapes_match_torch(index):
    weight = rng.standard_normal((5, 2))
    check(lambda lib, w: lib.nn.functional.embedding(lib.tensor(index), w), [weight], grad=(0,))


def test_embedding_gradcheck_float64():
    weight = lossgrad.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    index = lossgrad.tensor(INDICES)

    def fn(w):
        out = lossgrad.nn.functional.embedding(index, w, padding_idx=2)  # a row never looked up
        return (out * out).sum(-1)

    assert gradcheck(fn, (weight,))
    assert gradgradcheck(fn, (weight,))


def test_max_norm_renormalises_looked_up_rows_in_place():
    check_code(
        "w = t.tensor([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0], [1.0, 0.0]], requires_grad=True)\n"
        "out_rows = t.nn.functional.embedding(t.tensor([0, 1, 0]), w, max_norm=1.0)\n"
        "out_rows.sum().backward()\n"
        "out = [out_rows, w.detach(), w.grad]\n",
        rtol=1e-6,
    )


ERRORS = [
    "F.embedding(t.tensor([1.0]), w)",
    "F.embedding(t.tensor([5]), w)",
    "F.embedding(t.tensor([-1]), w)",
    "F.embedding(t.tensor([1]), w, padding_idx=5)",
    "F.embedding(t.tensor([1]), w, padding_idx=-6)",
    "F.embedding(t.tensor([[1]]), w[0])",
    "F.one_hot(t.tensor([1.0]))",
    "F.one_hot(t.tensor([1, -1]))",
    "F.one_hot(t.tensor([1, 3]), 2)",
    "F.one_hot(t.tensor([], dtype=t.long))",
    "F.one_hot(t.tensor([], dtype=t.long), 3)",
    "F.one_hot(t.tensor([1, 2]), -2)",
    "F.one_hot(t.tensor(2))",
    "F.one_hot(t.tensor([[0, 2], [1, 1]]))",
    "F.one_hot(t.tensor([1, 0]), 4)",
    "F.one_hot(t.tensor([1], dtype=t.int32))",
    "t.nn.Embedding(3, 2, padding_idx=3)",
    "t.nn.Embedding(3, 2, padding_idx=-4)",
    "repr(t.nn.Embedding(3, 2))",
    "repr(t.nn.Embedding(3, 2, padding_idx=-1, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True))",
    "repr(t.nn.Embedding(3, 2, sparse=True))",
    "t.nn.Embedding(3, 2, padding_idx=1).weight[1]",
    "t.nn.Embedding(3, 2).weight.shape",
    "t.nn.Embedding(3, 2, dtype=t.float64).weight.dtype",
    "t.nn.Embedding(3, 2, _weight=t.ones(2, 2))",
    "t.nn.Embedding.from_pretrained(t.ones(3))",
    "t.nn.Embedding.from_pretrained(w).weight.requires_grad",
    "t.nn.Embedding.from_pretrained(w, freeze=False)(t.tensor([[1, 2]]))",
    "t.nn.Embedding(4, 3)(t.tensor([1, 2])).grad_fn.name()",
    "sorted(t.nn.Embedding(4, 3).state_dict())",
]


@pytest.mark.parametrize("call", ERRORS)
def test_errors_and_module_as_torch(call):
    check_code(f"F = t.nn.functional\nw = t.arange(15.0).view(5, 3)\nout = {call}\n")


def test_embedding_module_trains_like_torch():
    weight = rng.standard_normal((6, 4)).astype(np.float32)
    results = []
    for lib in (torch, lossgrad):
        table = lib.nn.Embedding.from_pretrained(lib.tensor(weight), freeze=False, padding_idx=2)
        opt = lib.optim.SGD(table.parameters(), lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            loss = (table(lib.tensor(INDICES)) ** 2).mean()
            loss.backward()
            opt.step()
        results.append(table.weight.detach().numpy().copy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)


def test_embedding_sparse_gradients_are_refused():
    table = lossgrad.nn.Embedding(3, 2, sparse=True)
    with pytest.raises(NotImplementedError, match="sparse=False"):
        table(lossgrad.tensor([1]))
