"""Autograd against torch: backward, grad, accumulation, hooks, errors, higher derivatives,
custom Functions, gradcheck."""

from __future__ import annotations

import gc
import subprocess
import sys

import numpy as np
import pytest
import torch

import lossgrad
from parity import check_code, same_signature

ENGINE = [
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = (x * x).sum(); y.backward(); y2 = (x * 3).sum(); y2.backward()
out = x.grad
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = (x * x).sum(); y.backward(); y.backward()
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = (x + 1).sum(); y.backward(); y.backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = x * 2; y.backward()
""",
    """\
x = t.tensor([1., 2., 3.])
y = x * 2; y.sum().backward()
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = x * 2; y.backward(t.tensor([1., 0.5, 2.])); out = x.grad
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = x * 2; y.backward(t.tensor([1., 0.5])); out = x.grad
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = (x ** 3).sum()
g, = t.autograd.grad(y, x, create_graph=True)
g2, = t.autograd.grad(g.sum(), x)
out = (g, g2)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = (x ** 4).sum()
g, = t.autograd.grad(y, x, create_graph=True)
g2, = t.autograd.grad(g.sum(), x, create_graph=True)
g3, = t.autograd.grad(g2.sum(), x)
out = (g, g2, g3)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
w = t.tensor([1., 2., 3.], requires_grad=True)
y = (x * 2).sum()
out = t.autograd.grad(y, [x, w])
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
w = t.tensor([1., 2., 3.], requires_grad=True)
y = (x * 2).sum()
out = t.autograd.grad(y, [x, w], allow_unused=True)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
w = t.tensor([1., 2., 3.], requires_grad=True)
y = (x * 2).sum()
out = t.autograd.grad(y, [x, w], materialize_grads=True)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = (x * 2).sum()
out = t.autograd.grad(y, x); out2 = x.grad
out = (out, out2)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = (x * x).sum()
out = t.autograd.grad(y, x); t.autograd.grad(y, x)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
h = x * 2; h.retain_grad()
y = (h * h).sum(); y.backward()
out = (h.grad, x.grad, h.is_leaf, h.retains_grad)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
h = x * 2
y = (h * h).sum(); y.backward()
out = h.grad
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
x.register_hook(lambda g: g * 10)
(x * x).sum().backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
h = x * 2
h.register_hook(lambda g: g * 10)
(h * h).sum().backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
h = x * 2
hd = h.register_hook(lambda g: g * 10)
hd.remove()
(h * h).sum().backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
seen = []
h = x * 2
h.register_hook(lambda g: seen.append(g.clone()))
h.retain_grad()
h.register_hook(lambda g: g + 1)
(h * h).sum().backward(); out = (seen[0], h.grad, x.grad)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
h = x * 2
h.retain_grad()
h.register_hook(lambda g: g * 100)
(h * h).sum().backward(); out = (h.grad, x.grad)
""",
    """\
x = t.tensor([1., 2., 3.])
x.register_hook(lambda g: g)
""",
    """\
x = t.tensor([1., 2., 3.])
x.retain_grad()
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = x.detach(); y.requires_grad_()
out = (y.is_leaf, y.requires_grad, x.requires_grad)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = x * 2
y.requires_grad_(False)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = x * 2
z = y.detach()
out = (z, z.is_leaf, y.grad_fn is not None)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
y = x.clone()
out = (y, type(y.grad_fn).__name__)
""",
    """\
x = t.tensor([1., 2., 3.], requires_grad=True)
out = (x * 2).grad_fn.next_functions[0][0].variable is x
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = x * x
z = y.sum()
out = [type(f[0]).__name__ if f[0] is not None else None for f in z.grad_fn.next_functions]
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
out = type((x*2).grad_fn).__name__
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = (x * 2).sum()
y.backward(inputs=[x]); out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
w = t.tensor([3., 4.], requires_grad=True)
y = (x * w).sum()
y.backward(inputs=[w]); out = (x.grad, w.grad)
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
h = x * 3
y = (h * h).sum()
y.backward(inputs=[h]); out = (x.grad, h.grad)
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
h = x * 3
y = (h * h).sum()
out = t.autograd.grad(y, [h, x])
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y1 = (x * 2).sum(); y2 = (x * x).sum()
t.autograd.backward([y1, y2]); out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y1 = x * 2; y2 = (x * x).sum()
t.autograd.backward([y1, y2], [t.ones(2), None]); out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = x * 2
out = t.autograd.grad(y, x, t.ones(2))
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = x * 2
out = t.autograd.grad([y, y], x, [t.ones(2), t.ones(2)])
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = (x * 2).sum()
y.backward(create_graph=True)
out = (x.grad, type(x.grad.grad_fn).__name__ if x.grad.grad_fn else None)
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = (x ** 3).sum()
y.backward(create_graph=True)
g = x.grad
x.grad = None
g.sum().backward()
out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
x.grad = t.tensor([1., 1., 1.])
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
x.grad = t.tensor([5., 5.])
(x * 2).sum().backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
g0 = t.tensor([5., 5.])
x.grad = g0
(x * 2).sum().backward(); out = (x.grad, g0, x.grad is g0)
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
s = t.tensor(1.)
y = (x * 2).sum()
y.backward(s); x.grad.add_(100); out = s
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = x.sum()
y.backward(); y2 = x.sum(); y2.backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = x * 1
z = (y + y).sum()
z.backward(); out = x.grad
""",
    """\
x = t.tensor(2., requires_grad=True)
y = x
for i in range(10): y = y * x
y.backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = x[0] * x[1]
y.backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = x * 2
y.sum().backward(retain_graph=True); y.sum().backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2.], dtype=t.float64, requires_grad=True)
y = (x.float() * 2).sum()
y.backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = (x * 2).sum()
y.backward(gradient=t.tensor(2., dtype=t.float64)); out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = x.sum()
out = t.autograd.grad(y, x, grad_outputs=t.tensor(3.))
""",
    """\
