"""Parity of the shape ops with torch: values, gradients, second gradients and errors."""

import numpy as np
import pytest
import torch

import lossgrad
from lossgrad.autograd import gradcheck, gradgradcheck
from parity import check, check_raises

rng = np.random.default_rng(2)


def rand(*shape, dtype=np.float64):
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


# Each op is followed by a nonlinear op so that the second gradient flows through it.
SHAPE_OPS = {
    "reshape": lambda lib, x: x.reshape(4, 6).exp(),
    "reshape_tuple": lambda lib, x: lib.reshape(x, (-1, 3)) ** 2,
    "view": lambda lib, x: x.view(2, -1).sin(),
    "view_tuple": lambda lib, x: x.view((24,)) ** 2,
    "view_as": lambda lib, x: x.view_as(x.reshape(6, 4)) ** 2,
    "flatten": lambda lib, x: x.flatten() ** 2,
    "flatten_range": lambda lib, x: lib.flatten(x, 1) ** 2,
    "flatten_neg": lambda lib, x: x.flatten(0, -2) ** 2,
    "unflatten": lambda lib, x: x.unflatten(2, (2, 2)) ** 2,
    "squeeze": lambda lib, x: x.reshape(2, 1, 3, 4).squeeze() ** 2,
    "squeeze_dim": lambda lib, x: x.reshape(2, 1, 3, 4).squeeze(1) ** 2,
    "squeeze_noop": lambda lib, x: x.squeeze(0) ** 2,
    "squeeze_tuple": lambda lib, x: x.reshape(1, 2, 1, 12).squeeze((0, 2)) ** 2,
    "unsqueeze": lambda lib, x: x.unsqueeze(1) ** 2,
    "unsqueeze_neg": lambda lib, x: lib.unsqueeze(x, -1) ** 2,
    "transpose": lambda lib, x: x.transpose(0, 2) ** 2,
    "transpose_neg": lambda lib, x: lib.transpose(x, -1, -2).cos(),
    "swapaxes": lambda lib, x: x.swapaxes(0, 1) ** 2,
    "permute": lambda lib, x: x.permute(2, 0, 1) ** 2,
    "permute_tuple": lambda lib, x: lib.permute(x, (1, 2, 0)) ** 2,
    "movedim": lambda lib, x: x.movedim(0, -1) ** 2,
    "t": lambda lib, x: x[0].t() ** 2,
    "t_fn": lambda lib, x: lib.t(x[0, 0]) ** 2,
    "T": lambda lib, x: x[0].T ** 2,
    "mT": lambda lib, x: x.mT**2,
    "expand": lambda lib, x: x[:, :1].expand(2, 5, 4) ** 2,
    "expand_new_dims": lambda lib, x: x[0, 0].expand(3, 2, 4) ** 2,
    "expand_minus_one": lambda lib, x: x[:, :1].expand(-1, 3, -1) ** 2,
    "expand_as": lambda lib, x: x[0].expand_as(x) ** 2,
    "broadcast_to": lambda lib, x: lib.broadcast_to(x[0, :1], (5, 3, 4)) ** 2,
    "broadcast_tensors": lambda lib, x: lib.broadcast_tensors(x, x[0, 0])[1] ** 2,
    "repeat": lambda lib, x: x.repeat(2, 1, 3) ** 2,
    "repeat_more_dims": lambda lib, x: x.repeat(2, 2, 1, 1) ** 2,
    "tile": lambda lib, x: x.tile(2) ** 2,
    "cat": lambda lib, x: lib.cat([x, x**2, x[:1]], 0).sin(),
    "cat_dim": lambda lib, x: lib.cat((x, x[:, :2] * 3), dim=1) ** 2,
    "cat_neg": lambda lib, x: lib.cat([x, x], -1) ** 2,
    "cat_empty": lambda lib, x: lib.cat([x.flatten(), lib.zeros(0, dtype=x.dtype)]) ** 2,
    "concat": lambda lib, x: lib.concat([x, x], 2) ** 2,
    "stack": lambda lib, x: lib.stack([x, x.exp()]) ** 2,
    "stack_dim": lambda lib, x: lib.stack((x, x), dim=-1) ** 2,
    "stack_mid": lambda lib, x: lib.stack([x[0], x[1] * 2, x[0]], 1) ** 2,
    "split": lambda lib, x: x.split(2, 1)[1] ** 2,
    "split_uneven": lambda lib, x: lib.split(x, 3, dim=2)[1] ** 2,
    "split_sizes": lambda lib, x: x.split([1, 2], 1)[1] ** 2,
    "split_all": lambda lib, x: (
        lib.cat([p * (i + 1) for i, p in enumerate(x.split(1, -1))], -1) ** 2
    ),
    "chunk": lambda lib, x: x.chunk(2, 2)[0] ** 2,
    "chunk_uneven": lambda lib, x: lib.chunk(x, 2, 1)[1] ** 2,
    "chunk_more": lambda lib, x: lib.stack(x.chunk(5, 0)) ** 2,
    "unbind": lambda lib, x: x.unbind(1)[2] ** 2,
    "narrow": lambda lib, x: x.narrow(1, 1, 2) ** 2,
    "narrow_neg": lambda lib, x: lib.narrow(x, -1, -3, 2) ** 2,
    "flip": lambda lib, x: x.flip(0) ** 2,
    "flip_dims": lambda lib, x: lib.flip(x, (0, 2)) ** 2,
    "contiguous": lambda lib, x: x.transpose(0, 1).contiguous() ** 2,
    "clone": lambda lib, x: x.clone() ** 2,
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_float64(name):
    check(SHAPE_OPS[name], [rand(2, 3, 4)])


@pytest.mark.parametrize(
    "name", ["reshape", "permute", "expand", "cat", "stack", "split", "repeat"]
)
def test_shape_op_float32(name):
    check(SHAPE_OPS[name], [rand(2, 3, 4, dtype=np.float32)])


def test_cat_and_stack_several_inputs_with_gradients():
    a, b, c = rand(2, 3), rand(4, 3), rand(1, 3)
    check(lambda lib, x, y, z: lib.cat([x, y, z]) ** 2, [a, b, c], grad=(0, 1, 2))
    check(lambda lib, x, y: lib.stack([x, y], 1) ** 2, [a, rand(2, 3)], grad=(0, 1))


def test_cat_promotes_dtypes():
    check(
        lambda lib, x, y: lib.cat([x, y], 1),
        [rand(2, 3, dtype=np.float32), rand(2, 1)],
        grad=(0, 1),
    )
    check(lambda lib, x, y: lib.cat([x, y]), [rand(2, 3), np.ones((1, 3), np.int64)], grad=(0,))


def test_views_of_zero_dim_and_empty():
    check(
        lambda lib, x: (x.reshape(1, 1) ** 2, x.unsqueeze(0), x.flatten(), x.view(-1)),
        [np.array(1.5)],
    )
    check(lambda lib, x: x.reshape(0, 2, 3), [np.zeros((2, 0, 3))])
    check(lambda lib, x: x.t(), [np.array(2.0)])
    check(lambda lib, x: x.squeeze(), [np.array(2.0)])


def test_integer_shape_ops():
    i = rng.integers(0, 9, (2, 3, 4))
    check(
        lambda lib, x: (
            x.reshape(6, 4),
            x.permute(2, 1, 0),
            x.flip(1),
            x.repeat(1, 2, 1),
            lib.cat([x, x], 1),
            lib.stack([x, x]),
            x.expand(2, 2, 3, 4),
        ),
        [i],
        grad=(),
    )


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: x.reshape(5, 5),
        lambda lib, x: x.view(-1, 5),
        lambda lib, x: x.view(-1, -1),
        lambda lib, x: x.expand(3, 3, 4),
        lambda lib, x: x.expand(3, 4),
        lambda lib, x: x.permute(0, 1),
        lambda lib, x: x.permute(0, 1, 1),
        lambda lib, x: lib.cat([x, x[:, :2, :2]], 0),
        lambda lib, x: lib.cat([x, x[0]]),
        lambda lib, x: lib.stack([x, x[0]]),
        lambda lib, x: lib.stack([]),
        lambda lib, x: x.split([1, 1], 1),
        lambda lib, x: x.narrow(1, 2, 2),
        lambda lib, x: x.repeat(2, 2),
        lambda lib, x: x.t(),
        lambda lib, x: x.flatten(2, 1),
        lambda lib, x: x.unflatten(1, (2, 2)),
    ],
)
def test_bad_shapes_raise_runtime_error(fn):
    err = check_raises(fn, [rand(2, 3, 4)])
    assert isinstance(err, RuntimeError)


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: x.transpose(0, 3),
        lambda lib, x: x.unsqueeze(4),
        lambda lib, x: x.unsqueeze(-5),
        lambda lib, x: x.squeeze(3),
        lambda lib, x: x.permute(0, 1, 3),
        lambda lib, x: x.flatten(0, 3),
        lambda lib, x: lib.cat([x, x], 3),
        lambda lib, x: lib.stack([x, x], 4),
        lambda lib, x: x.split(1, 3),
        lambda lib, x: x.chunk(2, -4),
        lambda lib, x: x.narrow(3, 0, 1),
        lambda lib, x: x.flip(3),
        lambda lib, x: x.movedim(0, 3),
        lambda lib, x: x.unbind(3),
        lambda lib, x: x.size(3),
    ],
)
def test_dim_out_of_range_is_index_error(fn):
    err = check_raises(fn, [rand(2, 3, 4)])
    assert isinstance(err, IndexError)


