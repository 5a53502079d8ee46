"""The backward engine: an iterative walk of the recorded graph.

1. Count, for every node reachable from the roots, how many edges lead into it (explicit stack,
   no recursion, so a 100,000-op chain works).
2. Start from the roots' nodes with their seed gradients; a node runs once all the gradients
   flowing into it have been summed into its buffer (reused nodes accumulate).
3. Running a node applies the tensor hooks of its outputs to the summed gradients, then calls its
   Function's ``backward`` under ``set_grad_enabled(create_graph)``; the node's saved tensors are
   freed unless ``retain_graph``.
4. Leaf gradients are summed over all paths, passed through the leaf's hooks, then accumulated
   into ``.grad`` (``backward``) or returned (``autograd.grad``).

Without ``create_graph`` the gradients are plain constants, so the walk runs on raw arrays
(``_walk_arrays``): sums are NumPy additions, and a built-in op's ``backward_array`` computes its
gradients without wrapping them as Tensors or dispatching through the ops; other Functions (and
hooks) see Tensors as usual. With ``create_graph`` the walk keeps Tensors (``_walk_tensors``) and
every ``backward`` is recorded, so the gradients can be differentiated again.

The usual ``loss.backward()`` needs none of the bookkeeping: when the graph is a chain of built-in
nodes over leaves (a fused loss, maybe reduced by ``.sum()`` / ``.mean()`` or scaled), the nodes'
``backward_array`` run in turn from a shared ones seed (``_backward_chain``), with the same
results as the walk.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import (
    _QUIET,
    Node,
    _cv_get,
    _cv_reset,
    _cv_set,
    backward_via_tensors,
    quiet,
)

_make = Tensor._make

_CREATE_GRAPH_MSG = (
    "Using backward() with create_graph=True will create a reference cycle between the parameter "
    "and its gradient which can cause a memory leak. We recommend using autograd.grad when "
    "creating the graph to avoid this. If you have to use this function, make sure to reset the "
    ".grad fields of your parameters to None after use to break the cycle and avoid the leak."
)
_warned_create_graph = False


def _as_seq(x: Any, what: str) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return list(x)
    raise TypeError(f"{what} can be either Tensors or None, but got {type(x).__name__}")


def _seed_grads(roots: list[Tensor], grads: list[Any], create_graph: bool) -> list[Tensor]:
    """torch's ``_make_grads``: implicit ones for scalar roots, shape checks, dtype casts."""
    if grads and len(grads) != len(roots):
        raise RuntimeError(f"got {len(roots)} tensors and {len(grads)} gradients")
    out = []
    for i, r in enumerate(roots):
        g = grads[i] if grads else None
        if g is None:
            if r._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if r._data.dtype.kind != "f":
                raise RuntimeError(
                    f"grad can be implicitly created only for real scalar outputs but got {r.dtype}"
                )
            g = _make(np.ones(r._data.shape, r._data.dtype))
        elif not isinstance(g, Tensor):
            raise TypeError(f"gradients can be either Tensors or None, but got {type(g).__name__}")
        else:
            if g._data.shape != r._data.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and output[{i}] "
                    f"has a shape of {r.shape}."
                )
            if not create_graph and (g.grad_fn is not None or g._requires_grad):
                g = g.detach()
            if g._data.dtype != r._data.dtype:
                g = g.to(r.dtype)
        out.append(g)
    return out


def _dependencies(roots: list[Tensor]) -> dict[Node, int]:
    """For every node reachable from the roots, the number of edges that lead into it."""
    deps: dict[Node, int] = {}
    stack = []
    for r in roots:
        n = r.grad_fn
        if n is not None and n not in deps:
            deps[n] = 0
            stack.append(n)
    get = deps.get
    while stack:
        for e in stack.pop().next_edges:
            if e and isinstance(e[0], Node):
                m = e[0]
                c = get(m)
                if c is None:
                    deps[m] = 1
                    stack.append(m)
                else:
                    deps[m] = c + 1
    return deps


