"""The life cycle of a graph and of a leaf's gradient, against torch: a node is freed by a
backward without ``retain_graph`` (a second backward through it raises torch's error where
torch's does), post-accumulate-grad hooks run after ``.grad`` is summed, and summing into
``.grad`` never leaks a NumPy warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import lossgrad

LIBS = (lossgrad, torch)

# torch's message, word for word (torch/csrc/autograd/saved_variable.cpp, ERR_BACKWARD_TWICE)
TWICE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling backward."
)


def _leaf(lib, values=((0.3, -1.2, 0.7), (1.5, 0.4, -0.8))):  # noqa: ANN001, ANN202
    return lib.tensor(np.array(values), requires_grad=True)


def _second_backward(lib, op):  # noqa: ANN001, ANN202
    """Backward twice through ``op(leaf)`` (each time through a new node on top): the message
    of the error raised the second time (None if none) and the leaf's gradient."""
    e = _leaf(lib)
    a = op(lib, e)
    (a * 1).sum().backward()
    try:
        (a * 2).sum().backward()
    except RuntimeError as exc:
        return str(exc), e.grad.detach().numpy(force=True)
    return None, e.grad.detach().numpy(force=True)


def test_indexing_twice_without_retain_graph_raises_like_torch():
    """The reported case: ``a = e[idx]`` feeds two losses, each backward on its own: torch
    refuses the second (IndexBackward0 saved the indices); the first gradient stays."""
    results = []
    for lib in LIBS:
        e = _leaf(lib)
        a = e[lib.tensor([0, 1, 1])]
        loss1, loss2 = (a**2).sum(), a.sum()
        loss1.backward()
        with pytest.raises(RuntimeError) as info:
            loss2.backward()
        results.append((str(info.value), e.grad.detach().numpy().copy()))
    assert results[0][0] == results[1][0] == TWICE
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)


