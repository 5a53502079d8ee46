"""In-place ops: values and gradients through them, and torch's errors (modified saved tensors,
leaves that require grad, impossible casts and shapes)."""

import numpy as np
import pytest
import torch

import lossgrad
from parity import check, check_raises

rng = np.random.default_rng(5)


def rand(*shape, dtype=np.float64):
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


INPLACE = {
    "add_": lambda lib, y, w: y.add_(w),
    "add_alpha": lambda lib, y, w: y.add_(w, alpha=-2.0),
    "add_scalar": lambda lib, y, w: y.add_(1.5) * w,
    "sub_": lambda lib, y, w: y.sub_(w),
    "sub_alpha": lambda lib, y, w: y.sub_(w, alpha=0.5),
    "mul_": lambda lib, y, w: y.mul_(w),
    "mul_scalar": lambda lib, y, w: y.mul_(3.0) * w,
    "div_": lambda lib, y, w: y.div_(w + 3.0),
    "pow_": lambda lib, y, w: y.abs().pow_(1.5) * w,
    "clamp_": lambda lib, y, w: y.clamp_(-0.5, 0.5) * w,
    "clamp_tensor": lambda lib, y, w: y.clamp_(min=w),
    "clamp_min_": lambda lib, y, w: y.clamp_min_(0.1) * w,
    "exp_": lambda lib, y, w: y.exp_() * w,
    "neg_": lambda lib, y, w: y.neg_() * w,
    "sigmoid_": lambda lib, y, w: y.sigmoid_() * w,
    "tanh_": lambda lib, y, w: y.tanh_() * w,
    "relu_": lambda lib, y, w: y.relu_() * w,
    "masked_fill_": lambda lib, y, w: y.masked_fill_(w > 0, 0.25),
    "iadd": lambda lib, y, w: y.__iadd__(w),
    "imul": lambda lib, y, w: y.__imul__(w),
    "chain": lambda lib, y, w: y.mul_(w).add_(1.0).div_(2.0).exp_(),
    "setitem_scalar": lambda lib, y, w: (y.__setitem__(0, 1.5), y * w)[1],
    "setitem_tensor": lambda lib, y, w: (y.__setitem__((slice(None), 1), w[:, 0]), y)[1],
    "setitem_broadcast": lambda lib, y, w: (y.__setitem__(slice(1, None), w[0]), y)[1],
    "copy_broadcast": lambda lib, y, w: y.copy_(w[1]) * w,
    "fill_tensor": lambda lib, y, w: y.fill_(w[0, 0]) * w,
    "setitem_mask": lambda lib, y, w: (y.__setitem__(w > 0, 0.0), y * w)[1],
    "setitem_index": lambda lib, y, w: (y.__setitem__(lib.tensor([0, 2]), w[1] * 2), y)[1],
    "copy_": lambda lib, y, w: y.copy_(w * 2) * y,
    "zero_": lambda lib, y, w: y.zero_() + w,
    "fill_": lambda lib, y, w: y.fill_(2.0) * w,
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_values_and_gradients(name, dtype):
    """``y`` is a non-leaf (x * 1.5), so the in-place op is recorded into x's graph."""
    fn = INPLACE[name]
    check(
        lambda lib, x, w: fn(lib, x * 1.5, w).sin(),
        [rand(3, 4, dtype=dtype), rand(3, 4, dtype=dtype)],
        grad=(0, 1),
    )


def test_inplace_broadcast_operand():
    check(lambda lib, x, w: (x * 1.0).mul_(w).add_(w), [rand(3, 4), rand(4)], grad=(0, 1))


def test_inplace_returns_self_and_bumps_version():
    for lib in (lossgrad, torch):
        x = lib.ones(3)
        v = x._version
        assert x.add_(1) is x and x._version == v + 1
        x.mul_(2)
        x[0] = 5.0
        assert x._version == v + 3
        assert x.tolist() == [5.0, 4.0, 4.0]


@pytest.mark.parametrize(
    "op",
    [
        lambda t: t.add_(1.0),
        lambda t: t.mul_(2.0),
        lambda t: t.clamp_(0, 1),
        lambda t: t.exp_(),
        lambda t: t.__setitem__(0, 1.0),
        lambda t: t.zero_(),
        lambda t: t.fill_(1.0),
        lambda t: t.masked_fill_(t > 0, 0.0),
        lambda t: t.copy_(t.detach() * 2),
    ],
)
def test_inplace_on_leaf_that_requires_grad_raises(op):
    for lib in (lossgrad, torch):
        x = lib.tensor([0.5, -1.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            op(x)


def test_inplace_on_leaf_under_no_grad_is_allowed():
    outs = []
    for lib in (lossgrad, torch):
        x = lib.tensor([0.5, -1.0], requires_grad=True)
        with lib.no_grad():
            x.mul_(2.0).add_(1.0)
            x[1] = 3.0
        assert x.requires_grad and x.is_leaf
        (x * x).sum().backward()
        outs.append(x.grad.numpy().copy())
    np.testing.assert_allclose(outs[0], outs[1])


SAVED = {
    "input_of_mul": lambda y, w: (y * w, y),
    "input_of_sin": lambda y, w: (y.sin(), y),
    "input_of_pow": lambda y, w: (y**3, y),
    "output_of_exp": lambda y, w: (lambda z: (z, z))(y.exp()),
    "output_of_sigmoid": lambda y, w: (lambda z: (z, z))(y.sigmoid()),
    "output_of_tanh": lambda y, w: (lambda z: (z, z))(y.tanh()),
    "output_of_sqrt": lambda y, w: (lambda z: (z, z))(y.abs().sqrt()),
    "input_of_div": lambda y, w: (w / y, y),
    "input_of_matmul": lambda y, w: (y @ w.T, y),
    "input_of_abs": lambda y, w: (y.abs(), y),
    "input_of_log_softmax_out": lambda y, w: (lambda z: (z, z))(y.log_softmax(1)),
}


@pytest.mark.parametrize("w_grad", [True, False])
@pytest.mark.parametrize("name", sorted(SAVED))
def test_modifying_a_saved_tensor_raises_at_backward(name, w_grad):
    """torch saves only what the needed gradients use: ``y * w`` keeps ``y`` only when ``w``
    requires grad, so modifying ``y`` is an error exactly then."""
    raised = []
    for lib in (lossgrad, torch):
        x = lib.tensor(rand(2, 3), requires_grad=True)
        w = lib.tensor(rand(2, 3), requires_grad=w_grad)
        out, saved = SAVED[name](x * 1.0, w)
        saved.add_(1.0)
        try:
            out.sum().backward()
            raised.append(None)
        except RuntimeError as e:
            assert "modified by an inplace operation" in str(e)
            raised.append(True)
    assert raised[0] == raised[1], f"lossgrad raised: {raised[0]}, torch raised: {raised[1]}"
    if name.startswith("output") or name in ("input_of_sin", "input_of_pow", "input_of_abs"):
        assert raised[0]


@pytest.mark.parametrize("name", ["input_of_mul", "output_of_exp", "output_of_tanh"])
def test_modifying_a_saved_zero_dim_tensor_raises_at_backward(name):
    """The same check on 0-d tensors, whose NumPy results are scalars, not arrays."""
    for lib in (lossgrad, torch):
        x = lib.tensor(0.3, dtype=lib.float64, requires_grad=True)
        w = lib.tensor(-0.7, dtype=lib.float64, requires_grad=True)
        out, saved = SAVED[name](x * 1.0, w)
        saved.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.backward()


def test_modifying_a_tensor_not_saved_is_fine():
    check(lambda lib, x: (lambda y: (y + 1.0, y.mul_(2.0))[0] * 3)(x * 1.0), [rand(3)])
    check(lambda lib, x: (lambda y: (y.exp() * 1.0, y.add_(1.0))[0])(x * 1.0), [rand(3)])


def test_inplace_cast_and_shape_errors():
    check_raises(lambda lib, i: i.add_(1.5), [np.arange(3)])
    check_raises(lambda lib, i: i.mul_(lib.ones(3)), [np.arange(3)])
    check_raises(lambda lib, i: i.div_(2), [np.arange(3)])
    check_raises(lambda lib, b: b.add_(1), [np.array([True, False])])
    check_raises(lambda lib, x, y: x.add_(y), [rand(3), rand(2, 3)])
    check_raises(lambda lib, x, y: x.mul_(y), [rand(3, 1), rand(3, 4)])
    check_raises(lambda lib, x, y: x.copy_(y), [rand(3), rand(4)])
    check_raises(lambda lib, x, y: x.__setitem__(0, y), [rand(3, 4), rand(3)])
    check_raises(lambda lib, x, y: x.fill_(y), [rand(3), rand(2)])
    check(lambda lib, i: i.add_(2), [np.arange(3)], grad=())
    check(lambda lib, f: f.add_(np.int64(2)), [rand(3, dtype=np.float32)], grad=())
    check(lambda lib, f, d: f.mul_(d), [rand(3, dtype=np.float32), rand(3)], grad=())


def test_grad_fn_after_inplace():
    for lib in (lossgrad, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.add_(1)
        assert y.grad_fn.name() == "AddBackward0"
        y.mul_(y.detach())
        assert y.grad_fn.name() == "MulBackward0"
        assert not y.is_leaf and y.requires_grad


# -- in-place ops on views: torch's CopySlices ------------------------------------------------

VIEW_INPLACE = {
    "select_mul": lambda lib, y, w: y[0].mul_(3.0),
    "slice_add_tensor": lambda lib, y, w: y[:, 1:].add_(w[:, 1:]),
    "transpose_select_mul": lambda lib, y, w: y.t()[1].mul_(w[:, 0]),
    "view_slice_zero": lambda lib, y, w: y.view(-1)[1:3].zero_(),
    "unsqueeze_squeeze_exp": lambda lib, y, w: y[1].unsqueeze(0).squeeze(0).exp_(),
    "narrow_clamp": lambda lib, y, w: y.narrow(1, 0, 2).clamp_(-0.5, 0.5),
    "permute_copy": lambda lib, y, w: y.permute(1, 0)[2].copy_(w[:, 0] * 3),
    "int_index_fill": lambda lib, y, w: y[1, 2].fill_(4.0),
    "setitem_on_view": lambda lib, y, w: y[0].__setitem__(slice(0, 2), w[1, :2]),
    "view_of_view_div": lambda lib, y, w: y.reshape(3, 2)[1:].div_(w[0, :2] + 3.0),
}


@pytest.mark.parametrize("name", sorted(VIEW_INPLACE))
def test_inplace_on_a_view_updates_the_base_history(name):
    def fn(lib, x, w):
        y = x.sin()
        VIEW_INPLACE[name](lib, y, w)
        return y * y

    check(fn, [rand(2, 3), rand(2, 3)], grad=(0, 1))


def test_view_of_a_changed_base_reads_the_new_values():
    def fn(lib, x):
        y = x * 1.0
        v = y[0]
        y.mul_(x)
        return v * 2.0

    check(fn, [rand(2, 3)])


def test_modifying_a_saved_tensor_through_a_view_raises():
    for lib in (lossgrad, torch):
        x = lib.tensor(rand(2, 3), requires_grad=True)
        y = x.exp()
        y[0].add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
        y = x.tanh()
        y.transpose(0, 1).narrow(0, 1, 1).sub_(5.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_view_errors_match_torch():
    for lib in (lossgrad, torch):
        x = lib.tensor(rand(2, 3), requires_grad=True)
        with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
            x[0].add_(1.0)
        y = x * 1.0
        with pytest.raises(RuntimeError, match="Output 1 of Split is a view"):
            y.split(1)[1].exp_()
        with pytest.raises(RuntimeError, match="Output 0 of SplitWithSizes is a view"):
            y.split([1, 1])[0].add_(1.0)
        with pytest.raises(RuntimeError, match="Output 2 of Unbind is a view"):
            y.unbind(1)[2].mul_(2.0)
        with lib.no_grad():
            y.split(1)[0].add_(1.0)
            x[0].mul_(2.0)
        assert x.is_leaf and x.requires_grad


def test_views_share_the_version_counter():
    for lib in (lossgrad, torch):
        y = lib.ones(2, 3)
        v, w = y[0], y.view(6)
        v.add_(1.0)
        assert y._version == v._version == w._version == 1
        w.mul_(2.0)
        assert y._version == v._version == 2
        assert y.tolist() == [[4.0, 4.0, 4.0], [2.0, 2.0, 2.0]]