def _needed(
    deps: dict[Node, int], leaf_targets: dict[int, int], edge_targets: dict[tuple[int, int], int]
) -> set[Node]:
    """The nodes from which an edge leads, directly or not, to one of the targets."""
    needed: set[Node] = set()
    done: set[Node] = set()
    for root in deps:
        if root in done:
            continue
        done.add(root)
        stack: list[tuple[Node, int]] = [(root, 0)]
        while stack:  # post-order DFS: a node is settled after all nodes its edges lead to
            n, i = stack.pop()
            edges = n.next_edges
            while i < len(edges):
                e = edges[i]
                i += 1
                if e and isinstance(e[0], Node) and e[0] not in done:
                    done.add(e[0])
                    stack.append((n, i))
                    stack.append((e[0], 0))
                    break
            else:
                for e in edges:
                    if not e:
                        continue
                    t = e[0]
                    if isinstance(t, Node):
                        if t in needed or (id(t), e[1]) in edge_targets:
                            needed.add(n)
                            break
                    elif id(t) in leaf_targets:
                        needed.add(n)
                        break
    return needed


def run_backward(
    roots: Any,
    grad_roots: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
    allow_unused: bool = False,
    accumulate: bool = True,
) -> tuple[Any, ...]:
    """Backpropagate from ``roots``. With ``accumulate`` the leaf grads go to ``.grad`` (and to
    ``inputs`` only, if given); without it the gradients of ``inputs`` are returned."""
    if retain_graph is None:
        retain_graph = create_graph
    if (
        type(roots) is Tensor
        and grad_roots is None
        and inputs is None
        and accumulate
        and not create_graph
        and _backward_chain(roots, retain_graph)
    ):
        return ()
    roots = _as_seq(roots, "tensors")
    grads = _as_seq(grad_roots, "gradients")
    for i, r in enumerate(roots):
        if not isinstance(r, Tensor):
            raise TypeError(f"tensors can be either Tensors or None, but got {type(r).__name__}")
        if not r._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
    seeds = _seed_grads(roots, grads, create_graph)
    input_list: list[Tensor] = _as_seq(inputs, "inputs")
    leaf_targets: dict[int, int] = {}
    edge_targets: dict[tuple[int, int], int] = {}
    for k, t in enumerate(input_list):
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        if t.grad_fn is None:
            leaf_targets[id(t)] = k
        else:
            edge_targets[(id(t.grad_fn), t._output_nr)] = k
    captured: list[Any] = [None] * len(input_list)
    restrict = bool(input_list)

    deps = _dependencies(roots)
    needed = _needed(deps, leaf_targets, edge_targets) if restrict else None

    walk = _walk_tensors if create_graph else _walk_arrays
    leaf_sums = walk(roots, seeds, deps, needed, leaf_targets, edge_targets, captured, retain_graph)

    # leaves: hooks, then accumulate or capture
    for entry in leaf_sums.values():
        t = entry[0]
        if t._hooks:
            g = entry[1] if create_graph else _make(entry[1])
            for hook in t._hooks:
                res = hook(g)
                if res is not None:
                    g = res
            entry[1] = g if create_graph else _as_array(g)
            g = res = None
        if accumulate:
            _accumulate(t, entry, 1, create_graph)
        else:
            captured[leaf_targets[id(t)]] = entry[1]
    if accumulate:
        if create_graph and leaf_sums:
            _warn_create_graph()
        for k in range(len(captured)):
            if captured[k] is not None:
                _accumulate(input_list[k], captured, k, create_graph)
        return ()
    if not allow_unused and any(g is None for g in captured):
        k = next(k for k, g in enumerate(captured) if g is None)
        raise RuntimeError(
            f"The differentiated Tensor at index {k} appears to not have been "
            "used in the graph. Set allow_unused=True if this is the desired behavior."
        )
    if create_graph:
        return tuple(captured)
    return tuple(None if g is None else _make(g) for g in captured)


#: The implicit gradient of a one-element root, per shape and dtype: read-only, shared (a
#: backward never writes into its incoming gradient; one handed on unchanged to a leaf is copied
#: by ``_accumulate``, which takes only writeable arrays).
_ONE_SEEDS: dict[tuple[tuple[int, ...], np.dtype], np.ndarray] = {}


