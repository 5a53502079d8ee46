"""The engine's array path: ``backward_array`` (run without create_graph) agrees with the Tensor
``backward`` (run, and differentiated again, with create_graph), and the fused linear (addmm)
matches torch's values, gradients, second gradients and node name."""

import numpy as np
import pytest
import torch

import lossgrad
from parity import check

rng = np.random.default_rng(11)


def rand(*shape, dtype=np.float64, positive=False):
    a = rng.standard_normal(shape)
    return np.asarray(np.abs(a) + 0.5 if positive else a, dtype=dtype)


# (name, fn(lib, *tensors), input arrays): every op with a ``backward_array``, with broadcasting
# operands where the op broadcasts, so the array path's un-broadcasting is exercised too.
CASES = [
    ("add", lambda lib, a, b: a + b, [rand(3, 4), rand(4)]),
    ("add_scalar", lambda lib, a, b: a + 0.5 + b, [rand(3, 1), rand(1, 4)]),
    ("add_alpha", lambda lib, a, b: lib.add(a, b, alpha=2.5), [rand(3, 4), rand(3, 4)]),
    ("sub", lambda lib, a, b: a - b, [rand(2, 3, 4), rand(3, 1)]),
    ("sub_alpha", lambda lib, a, b: lib.sub(a, b, alpha=-1.5), [rand(3, 4), rand(4)]),
    ("mul", lambda lib, a, b: a * b, [rand(3, 4), rand(1, 4)]),
    ("mul_self", lambda lib, a, b: a * a * b, [rand(3, 4), rand(3, 4)]),
    ("div", lambda lib, a, b: a / b, [rand(3, 4), rand(4, positive=True)]),
    ("pow2", lambda lib, a, b: a**2 * b, [rand(3, 4), rand(3, 4)]),
    ("pow3", lambda lib, a, b: a**3 * b, [rand(3, 4), rand(3, 4)]),
    ("pow_half", lambda lib, a, b: a**0.5 * b, [rand(3, 4, positive=True), rand(3, 4)]),
    ("pow0", lambda lib, a, b: a**0 * b + a, [rand(3, 4), rand(3, 4)]),
    ("neg", lambda lib, a, b: -a * b, [rand(3, 4), rand(3, 4)]),
    ("exp", lambda lib, a, b: lib.exp(a) * b, [rand(3, 4), rand(3, 4)]),
    ("log", lambda lib, a, b: lib.log(a) * b, [rand(3, 4, positive=True), rand(3, 4)]),
    ("tanh", lambda lib, a, b: lib.tanh(a) * b, [rand(3, 4), rand(3, 4)]),
    ("sigmoid", lambda lib, a, b: lib.sigmoid(a) * b, [rand(3, 4), rand(3, 4)]),
    ("relu", lambda lib, a, b: lib.relu(a) * b, [rand(3, 4), rand(3, 4)]),
    ("sum_all", lambda lib, a, b: (a * b).sum() * b, [rand(3, 4), rand(3, 4)]),
    ("sum_dim", lambda lib, a, b: a.sum(1) * b.sum(0, keepdim=True), [rand(3, 4), rand(4, 3)]),
    ("mean", lambda lib, a, b: a.mean((0, 2)) * b, [rand(2, 3, 4), rand(3)]),
    ("mean_all", lambda lib, a, b: (a * b).mean() * a, [rand(3, 4), rand(3, 4)]),
    ("reshape", lambda lib, a, b: a.reshape(4, 3) * b, [rand(3, 4), rand(4, 3)]),
    ("unsqueeze", lambda lib, a, b: a.unsqueeze(1) * b, [rand(3), rand(3, 2)]),
    ("transpose", lambda lib, a, b: a.transpose(0, 1) * b, [rand(3, 4), rand(4, 3)]),
    ("permute", lambda lib, a, b: a.permute(2, 0, 1) * b, [rand(2, 3, 4), rand(4, 2, 3)]),
    ("expand", lambda lib, a, b: a.expand(3, 4) * b, [rand(1, 4), rand(3, 4)]),
    ("to_dtype", lambda lib, a, b: a.to(lib.float32).to(lib.float64) * b, [rand(3), rand(3)]),
    ("matmul", lambda lib, a, b: lib.tanh(a @ b), [rand(3, 4), rand(4, 2)]),
    ("matvec", lambda lib, a, b: lib.tanh(a @ b), [rand(3, 4), rand(4)]),
    ("vecmat", lambda lib, a, b: lib.tanh(a @ b), [rand(4), rand(2, 4, 3)]),
    ("dot", lambda lib, a, b: lib.tanh(a @ b), [rand(4), rand(4)]),
    ("batched", lambda lib, a, b: lib.tanh(a @ b), [rand(2, 3, 4), rand(4, 5)]),
    (
        "linear",
        lambda lib, a, b: lib.tanh(lib.nn.functional.linear(a, b, b[:, 0])),
        [rand(5, 3), rand(2, 3)],
    ),
]


