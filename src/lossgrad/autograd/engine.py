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

Without ``create_graph`` the gradients are plain constants, so the sums of step 2 and 4 are
NumPy additions rather than recorded ops.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import Node, quiet

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
    roots = _as_seq(roots, "tensors")
    grads = _as_seq(grad_roots, "gradients")
    if retain_graph is None:
        retain_graph = create_graph
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

    buffers: dict[Node, list[Any]] = {}
    leaf_sums: dict[int, list[Any]] = {}  # id(leaf) -> [leaf, summed grad, sum is ours]

    def add(a: Tensor, b: Tensor) -> Tensor:
        if create_graph:
            return a + b
        total = a._data + b._data  # a NumPy scalar for 0-d operands
        return _make(total if type(total) is np.ndarray else np.asarray(total))

    def add_leaf(t: Tensor, g: Tensor) -> None:
        if restrict and id(t) not in leaf_targets:
            return
        cur = leaf_sums.get(id(t))
        if cur is None:
            leaf_sums[id(t)] = [t, g, False]
        elif cur[2]:  # a sum this walk made: add in place
            np.add(cur[1]._data, g._data, out=cur[1]._data)
        else:
            cur[1] = add(cur[1], g)
            cur[2] = not create_graph

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
        buf[nr] = g if buf[nr] is None else add(buf[nr], g)
    ready = [n for n in ready if deps[n] == 0]

    with quiet():
        state = grad_mode._state
        prev = state.enabled
        state.enabled = create_graph
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
                            b[nr] = g if b[nr] is None else add(b[nr], g)
                        d = deps[tgt] - 1
                        deps[tgt] = d
                        if d == 0:
                            ready.append(tgt)
                    elif g is not None:
                        add_leaf(tgt, g)
        finally:
            state.enabled = prev
    out = data = None  # the last gradients seen: no reference may outlive the walk (_sole_owner)

    # leaves: hooks, then accumulate or capture
    for t, g, _ in leaf_sums.values():
        if t._hooks:
            for hook in t._hooks:
                res = hook(g)
                if res is not None:
                    g = res
        if accumulate:
            _accumulate(t, g, create_graph)
        else:
            captured[leaf_targets[id(t)]] = g
    if accumulate:
        if create_graph and leaf_sums:
            _warn_create_graph()
        for k, g in enumerate(captured):
            if g is not None:
                _accumulate(input_list[k], g, create_graph)
    elif not allow_unused and any(g is None for g in captured):
        k = next(k for k, g in enumerate(captured) if g is None)
        raise RuntimeError(
            f"The differentiated Tensor at index {k} appears to not have been "
            "used in the graph. Set allow_unused=True if this is the desired behavior."
        )
    return tuple(captured)


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
    if not retain_graph and n._saved:
        n._freed = True
        n._saved = None
    return out


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
    res = []
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


def _accumulate(t: Tensor, g: Tensor, create_graph: bool) -> None:
    """Add ``g`` into ``t.grad`` as torch's AccumulateGrad does.

    The first time, ``.grad`` takes ``g`` itself when nothing else can see it (torch's use-count
    test: no user variable, hook, other leaf or view holds the Tensor or its array), a copy
    otherwise; later gradients are added in place. With create_graph: a recorded clone, then
    recorded sums, so the gradient can be differentiated.
    """
    cur = t._grad
    if cur is None:
        if create_graph:
            t._grad = g.clone()
        elif _sole_owner(g) and g._data.base is None and g._data.flags.writeable:
            t._grad = g if g.grad_fn is None and not g._requires_grad else _make(g._data)
        else:
            t._grad = _make(g._data.copy())
    elif create_graph or cur.grad_fn is not None:
        t._grad = cur + g
    else:
        np.add(cur._data, g._data, out=cur._data, casting="unsafe")


if sys.implementation.name == "cpython":

    def _sole_owner(g: Tensor) -> bool:
        """Called from ``run_backward``'s leaf loop, a gradient nobody else holds has exactly
        these references: the leaf-sum entry, the loop variable, the two arguments on the way
        here (and, for its array, the Tensor's slot and the argument)."""
        return sys.getrefcount(g) <= 5 and sys.getrefcount(g._data) <= 2

else:  # pragma: no cover - no reference counts to consult: always copy

    def _sole_owner(g: Tensor) -> bool:
        return False