def _backward_chain(root: Tensor, retain_graph: bool) -> bool:
    """``root.backward()`` when the graph is a chain of built-in nodes, each with one output,
    whose inputs are leaves except at most one, the output of the next node (a fused loss of
    parameters or data, or such a loss reduced by ``.sum()`` / ``.mean()``: the common cases of
    a loss call): the nodes' ``backward_array`` in turn from an implicit ones seed, the
    gradients accumulated into the leaves' ``.grad`` at the end. Returns False, having done
    nothing, for any other graph or whenever a hook, a non-scalar or non-float root or a leaf
    reached twice needs the general walk, which then also raises torch's errors; the steps
    are those of the general walk (a gradient of the wrong shape or dtype fitted or refused,
    an output without a gradient materialized as zeros)."""
    n = root.grad_fn
    data = root._data
    if n is None or root._output_nr or data.size != 1 or data.dtype.kind != "f":
        return False
    chain: list[Node] = []
    leaves: list[Tensor] = []
    node: Node | None = n
    while node is not None:
        if (
            node._backward_array is None
            or node._pre_hooks
            or node._retain_hooks
            or node._hooks
            or len(node._out_meta) != 1
        ):
            return False
        chain.append(node)
        nxt = None
        for e in node.next_edges:
            if e:
                t = e[0]
                if isinstance(t, Node):
                    if nxt is not None or e[1]:
                        return False
                    nxt = t
                elif t._hooks or (leaves and any(t is u for u in leaves)):
                    return False
                else:
                    leaves.append(t)
        node = nxt
    g = _ONE_SEEDS.get((data.shape, data.dtype))
    if g is None:
        g = _ONE_SEEDS[data.shape, data.dtype] = np.ones(data.shape, data.dtype)
        g.flags.writeable = False
    grads: list[Any] = []
    state = grad_mode._state
    prev = state.enabled
    state.enabled = False
    token = None if _cv_get() is _QUIET else _cv_set(_QUIET)
    try:
        for node in chain:
            if g is None and node.materialize_grads:
                g = np.zeros(*node._out_meta[0])
            node.last_use = not retain_graph
            out = node._backward_array(node, g)
            if type(out) is not tuple:
                out = (out,)
            g = gi = None
            for e, gi in zip(node.next_edges, out, strict=False):
                if e and gi is not None:
                    if type(gi) is not np.ndarray or gi.shape != e[2] or gi.dtype != e[3]:
                        gi = _fit_array(node, e, gi)
                    if isinstance(e[0], Node):
                        g = gi
                    else:
                        grads.append([e[0], gi])
            del out, gi
            if not retain_graph:
                node._release()
    finally:
        state.enabled = prev
        if token is not None:
            _cv_reset(token)
    for entry in grads:
        _accumulate(entry[0], entry, 1, False)
    return True