def _grads(fn, arrays, create_graph):
    xs = [lossgrad.tensor(a, requires_grad=True) for a in arrays]
    out = fn(lossgrad, *xs)
    seed = lossgrad.tensor(np.linspace(-1.0, 1.0, out.numel()).reshape(out.shape))
    return lossgrad.autograd.grad(out, xs, seed, create_graph=create_graph)


@pytest.mark.parametrize("name,fn,arrays", CASES, ids=[c[0] for c in CASES])
def test_array_backward_equals_tensor_backward(name, fn, arrays):
    """The first-order array path gives the Tensor path's gradients, bit for bit or nearly (the
    fused and unfused products may round differently)."""
    fast = _grads(fn, arrays, create_graph=False)
    slow = _grads(fn, arrays, create_graph=True)
    for f, s in zip(fast, slow, strict=True):
        assert f.grad_fn is None
        assert f.dtype == s.dtype and f.shape == s.shape
        np.testing.assert_allclose(f.numpy(), s.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,fn,arrays", CASES, ids=[c[0] for c in CASES])
def test_ops_with_array_backward_match_torch(name, fn, arrays):
    check(fn, arrays, grad=(0, 1))


def test_array_backward_float32_stays_float32():
    check(
        lambda lib, a, b: lib.tanh(a * b + 0.5) - a,
        [rand(16, dtype=np.float32), rand(16, dtype=np.float32)],
        grad=(0, 1),
    )


def test_backward_array_not_inherited_by_a_subclass_overriding_backward():
    """floor_divide's node overrides div's backward to raise: it must not run an array version."""
    a = lossgrad.tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="floor_divide"):
        lossgrad.floor_divide(a, 2.0).sum().backward()


def test_backward_array_checks_in_place_modification():
    a = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    b = a * 1.0
    y = (b * b).sum()
    b.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_backward_array_refuses_a_freed_graph():
    a = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    y = lossgrad.exp(a).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


# -- fused linear ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_2d_with_bias_matches_torch(dtype):
    check(
        lambda lib, x, w, b: lib.nn.functional.linear(x, w, b) ** 2,
        [rand(5, 3, dtype=dtype), rand(4, 3, dtype=dtype), rand(4, dtype=dtype)],
        grad=(0, 1, 2),
    )


@pytest.mark.parametrize("shape", [(3,), (2, 5, 3)], ids=str)
def test_linear_other_ranks_match_torch(shape):
    check(
        lambda lib, x, w, b: lib.nn.functional.linear(x, w, b).tanh(),
        [rand(*shape), rand(4, 3), rand(4)],
        grad=(0, 1, 2),
    )


def test_linear_2d_node_is_addmm():
    outs = []
    for lib in (lossgrad, torch):
        x = lib.ones(2, 3, requires_grad=True)
        w = lib.ones(4, 3, requires_grad=True)
        b = lib.ones(4, requires_grad=True)
        outs.append(lib.nn.functional.linear(x, w, b).grad_fn.name())
    assert outs[0] == outs[1] == "AddmmBackward0"


def test_linear_weight_only_trained_and_mismatched_dtypes_follow_torch():
    check(
        lambda lib, x, w, b: lib.nn.functional.linear(x, w, b).tanh(),
        [rand(5, 3), rand(4, 3), rand(4)],
        grad=(1,),
    )
    for shape in [(3,), (5, 3), (2, 5, 3)]:
        check(
            lambda lib, x, w, b: lib.nn.functional.linear(x, w, b),
            [rand(*shape), rand(4, 3), rand(4, dtype=np.float32)],
            grad=(0,),
        )