def test_empty_lists():
    assert isinstance(check_raises(lambda lib, x: lib.cat([]), [rand(2)]), ValueError)
    assert isinstance(check_raises(lambda lib, x: lib.stack([]), [rand(2)]), RuntimeError)


def test_grad_fn_names():
    x = lossgrad.tensor(rand(2, 3, 4), requires_grad=True)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    stack = lambda t: (torch if isinstance(t, torch.Tensor) else lossgrad).stack([t, t])  # noqa: E731
    cat = lambda t: (torch if isinstance(t, torch.Tensor) else lossgrad).cat([t, t])  # noqa: E731
    for fn in (
        stack,
        cat,
        lambda t: t.reshape(6, 4),
        lambda t: t.view(24),
        lambda t: t.permute(1, 0, 2),
        lambda t: t.transpose(0, 1),
        lambda t: t.expand(2, 2, 3, 4),
        lambda t: t.repeat(1, 2, 1),
        lambda t: t.flip(0),
        lambda t: t.clone(),
        lambda t: t.unsqueeze(0),
        lambda t: t.squeeze(0),
        lambda t: t.flatten(),
        lambda t: t[0].t(),
        lambda t: t.unsqueeze(0).squeeze(),
        lambda t: t.unsqueeze(0).squeeze((0, 1)),
        lambda t: t.mT,
        lambda t: t.movedim(0, 1),
        lambda t: t.split(1)[0],
        lambda t: t.split([1, 2], 1)[1],
        lambda t: t.chunk(2, 2)[1],
        lambda t: t.unbind(1)[0],
        lambda t: t.narrow(1, 0, 2),
        lambda t: t.expand_as(t),
        lambda t: t.tile(2),
    ):
        assert fn(x).grad_fn.name() == fn(tx).grad_fn.name(), fn(tx).grad_fn.name()


def test_gradcheck():
    x = lossgrad.tensor(rand(2, 3, 4), requires_grad=True)
    fns = [
        lambda a: lossgrad.cat([a.permute(2, 0, 1).reshape(4, 6), a.flip(1).sum(0).t()], 1) ** 2,
        lambda a: lossgrad.stack(a.chunk(2, 2), 0).expand(3, 2, 2, 3, 2).sin(),
        lambda a: a.repeat(1, 2, 1).narrow(1, 2, 3).unsqueeze(0).transpose(0, 3) ** 3,
    ]
    for fn in fns:
        assert gradcheck(fn, (x,))
        assert gradgradcheck(fn, (x,))