def _walk_tensors(
    roots: list[Tensor],
    seeds: list[Tensor],
    deps: dict[Node, int],
    needed: set[Node] | None,
    leaf_targets: dict[int, int],
    edge_targets: dict[tuple[int, int], int],
    captured: list[Any],
    retain_graph: bool,
) -> dict[int, list[Any]]:
    """The walk under ``create_graph``: gradients are Tensors, every backward is recorded.

    Returns ``{id(leaf): [leaf, summed gradient, sum is ours]}``; gradients of ``edge_targets``
    go to ``captured``.
    """
    restrict = needed is not None
    buffers: dict[Node, list[Any]] = {}
    leaf_sums: dict[int, list[Any]] = {}  # id(leaf) -> [leaf, summed grad, False]

    def add_leaf(t: Tensor, g: Tensor) -> None:
        if restrict and id(t) not in leaf_targets:
            return
        cur = leaf_sums.get(id(t))
        if cur is None:
            leaf_sums[id(t)] = [t, g, False]
        else:
            cur[1] = cur[1] + g

    ready: list[Node] = []
    for r, g in zip(roots, seeds, strict=False):
        n = r.grad_fn
        if n is None:
            add_leaf(r, g)
            continue
        buf = buffers.get(n)
        if buf is None:
            buf = buffers[n] = [None] * len(n._out_meta)
            ready.append(n)
        nr = r._output_nr
        buf[nr] = g if buf[nr] is None else buf[nr] + g
    ready = [n for n in ready if deps[n] == 0]

    with quiet():
        state = grad_mode._state
        prev = state.enabled
        state.enabled = True
        try:
            while ready:
                n = ready.pop()
                buf = buffers.pop(n, None) or [None] * len(n._out_meta)
                if n._pre_hooks or n._retain_hooks:
                    _tensor_hooks(n, buf)
                if edge_targets:
                    for nr, g in enumerate(buf):
                        k = edge_targets.get((id(n), nr))
                        if k is not None:
                            captured[k] = g
                edges = n.next_edges
                if needed is not None and n not in needed:
                    for e in edges:
                        if e and isinstance(e[0], Node):
                            d = deps[e[0]] - 1
                            deps[e[0]] = d
                            if d == 0:
                                ready.append(e[0])
                    continue
                out = _call_node(n, buf, retain_graph)
                if len(out) != len(edges) or n._hooks:
                    out = _checked_grads(n, out, buf)
                for e, g in zip(edges, out, strict=False):
                    if not e:
                        continue
                    tgt = e[0]
                    if g is not None:  # must match its input (torch's validate_outputs)
                        if not isinstance(g, Tensor):
                            g = _make(np.asarray(g))
                        data = g._data
                        if data.shape != e[2]:
                            _bad_shape(n, [x is e for x in edges].index(True), data, e[2])
                        if data.dtype is not e[3] and data.dtype != e[3]:
                            g = g.to(e[3])
                    if isinstance(tgt, Node):
                        if g is not None:
                            b = buffers.get(tgt)
                            if b is None:
                                b = buffers[tgt] = [None] * len(tgt._out_meta)
                            nr = e[1]
                            b[nr] = g if b[nr] is None else b[nr] + g
                        d = deps[tgt] - 1
                        deps[tgt] = d
                        if d == 0:
                            ready.append(tgt)
                    elif g is not None:
                        add_leaf(tgt, g)
        finally:
            state.enabled = prev
    return leaf_sums