def test_last_use_tells_backward_array_when_it_may_consume_its_buffers():
    """``ctx.last_use`` is False while the graph is retained and True on the final walk, so a
    fused op may hand a buffer it kept from the forward out as the gradient only then."""
    from lossgrad.autograd.function import ArrayFunction

    seen = []

    class Twice(ArrayFunction):
        @staticmethod
        def forward(ctx, a):
            ctx.buf = np.full(a.shape, 2.0)
            return a * 2.0

        @staticmethod
        def backward(ctx, g):  # the create_graph path (not taken here)
            return g * 2.0

        @staticmethod
        def backward_array(ctx, g):
            seen.append(ctx.last_use)
            if ctx.last_use:
                buf, ctx.buf = ctx.buf, None
                return np.multiply(buf, g, out=buf)
            return ctx.buf * g

    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    y = Twice.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert seen == [False, True]
    assert x.grad.tolist() == [4.0, 4.0]  # 2 + 2: the retained walk left the buffer intact


# -- the one-node fast path of ``backward()`` (a fused loss straight on leaves) ----------------


def _dot_fn(shape_out=None, dtype_out=None):
    """``sum(a * b)`` as a built-in op with a ``backward_array`` (optionally returning a wrong
    shape or dtype for ``a``)."""
    from lossgrad.autograd.function import ArrayFunction

    class Dot(ArrayFunction):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return np.asarray((a * b).sum())

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * a

        @staticmethod
        def backward_array(ctx, g):
            a, b = ctx._saved_arrays()
            ga = g * b
            if shape_out is not None:
                ga = np.ones(shape_out)
            if dtype_out is not None:
                ga = ga.astype(dtype_out)
            return ga, g * a

    return Dot


def test_fast_path_sums_a_leaf_reached_twice():
    x = lossgrad.tensor([1.0, -2.0, 3.0], requires_grad=True)
    _dot_fn().apply(x, x).backward()
    assert x.grad.tolist() == [2.0, -4.0, 6.0]


def test_fast_path_casts_and_checks_gradients():
    x = lossgrad.tensor([1.0, 2.0], dtype=lossgrad.float32, requires_grad=True)
    y = lossgrad.tensor([3.0, 4.0], dtype=lossgrad.float32, requires_grad=True)
    _dot_fn(dtype_out=np.float64).apply(x, y).backward()
    assert x.grad.dtype == lossgrad.float32 and x.grad.tolist() == [3.0, 4.0]
    with pytest.raises(RuntimeError, match="invalid gradient at index 0"):
        _dot_fn(shape_out=(3,)).apply(x, y).backward()