OPS = {
    "add": lambda L, e: e + 1,
    "rsub": lambda L, e: 1 - e,
    "neg": lambda L, e: -e,
    "mul": lambda L, e: e * 2,
    "div": lambda L, e: e / 2,
    "exp": lambda L, e: e.exp(),
    "tanh": lambda L, e: e.tanh(),
    "relu": lambda L, e: e.relu(),
    "sum": lambda L, e: e.sum(0),
    "mean": lambda L, e: e.mean(),
    "view": lambda L, e: e.view(6),
    "expand": lambda L, e: e[None].expand(2, 2, 3),
    "transpose": lambda L, e: e.t(),
    "unsqueeze": lambda L, e: e.unsqueeze(0),
    "clone": lambda L, e: e.clone(),
    "select": lambda L, e: e[0],
    "slice": lambda L, e: e[:, 1:],
    "index": lambda L, e: e[L.tensor([0, 1, 1])],
    "cat": lambda L, e: L.cat([e, e]),
    "stack": lambda L, e: L.stack([e, e]),
    "split": lambda L, e: e.split(1)[0],
    "to_float32": lambda L, e: e.to(L.float32),
    "flip": lambda L, e: e.flip(0),
    "repeat": lambda L, e: e.repeat(2, 1),
    "floor": lambda L, e: e.floor(),
    "sgn": lambda L, e: e.sgn(),
    "cumsum": lambda L, e: e.cumsum(0),
    "max_dim": lambda L, e: e.max(0)[0],
    "masked_fill": lambda L, e: e.masked_fill(e.detach() > 0, 0.0),
    "gather": lambda L, e: e.gather(1, L.tensor([[0], [1]])),
    "index_select": lambda L, e: e.index_select(1, L.tensor([0, 2])),
    "sort": lambda L, e: e.sort(1)[0],
    "topk": lambda L, e: e.topk(2)[0],
    "div_floor": lambda L, e: L.div(e, 2.0, rounding_mode="floor"),
    "matmul": lambda L, e: e @ e.detach().t(),
    "mse_loss": lambda L, e: L.nn.functional.mse_loss(e, e.detach() * 0.5, reduction="none"),
    "cross_entropy": lambda L, e: L.nn.functional.cross_entropy(e, L.tensor([0, 2])),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_a_second_backward_raises_where_torch_raises(name):
    """torch refuses a second backward through a node that saved tensors; through the others
    (add, sum, views, ...) it runs again and accumulates."""
    (mine, mine_grad), (theirs, their_grad) = (_second_backward(lib, OPS[name]) for lib in LIBS)
    assert mine == theirs
    np.testing.assert_allclose(mine_grad, their_grad, rtol=1e-12, atol=1e-15)


def test_retain_graph_allows_one_more_backward():
    results = []
    for lib in LIBS:
        e = _leaf(lib)
        loss = e.exp().sum()
        loss.backward(retain_graph=True)
        loss.backward()  # the graph is freed now
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            loss.backward()
        results.append(e.grad.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


@pytest.mark.parametrize("saves", [True, False])
def test_a_custom_function_raises_when_it_reads_freed_saved_tensors(saves):
    """A user Function is freed too: reading ``ctx.saved_tensors`` afterwards raises, whether
    or not it saved anything; one whose backward reads nothing runs again (as in torch)."""
    outcomes = []
    for lib in LIBS:

        class Double(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):  # noqa: ANN001, ANN205
                if saves:
                    ctx.save_for_backward(x)
                return x * 2

            @staticmethod
            def backward(ctx, grad):  # noqa: ANN001, ANN205
                ctx.saved_tensors  # noqa: B018 - reading them is the point
                return grad * 2

        class Blind(Double):
            @staticmethod
            def backward(ctx, grad):  # noqa: ANN001, ANN205
                return grad * 2

        row = []
        for fn in (Double, Blind):
            e = _leaf(lib)
            out = fn.apply(e)
            out.sum().backward()
            try:
                out.sum().backward()
                row.append(None)
            except RuntimeError as exc:
                row.append(str(exc))
        outcomes.append(row)
    assert outcomes[0] == outcomes[1] == [TWICE, None]


def test_create_graph_frees_too_unless_retained():
    """``create_graph=True`` retains the graph by default (torch's retain_graph=None rule);
    ``retain_graph=False`` frees it."""
    for lib in LIBS:
        e = _leaf(lib)
        loss = (e**3).sum()
        (g,) = lib.autograd.grad(loss, e, create_graph=True, retain_graph=False)
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            lib.autograd.grad(loss, e)
        (g.sum()).backward()  # the new graph of the gradient is intact


# -- post-accumulate-grad hooks ---------------------------------------------------------------


def _hook_log(lib, create_graph):  # noqa: ANN001, ANN202
    """What the hooks see over a backward, a second backward, autograd.grad and a removal."""
    x = _leaf(lib)
    w = _leaf(lib, ((0.5, 2.0, -1.0), (0.1, 0.2, 0.3)))
    log = []
    x.register_hook(lambda grad: log.append(("tensor hook", grad.detach().numpy().tolist())))
    first = x.register_post_accumulate_grad_hook(
        lambda p: log.append(("first", p is x, p.grad.detach().numpy().tolist()))
    )
    x.register_post_accumulate_grad_hook(
        lambda p: log.append(("second", lib.is_grad_enabled(), p.grad.requires_grad))
    )
    (x * w).sum().backward(create_graph=create_graph)
    (x * x).sum().backward(inputs=[w, x], create_graph=create_graph)
    lib.autograd.grad((x * w).sum(), x)  # accumulates nothing: no post hook
    first.remove()
    (x * w).sum().backward(inputs=[w])  # x is not accumulated
    (x * 3).sum().backward()
    return log


@pytest.mark.parametrize("create_graph", [False, True])
def test_post_accumulate_grad_hooks_match_torch(create_graph):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # create_graph's reference-cycle warning
        mine, theirs = (_hook_log(lib, create_graph) for lib in LIBS)
    assert mine == theirs
    assert [entry[0] for entry in mine].count("first") == 2


def test_post_accumulate_grad_hook_can_take_the_gradient():
    """What a data-parallel helper does: read ``.grad`` in the hook, then clear it."""
    grads = []
    for lib in LIBS:
        p = _leaf(lib)
        seen = []

        def take(param, seen=seen):  # noqa: ANN001, ANN202
            seen.append(param.grad.detach().numpy().copy())
            param.grad = None

        p.register_post_accumulate_grad_hook(take)
        (p**2).sum().backward()
        (p * 3).sum().backward()
        assert p.grad is None
        grads.append(seen)
    np.testing.assert_allclose(np.array(grads[0]), np.array(grads[1]), rtol=1e-12)


def test_post_accumulate_grad_hook_errors_match_torch():
    for lib in LIBS:
        x = _leaf(lib)
        with pytest.raises(RuntimeError, match="^post accumulate grad hooks cannot be registered"):
            (x * 2).register_post_accumulate_grad_hook(lambda p: None)
        with pytest.raises(RuntimeError, match="^cannot register a hook on a tensor that doesn't"):
            lib.ones(2).register_post_accumulate_grad_hook(lambda p: None)
        x.register_post_accumulate_grad_hook(lambda p: p.grad)
        with pytest.raises(RuntimeError, match=r"^Tensor post accumulate grad hooks should return"):
            (x * 2).sum().backward()
        np.testing.assert_array_equal(x.grad.detach().numpy(), np.full((2, 3), 2.0))


# -- no NumPy warning from accumulation ---------------------------------------------------------


@pytest.mark.parametrize("chain", [True, False])
def test_inf_meeting_minus_inf_in_grad_is_nan_without_a_warning(chain):
    """Two backwards through a retained graph whose gradients are +inf then -inf: ``.grad``
    is NaN, as in torch, and no NumPy RuntimeWarning escapes (``chain``: the one-node graph the
    engine's chain path takes; else a graph with a reused node, which the general walk takes)."""
    results = []
    for lib in LIBS:
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        scale = lib.tensor([float("inf"), 1.0])
        y = x * scale if chain else (x * scale) + (x * scale).detach()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y.backward(lib.tensor([1.0, 1.0]), retain_graph=True)  # .grad[0] = inf
            y.backward(lib.tensor([-1.0, 1.0]))  # inf + -inf
        results.append(x.grad.detach().numpy())
    np.testing.assert_array_equal(results[0], results[1])
    assert np.isnan(results[0][0])


def test_post_accumulate_hook_return_values_as_torch():
    """torch accepts None or the tensor itself (an in-place update's result); another tensor is a
    RuntimeError and a non-tensor a TypeError."""
    for returned, error in ((lambda p: p.mul_(1.0), None), (lambda p: p * 2, RuntimeError),
                            (lambda p: 5, TypeError)):
        for module in (torch, lossgrad):
            w = module.tensor([1.0], requires_grad=True)
            w.register_post_accumulate_grad_hook(returned)
            if error is None:
                w.backward(module.tensor([1.0]))
            else:
                with pytest.raises(error):
                    w.backward(module.tensor([1.0]))


@pytest.mark.parametrize("create_graph", [False, True])
def test_nodes_run_in_torchs_order(create_graph):
    # torch's ready queue runs the node recorded last first; the tensor hooks of a graph with
    # several branches record the order the nodes ran in (a stack of ready nodes ran the
    # branch whose node became ready last first: c, b, e, d below instead of torch's order)
    def order(lib):  # noqa: ANN001, ANN202
        ran = []
        x = lib.tensor([0.5, -1.5], requires_grad=True)
        a = x * 2
        b = x.exp()
        c = a.sin()
        d = b * a
        e = c + x
        for name, t in zip("abcde", (a, b, c, d, e)):
            t.register_hook(lambda g, name=name: ran.append(name))
        (d.sum() + e.sum()).backward(create_graph=create_graph)
        return ran, x.grad.detach().numpy()

    (ours, our_grad), (theirs, their_grad) = order(lossgrad), order(torch)
    assert ours == theirs
    np.testing.assert_allclose(our_grad, their_grad, rtol=1e-6)