a = t.tensor([1., 2.], requires_grad=True)
b = a.detach()
b.add_(1)
out = a
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = x * x
x.data.mul_(2)
y.sum().backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = x.exp()
y.add_(1)
y.sum().backward()
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
x.add_(1)
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = x * 2
out = (y.is_leaf, x.is_leaf, t.tensor([1.]).is_leaf)
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = (x * 2).sum()
out = t.autograd.grad(y, x, retain_graph=True), t.autograd.grad(y, x)
""",
    """\
x = t.tensor([1, 2])
out = x.requires_grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
out = t.autograd.grad((x * 2).sum(), x, create_graph=True)[0]
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
y = (x * 2).sum()
out = t.autograd.grad(y, [])
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
out = t.autograd.grad(x, x, t.ones(2))
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
x.backward(t.ones(2)); out = x.grad
""",
    """\
x = t.tensor(1., requires_grad=True)
x.backward(); out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
out = t.autograd.grad(x.sum(), x.detach())

""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
t.autograd.backward((x * 2).sum(), grad_variables=t.tensor(1.))
out = x.grad
""",
    """\
x = t.tensor([1., 2.], requires_grad=True)
out = t.autograd.gradcheck(lambda a: a * 2, (x,), raise_exception=False)
""",
]

FUNCTIONS = [
    """\