@pytest.mark.parametrize("where", ["leaf", "root"])
def test_fast_path_leaves_hooks_to_the_general_walk(where):
    a = rand(5)
    b = rand(5)
    grads = []
    for lib in (lossgrad, torch):
        x = lib.tensor(a, requires_grad=True)
        loss = lib.nn.functional.mse_loss(x, lib.tensor(b))
        (x if where == "leaf" else loss).register_hook(lambda g: g * 3)
        loss.backward()
        grads.append(x.grad.detach().numpy() if lib is torch else x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def test_fast_path_retained_graph_accumulates_then_frees():
    a, b = rand(4), rand(4)
    seen = []
    for lib in (lossgrad, torch):
        x = lib.tensor(a, requires_grad=True)
        loss = lib.nn.functional.smooth_l1_loss(x, lib.tensor(b), beta=0.5)
        loss.backward(retain_graph=True)
        loss.backward(retain_graph=True)
        loss.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            loss.backward()
        seen.append(x.grad.detach().numpy().copy())
    np.testing.assert_allclose(seen[0], seen[1], rtol=1e-12)


CHAINS = [
    ("sum_of_unreduced", lambda lib, x, y: lib.nn.functional.l1_loss(x, y, reduction="none").sum()),
    ("mean_of_distance", lambda lib, x, y: lib.nn.functional.pairwise_distance(x, y).mean()),
    ("scaled_loss", lambda lib, x, y: lib.nn.functional.mse_loss(x, y) * 0.5),
    ("three_nodes", lambda lib, x, y: (lib.nn.functional.cosine_similarity(x, y) * 2.0).sum()),
    (
        "leaf_twice",
        lambda lib, x, y: (lib.nn.functional.mse_loss(x, y, reduction="none") * x).sum(),
    ),
    ("branching", lambda lib, x, y: (x * y).sum() + (x - y).sum()),
]


@pytest.mark.parametrize("name, fn", CHAINS, ids=[c[0] for c in CHAINS])
def test_chain_fast_path_matches_torch_and_the_general_walk(name, fn):
    """A chain of nodes over leaves (a loss then ``.sum()``, ``.mean()``, a scale) runs node by
    node without the general walk; graphs that are not chains (a leaf reached twice, two
    branches) take the walk. Both give torch's gradients, through a retained graph twice."""
    a, b = rand(4, 3), rand(4, 3)
    grads = []
    for lib in (lossgrad, torch):
        x = lib.tensor(a, requires_grad=True)
        y = lib.tensor(b, requires_grad=True)
        out = fn(lib, x, y)
        out.backward(retain_graph=True)
        out.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            out.backward()
        grads.append([t.grad.detach().numpy() if lib is torch else t.grad.numpy() for t in (x, y)])
    for mine, theirs in zip(grads[0], grads[1], strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-15)


def test_chain_fast_path_is_taken_and_leaves_hooks_to_the_walk(monkeypatch):
    """The chain path handles ``loss(reduction='none').mean()`` itself (the general walk is never
    entered); a hook on the intermediate loss sends it to the walk, which runs the hook."""
    from lossgrad.autograd import engine

    walked = []
    walk = engine._walk
    monkeypatch.setattr(engine, "_walk", lambda *a: walked.append(1) or walk(*a))
    x = lossgrad.tensor(rand(6), requires_grad=True)
    loss = lossgrad.nn.functional.mse_loss(x, lossgrad.zeros(6), reduction="none")
    loss.mean().backward()
    assert walked == [] and np.allclose(x.grad.numpy(), 2 * x.detach().numpy() / 6)
    x.grad = None
    loss = lossgrad.nn.functional.mse_loss(x, lossgrad.zeros(6), reduction="none")
    loss.register_hook(lambda g: g * 3)
    loss.mean().backward()
    assert walked == [1] and np.allclose(x.grad.numpy(), 6 * x.detach().numpy() / 6)


def test_chain_fast_path_materializes_a_missing_gradient(monkeypatch):
    """A built-in node that returns no gradient for its Tensor input hands zeros on down the
    chain, as the general walk does (the leaf gets a zero gradient either way)."""
    from lossgrad.autograd import engine
    from lossgrad.autograd.function import ArrayFunction

    class Stop(ArrayFunction):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward_array(ctx, g):
            return None

        @staticmethod
        def backward(ctx, g):
            return None

    results = []
    for chain in (True, False):
        if not chain:
            monkeypatch.setattr(engine, "_plain_chain", lambda roots: None)
        x = lossgrad.tensor(rand(3), requires_grad=True)
        Stop.apply(
            lossgrad.nn.functional.l1_loss(x, lossgrad.zeros(3), reduction="none")
        ).sum().backward()
        results.append(x.grad.numpy())
    np.testing.assert_array_equal(results[0], np.zeros(3))
    np.testing.assert_array_equal(results[1], np.zeros(3))


def _legendre3(lib):
    """The tutorial's user Function (Legendre P3); its backward scales ``grad_output`` in
    place, which the root's implicit gradient must allow."""

    class LegendrePolynomial3(lib.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input**3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            (input,) = ctx.saved_tensors
            return grad_output.mul_(1.5) * (5 * input**2 - 1)

    return LegendrePolynomial3


def test_chain_fast_path_runs_user_functions(monkeypatch):
    """A training step through a user Function (``a + b P3(c + d x)``, summed squares) is a
    chain: it runs without the general walk and gives torch's gradients of the four scalar
    parameters; a user Function at the root (its backward writing into its ``grad_output``)
    gets an implicit gradient of its own, as torch's."""
    from lossgrad.autograd import engine

    walked = []
    walk = engine._walk
    monkeypatch.setattr(engine, "_walk", lambda *a: walked.append(1) or walk(*a))
    points, values = np.linspace(-3.0, 3.0, 7), [0.1, -1.0, 0.2, 0.3]
    grads = []
    for lib in (lossgrad, torch):
        p3 = _legendre3(lib).apply
        x, y = lib.tensor(points), lib.tensor(np.sin(points))
        a, b, c, d = (lib.tensor(v, dtype=lib.float64, requires_grad=True) for v in values)
        ((a + b * p3(c + d * x) - y) ** 2).sum().backward()
        root = lib.tensor(0.4, dtype=lib.float64, requires_grad=True)
        p3(root).backward()
        p3(root).backward()
        grads.append([float(t.grad) for t in (a, b, c, d, root)])
    assert walked == []
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)