def _walk_arrays(
    roots: list[Tensor],
    seeds: list[Tensor],
    deps: dict[Node, int],
    needed: set[Node] | None,
    leaf_targets: dict[int, int],
    edge_targets: dict[tuple[int, int], int],
    captured: list[Any],
    retain_graph: bool,
) -> dict[int, list[Any]]:
    """The walk without ``create_graph``: ``_walk_tensors`` on raw arrays.

    Nothing is recorded, so the gradients flow as NumPy arrays: a node whose Function has a
    ``backward_array`` runs it directly; any other node (and any hook) gets them wrapped as
    Tensors and its results unwrapped. Same results, same checks, same return value (arrays).
    """
    restrict = needed is not None
    buffers: dict[Node, list[Any]] = {}
    leaf_sums: dict[int, list[Any]] = {}  # id(leaf) -> [leaf, summed grad, sum is ours]

    def add_leaf(t: Tensor, g: np.ndarray) -> None:  # for roots; inlined in the walk below
        if restrict and id(t) not in leaf_targets:
            return
        cur = leaf_sums.get(id(t))
        if cur is None:
            leaf_sums[id(t)] = [t, g, False]
        elif cur[2]:  # a sum this walk made: add in place
            cur[1] += g
        else:
            cur[1] = _add_arrays(cur[1], g)
            cur[2] = True

    ready: list[Node] = []
    for r, seed in zip(roots, seeds, strict=False):
        g = seed._data
        n = r.grad_fn
        if n is None:
            add_leaf(r, g)
            continue
        buf = buffers.get(n)
        if buf is None:
            buf = buffers[n] = [None] * len(n._out_meta)
            ready.append(n)
        nr = r._output_nr
        buf[nr] = g if buf[nr] is None else _add_arrays(buf[nr], g)
    ready = [n for n in ready if deps[n] == 0]

    ndarray, node_cls, add_arrays, pop_ready = np.ndarray, Node, _add_arrays, ready.pop
    with quiet():
        state = grad_mode._state
        prev = state.enabled
        state.enabled = False
        try:
            while ready:
                n = pop_ready()
                buf = buffers.pop(n, None) or [None] * len(n._out_meta)
                if n._pre_hooks or n._retain_hooks:
                    tbuf = [None if g is None else _make(g) for g in buf]
                    _tensor_hooks(n, tbuf)
                    buf = [None if g is None else _as_array(g) for g in tbuf]
                if edge_targets:
                    for nr, g in enumerate(buf):
                        k = edge_targets.get((id(n), nr))
                        if k is not None:
                            captured[k] = g
                edges = n.next_edges
                if restrict and n not in needed:  # type: ignore[operator]
                    for e in edges:
                        if e and isinstance(e[0], Node):
                            d = deps[e[0]] - 1
                            deps[e[0]] = d
                            if d == 0:
                                ready.append(e[0])
                    continue
                if (buf[0] is None or len(buf) > 1) and n.materialize_grads:
                    _materialize_arrays(n, buf)
                bwa = n._backward_array
                if bwa is not None:  # a built-in op: one result per input, by construction
                    n.last_use = not retain_graph
                    out = bwa(n, *buf)
                    if type(out) is not tuple:
                        out = (out,)
                    checked = n._hooks is None
                else:
                    out = backward_via_tensors(n, *buf)
                    if type(out) is not tuple:
                        out = (out,)
                    checked = len(out) == len(edges) and n._hooks is None
                if not retain_graph:
                    n._release()
                if not checked:
                    wrapped = tuple(None if g is None else _make(_as_array(g)) for g in out)
                    res = _checked_grads(n, wrapped, [None if g is None else _make(g) for g in buf])
                    out = tuple(None if g is None else g._data for g in res)
                for e, g in zip(edges, out, strict=False):
                    if not e:
                        continue
                    tgt = e[0]
                    if g is not None and (  # must match its input (torch's validate_outputs)
                        type(g) is not ndarray or g.shape != e[2] or g.dtype is not e[3]
                    ):
                        g = _fit_array(n, e, g)
                    if isinstance(tgt, node_cls):
                        if g is not None:
                            b = buffers.get(tgt)
                            if b is None:
                                b = buffers[tgt] = [None] * len(tgt._out_meta)
                            nr = e[1]
                            b[nr] = g if b[nr] is None else add_arrays(b[nr], g)
                        d = deps[tgt] - 1
                        deps[tgt] = d
                        if d == 0:
                            ready.append(tgt)
                    elif g is not None and (not restrict or id(tgt) in leaf_targets):
                        cur = leaf_sums.get(id(tgt))  # add_leaf, inlined: leaves are hot
                        if cur is None:
                            leaf_sums[id(tgt)] = [tgt, g, False]
                        elif cur[2]:  # a sum this walk made: add in place
                            cur[1] += g
                        else:
                            cur[1] = add_arrays(cur[1], g)
                            cur[2] = True
        finally:
            state.enabled = prev
    return leaf_sums