class Sq(t.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return x * x * k
    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 2 * x * g * ctx.k, None
x = t.tensor([1., 2.], requires_grad=True)
y = Sq.apply(x, 3.)
y.sum().backward()
out = (y, x.grad, type(y.grad_fn).__name__)
""",
    """\
class Sq(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x
    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 2 * x * g
x = t.tensor([1., 2.], requires_grad=True)
y = Sq.apply(x)
g, = t.autograd.grad(y.sum(), x, create_graph=True)
g2, = t.autograd.grad(g.sum(), x)
out = (g, g2)
""",
    """\
class Sq(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x
    @staticmethod
    @t.autograd.function.once_differentiable
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 2 * x * g
x = t.tensor([1., 2.], requires_grad=True)
y = Sq.apply(x)
g, = t.autograd.grad(y.sum(), x, create_graph=True)
out = g
""",
    """\
class Sq(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x
    @staticmethod
    @t.autograd.function.once_differentiable
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 2 * x * g
x = t.tensor([1., 2.], requires_grad=True)
y = Sq.apply(x)
g, = t.autograd.grad(y.sum(), x, create_graph=True)
g.sum().backward()
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        out = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        ctx.out = out
        return x + y
    @staticmethod
    def backward(ctx, g):
        return g, g
x = t.tensor([1., 2.], requires_grad=True)
y = t.tensor([1., 2.])
z = F.apply(x, y)
z.sum().backward()
out = (z.grad_fn.needs_input_grad, x.grad, y.grad)
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2
    @staticmethod
    def backward(ctx, g):
        return g, g
x = t.tensor([1., 2.], requires_grad=True)
F.apply(x).sum().backward()
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x * 2
    @staticmethod
    def backward(ctx, g):
        return g
x = t.tensor([1., 2.], requires_grad=True)
F.apply(x, x).sum().backward()
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x * 2
    @staticmethod
    def backward(ctx, g):
        return g, None, None
x = t.tensor([1., 2.], requires_grad=True)
F.apply(x, x).sum().backward()
out = x.grad
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2
    @staticmethod
    def backward(ctx, g):
        return t.ones(3)
x = t.tensor([1., 2.], requires_grad=True)
F.apply(x).sum().backward()
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        v, i = x.max(0)
        ctx.mark_non_differentiable(i)
        ctx.save_for_backward(i)
        return v, i
    @staticmethod
    def backward(ctx, gv, gi):
        i, = ctx.saved_tensors
        g = t.zeros(3)
        g[i] = gv
        return g
x = t.tensor([1., 5., 2.], requires_grad=True)
v, i = F.apply(x)
v.backward()
out = (v, i, i.requires_grad, x.grad)
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone(), x * 2
    @staticmethod
    def backward(ctx, g1, g2):
        return g1 + 2 * g2
x = t.tensor([1., 5.], requires_grad=True)
a, b = F.apply(x)
a.sum().backward()
out = x.grad
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        return x.clone(), x * 2
    @staticmethod
    def backward(ctx, g1, g2):
        return g1 if g2 is None else g1 + 2 * g2
x = t.tensor([1., 5.], requires_grad=True)
a, b = F.apply(x)
a.sum().backward()
out = x.grad
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x, 3)
        return x * 2
    @staticmethod
    def backward(ctx, g):
        return g
x = t.tensor([1., 5.], requires_grad=True)
F.apply(x)
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x, None)
        return x * 2
    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * 2 if b is None else g
x = t.tensor([1., 5.], requires_grad=True)
F.apply(x).sum().backward()
out = x.grad
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2
    @staticmethod
    def backward(ctx, g):
        return g * 2
x = t.tensor([1., 5.], requires_grad=True)
y = F.apply(x)
y.sum().backward()
y.grad_fn.saved_tensors
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2
    @staticmethod
    def backward(ctx, g):
        return g * 2
x = t.tensor([1., 5.])
y = F.apply(x)
out = (y, y.requires_grad, y.grad_fn)
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2
    @staticmethod
    def backward(ctx, g):
        return g * 2
x = t.tensor([1., 5.], requires_grad=True)
with t.no_grad():
    y = F.apply(x)
out = (y, y.requires_grad)
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x
    @staticmethod
    def backward(ctx, g):
        return g * 2
x = t.tensor([1., 5.], requires_grad=True)
y = F.apply(x)
y.sum().backward()
out = (y is x, x.grad, type(y.grad_fn).__name__)
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view(2)
    @staticmethod
    def backward(ctx, g):
        return g * 2
x = t.tensor([1., 5.], requires_grad=True)
y = F.apply(x)
y.sum().backward()
out = (x.grad)
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return t.is_grad_enabled()
    @staticmethod
    def backward(ctx, g):
        return g
x = t.tensor([1., 5.], requires_grad=True)
out = F.apply(x)
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x, n):
        return x * n
    @staticmethod
    def backward(ctx, g):
        return g, None
x = t.tensor([1., 5.], requires_grad=True)
y = F.apply(x, 3)
y.sum().backward()
out = (y, x.grad, len(y.grad_fn.next_functions))
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(x, n):
        return x * n
    @staticmethod
    def setup_context(ctx, inputs, output):
        x, n = inputs
        ctx.n = n
    @staticmethod
    def backward(ctx, g):
        return g * ctx.n, None
x = t.tensor([1., 5.], requires_grad=True)
y = F.apply(x, 3)
y.sum().backward()
out = (y, x.grad)
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2
x = t.tensor([1., 5.], requires_grad=True)
F.apply(x).sum().backward()
""",
    """\
class F(t.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.long()
    @staticmethod
    def backward(ctx, g):
        return g
x = t.tensor([1., 5.], requires_grad=True)
y = F.apply(x)
out = (y, y.requires_grad)
""",
    """\
x = t.tensor([1., 2.], dtype=t.float64, requires_grad=True)
out = t.autograd.gradcheck(lambda a: (a ** 3).sum(), (x,))
""",
    """\
x = t.tensor([1., 2.], dtype=t.float64, requires_grad=True)
out = t.autograd.gradgradcheck(lambda a: (a ** 3).sum(), (x,))
""",
    """\
x = t.tensor([1., 2.], dtype=t.float64, requires_grad=True)
class Bad(t.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        return a * a
    @staticmethod
    def backward(ctx, g):
        return g
out = t.autograd.gradcheck(Bad.apply, (x,), raise_exception=False)
""",
    """\
x = t.tensor([1., 2.], dtype=t.float64, requires_grad=True)
class Bad(t.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        return a * a
    @staticmethod
    def backward(ctx, g):
        return g
t.autograd.gradcheck(Bad.apply, (x,))
""",
    """\
x = t.tensor([1., 2.], dtype=t.float64, requires_grad=True)
w = t.tensor([3., 4.], dtype=t.float64, requires_grad=True)
f = lambda a, b: a * b.exp()  # noqa: E731
out = t.autograd.gradcheck(f, (x, w)), t.autograd.gradgradcheck(f, (x, w))

""",
]


@pytest.mark.parametrize("src", ENGINE)
def test_engine_matches_torch(src: str) -> None:
    check_code(src, warns="create_graph=True" not in src, rtol=1e-6)


@pytest.mark.parametrize("src", FUNCTIONS)
def test_custom_function_matches_torch(src: str) -> None:
    check_code(src, message="gradcheck" not in src, rtol=1e-6)


def test_gradcheck_error_message_shows_jacobians() -> None:
    class Bad(lossgrad.autograd.Function):
        @staticmethod
        def forward(ctx, a):  # noqa: ANN001, ANN205
            return a * a

        @staticmethod
        def backward(ctx, g):  # noqa: ANN001, ANN205
            return g

    x = lossgrad.tensor([1.0, 2.0], dtype=lossgrad.float64, requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        lossgrad.autograd.gradcheck(Bad.apply, (x,))
    assert type(info.value).__name__ == "GradcheckError"
    assert "numerical:tensor([[2.0000, 0.0000]," in str(info.value)


def test_100k_op_chain_backpropagates() -> None:
    """The walk is iterative: no recursion limit. (The cyclic GC is paused while the chain is
    built: it only costs time here, as it repeatedly scans the 100,000 live nodes.)"""
    x = lossgrad.tensor(1.5, dtype=lossgrad.float64, requires_grad=True)
    h = x
    gc.disable()
    try:
        for _ in range(100_000):
            h = h * 1.00001
        h.backward()
    finally:
        gc.enable()
    assert x.grad.item() == pytest.approx(1.00001**100_000, rel=1e-9)


def test_random_dag_gradients_match_torch() -> None:
    """A graph where nodes are reused many times (dependency counting, buffer accumulation)."""
    rng = np.random.default_rng(0)
    plan = [(int(rng.integers(0, k + 2)), int(rng.integers(0, k + 2)), int(rng.integers(0, 4)))
            for k in range(60)]
    a0 = rng.standard_normal(5)
    b0 = rng.standard_normal(5)

    def run(lib):  # noqa: ANN001, ANN202
        a = lib.tensor(a0, requires_grad=True)
        b = lib.tensor(b0, requires_grad=True)
        nodes = [a, b]
        for i, j, op in plan:
            u, v = nodes[i], nodes[j]
            nodes.append([u * v, u + v, lib.tanh(u) - v, u * 0.5 + lib.sin(v)][op])
        loss = sum(n.sum() for n in nodes[-10:])
        ga, gb = lib.autograd.grad(loss, [a, b], create_graph=True)
        gga = lib.autograd.grad((ga * gb).sum(), a)[0]
        return [t.detach().numpy() for t in (loss, ga, gb, gga)]

    for lg, th in zip(run(lossgrad), run(torch), strict=True):
        np.testing.assert_allclose(lg, th, rtol=1e-10, atol=1e-12)


def test_leaf_grads_never_alias() -> None:
    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    w = lossgrad.tensor([3.0, 4.0], requires_grad=True)
    (x + w).sum().backward()  # add's backward hands the same gradient to both inputs
    x.grad.add_(10)
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])
    seed = lossgrad.tensor([1.0, 1.0])
    v = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    (v * 1).backward(seed)
    v.grad.mul_(5)
    np.testing.assert_array_equal(seed.numpy(), [1.0, 1.0])
    kept = []
    u = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    u.register_hook(lambda g: kept.append(g))
    (u * 3).sum().backward()
    (u * 3).sum().backward()
    np.testing.assert_array_equal(kept[0].numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(u.grad.numpy(), [6.0, 6.0])


def test_accumulation_is_in_place_after_the_first_backward() -> None:
    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    g = x.grad
    (x * x).sum().backward()
    assert x.grad is g
    np.testing.assert_array_equal(g.numpy(), [4.0, 8.0])


def test_node_hooks_and_next_functions() -> None:
    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    handle = y.grad_fn.register_hook(lambda gi, go: seen.append((gi[0].tolist(), go[0].tolist())))
    y.sum().backward(retain_graph=True)
    handle.remove()
    y.sum().backward()
    assert seen == [([3.0, 3.0], [1.0, 1.0])]
    (fn, nr), (none, _) = y.grad_fn.next_functions
    assert type(fn).__name__ == "AccumulateGrad" and fn.variable is x and nr == 0
    assert none is None


def test_saved_tensors_of_outputs_reattach_to_graph() -> None:
    """exp saves its output; its double backward must flow through that output."""
    check_code("""\
x = t.tensor([0.5, -1.0], dtype=t.float64, requires_grad=True)
y = x.exp()
g, = t.autograd.grad(y.sum(), x, create_graph=True)
g2, = t.autograd.grad(g.sum(), x)
out = (g, g2)
""")


@pytest.mark.parametrize("fn", [
    lambda a, b: (a * b).sum(),
    lambda a, b: (a / b).tanh(),
    lambda a, b: (a ** 3 - b.exp()) * a,
    lambda a, b: (a.sigmoid() * b.log1p().abs()).sum(0),
])
def test_gradcheck_and_gradgradcheck_builtin_ops(fn) -> None:  # noqa: ANN001
    rng = np.random.default_rng(3)
    a = lossgrad.tensor(rng.uniform(0.5, 1.5, (2, 3)), requires_grad=True)
    b = lossgrad.tensor(rng.uniform(0.5, 1.5, (2, 3)), requires_grad=True)
    assert lossgrad.autograd.gradcheck(fn, (a, b))
    assert lossgrad.autograd.gradgradcheck(fn, (a, b))


def test_gradcheck_reports_wrong_second_derivative() -> None:
    class WrongSecond(lossgrad.autograd.Function):
        @staticmethod
        def forward(ctx, a):  # noqa: ANN001, ANN205
            ctx.save_for_backward(a)
            return a ** 3

        @staticmethod
        def backward(ctx, g):  # noqa: ANN001, ANN205
            (a,) = ctx.saved_tensors
            return g * 3 * a.detach() ** 2  # right values, no second-order graph

    x = lossgrad.tensor([1.0, 2.0], dtype=lossgrad.float64, requires_grad=True)
    assert lossgrad.autograd.gradcheck(WrongSecond.apply, (x,))
    assert not lossgrad.autograd.gradgradcheck(WrongSecond.apply, (x,), raise_exception=False)


def test_create_graph_backward_warns_once_like_torch() -> None:
    code = (
        "import warnings\n"
        "import {lib} as t\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    for _ in range(2):\n"
        "        x = t.tensor([1., 2.], requires_grad=True)\n"
        "        (x ** 3).sum().backward(create_graph=True)\n"
        "for x in w: print(x.category.__name__, str(x.message).split(' (Triggered')[0])\n"
    )
    outs = [
        subprocess.run([sys.executable, "-c", code.format(lib=lib)], capture_output=True,
                       text=True, check=True).stdout
        for lib in ("torch", "lossgrad")
    ]
    assert outs[1] == outs[0] and outs[0].count("\n") == 1


def test_float_warnings_are_silenced_like_torch() -> None:
    check_code("""\
x = t.tensor([0., 1.], requires_grad=True)
y = t.log(x) * x
y.sum().backward()
out = (y, x.grad)
""")


@pytest.mark.parametrize("name", [
    "autograd.backward", "autograd.grad", "autograd.gradcheck", "autograd.gradgradcheck",
    "Tensor.backward", "Tensor.register_hook", "manual_seed", "set_printoptions",
])
def test_signatures_match_torch(name: str) -> None:
    def resolve(lib):  # noqa: ANN001, ANN202
        obj = lib
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj

    same_signature(resolve(lossgrad), resolve(torch))


def test_fresh_gradient_is_adopted_and_held_ones_are_copied() -> None:
    """Like torch's AccumulateGrad: .grad takes a gradient array nobody else holds (no extra
    pass over memory), and copies one that a user tensor, a hook or another leaf can see."""
    ids = []
    user = lossgrad.tensor([5.0, 6.0])

    class Fresh(lossgrad.autograd.Function):
        @staticmethod
        def forward(ctx, a):  # noqa: ANN001, ANN205
            return a * 2

        @staticmethod
        def backward(ctx, g):  # noqa: ANN001, ANN205
            out = g * 2
            ids.append(id(out._data))
            return out

    class Held(Fresh):
        @staticmethod
        def backward(ctx, g):  # noqa: ANN001, ANN205
            return user

    x = lossgrad.tensor([1.0, 2.0], requires_grad=True)
    Fresh.apply(x).sum().backward()
    assert id(x.grad._data) == ids[0]
    x.grad = None
    Held.apply(x).sum().backward()
    x.grad.add_(1)
    np.testing.assert_array_equal(user.numpy(), [5.0, 6.0])
    kept = []
    x.grad = None
    x.register_hook(lambda g: kept.append(g.detach()))
    Fresh.apply(x).sum().backward()
    x.grad.add_(1)
    np.testing.assert_array_equal(kept[0].numpy(), [2.0, 2.0])