def _add_arrays(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    total = a + b  # a NumPy scalar for 0-d operands
    return total if type(total) is np.ndarray else np.asarray(total)


def _as_array(g: Any) -> np.ndarray:
    """A gradient as an array: a Tensor's data, anything else (NumPy scalar, number) converted."""
    return g._data if isinstance(g, Tensor) else np.asarray(g)


def _materialize_arrays(n: Node, buf: list[Any]) -> None:
    """Zeros for the outputs of ``n`` that received no gradient."""
    for i, g in enumerate(buf):
        if g is None:
            shape, dt = n._out_meta[i]
            buf[i] = np.zeros(shape, dt)


def _warn_create_graph() -> None:
    global _warned_create_graph
    if not _warned_create_graph:
        _warned_create_graph = True
        warnings.warn(_CREATE_GRAPH_MSG, UserWarning, stacklevel=4)


def _tensor_hooks(n: Node, buf: list[Any]) -> None:
    """Hooks registered on the node's output tensors: replacing ones first, retain_grad last."""
    if n._pre_hooks:
        for nr, fns in n._pre_hooks.items():
            for fn in list(fns):
                if buf[nr] is not None:
                    res = fn(buf[nr])
                    if res is not None:
                        buf[nr] = res
    if n._retain_hooks:
        for nr, fn in n._retain_hooks.items():
            if buf[nr] is not None:
                fn(buf[nr])


def _call_node(n: Node, buf: list[Any], retain_graph: bool) -> tuple[Any, ...]:
    """Run one node's backward (zeros for missing output gradients unless the node opted out);
    free its saved tensors unless ``retain_graph``."""
    if n.materialize_grads and (buf[0] is None or len(buf) > 1):
        for i, g in enumerate(buf):
            if g is None:
                shape, dt = n._out_meta[i]
                buf[i] = _make(np.zeros(shape, dt))
    out = n._forward_cls.backward(n, *buf)
    if type(out) is not tuple:
        out = (out,)
    if not retain_graph:
        n._release()
    return out


def _fit_array(n: Node, e: Any, g: Any) -> np.ndarray:
    """A gradient for the input of edge ``e`` of ``n`` as an array of that input's dtype;
    RuntimeError (torch's validate_outputs) when its shape differs."""
    g = _as_array(g)
    if g.shape != e[2]:
        _bad_shape(n, [x is e for x in n.next_edges].index(True), g, e[2])
    return g if g.dtype == e[3] else g.astype(e[3])


def _bad_shape(n: Node, index: int, data: np.ndarray, shape: tuple[int, ...]) -> None:
    raise RuntimeError(
        f"Function {n.name()} returned an invalid gradient at index {index} - got "
        f"{list(data.shape)} but expected shape compatible with {list(shape)}"
    )


def _checked_grads(n: Node, out: tuple[Any, ...], buf: list[Any]) -> tuple[Any, ...]:
    """The slow path of a node's result: count check, then node hooks on the checked grads."""
    edges = n.next_edges
    if len(out) != len(edges):
        _check_count(n, out)
        out = out[: len(edges)]
    res: list[Tensor | None] = []
    for i, (e, g) in enumerate(zip(edges, out, strict=True)):
        if g is None or not e:
            res.append(None)
            continue
        if not isinstance(g, Tensor):
            g = _make(np.asarray(g))
        if g._data.shape != e[2]:
            _bad_shape(n, i, g._data, e[2])
        res.append(g if g._data.dtype == e[3] else g.to(e[3]))
    for fn in n._hooks or ():
        fn(tuple(res), tuple(buf))
    return tuple(res)


def _check_count(n: Node, out: tuple[Any, ...]) -> None:
    """torch accepts extra trailing Nones, but not too few gradients or extra non-None ones."""
    n_in = len(n.next_edges)
    if len(out) < n_in or any(g is not None for g in out[n_in:]):
        raise RuntimeError(
            f"function {n.name()} returned an incorrect number of gradients (expected {n_in}, "
            f"got {len(out)})"
        )


def _accumulate(t: Tensor, holder: list[Any], idx: int, create_graph: bool) -> None:
    """Add the gradient ``holder[idx]`` (an array, a Tensor under create_graph) into ``t.grad``
    as torch's AccumulateGrad does; ``holder[idx]`` is cleared.

    The first time, ``.grad`` takes the array itself when nothing else can see it (torch's
    use-count test: no user variable, hook, other leaf, Tensor or view holds it), a copy
    otherwise; later gradients are added in place. With create_graph: a recorded clone, then
    recorded sums, so the gradient can be differentiated.
    """
    g = holder[idx]
    holder[idx] = None
    cur = t._grad
    if create_graph:
        t._grad = g.clone() if cur is None else cur + g
    elif cur is None:
        own = _sole_owner(g) and g.base is None and g.flags.writeable
        t._grad = _make(g if own else g.copy())
    elif cur.grad_fn is not None:
        t._grad = cur + _make(g)
    else:
        np.add(cur._data, g, out=cur._data, casting="unsafe")
    if t._post_accumulate_grad_hooks:  # torch runs them in no_grad mode unless create_graph
        with grad_mode.set_grad_enabled(create_graph):
            for hook in list(t._post_accumulate_grad_hooks):
                hook(t)


if sys.implementation.name == "cpython":

    def _sole_owner(g: np.ndarray) -> bool:
        """Taken out of its holder by ``_accumulate``, an array nobody else holds has exactly
        two references: that function's variable and this argument."""
        return sys.getrefcount(g) <= 3

else:  # pragma: no cover - no reference counts to consult: always copy

    def _sole_owner(g: np.ndarray) -> bool:
        return False
