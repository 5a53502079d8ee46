"""The backward engine: an iterative walk of the recorded graph.

1. Count, for every node reachable from the roots, how many edges lead into it (explicit stack,
   no recursion, so a 100,000-op chain works).
2. Start from the roots' nodes with their seed gradients; a node runs once all the gradients
   flowing into it have been summed into its buffer (reused nodes accumulate).
3. Running a node calls its Function's ``backward`` under ``set_grad_enabled(create_graph)``;
   then the graph's saved tensors are freed unless ``retain_graph``.
4. Leaf gradients are summed over all paths, passed through the leaf's hooks, then accumulated
   into ``.grad`` (``backward``) or returned (``autograd.grad``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import Node

if TYPE_CHECKING:
    from lossgrad._tensor import Tensor


def _as_seq(x: Any) -> list[Any]:
    from lossgrad._tensor import Tensor

    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _seed_grads(roots: list[Tensor], grads: list[Any], create_graph: bool) -> list[Tensor]:
    from lossgrad._tensor import Tensor

    out = []
    for i, r in enumerate(roots):
        g = grads[i] if i < len(grads) else None
        if g is None:
            if r._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not r._data.dtype.kind == "f":
                raise RuntimeError(
                    f"grad can be implicitly created only for real scalar outputs but got {r.dtype}"
                )
            g = Tensor._make(np.ones(r._data.shape, r._data.dtype))
        elif not isinstance(g, Tensor):
            g = Tensor._make(np.asarray(g, dtype=r._data.dtype))
        elif g.shape != r.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and output[{i}] "
                f"has a shape of {r.shape}."
            )
        if not create_graph and g.grad_fn is not None:
            g = g.detach()
        out.append(g)
    return out


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
    from lossgrad._tensor import Tensor

    roots = _as_seq(roots)
    grads = _as_seq(grad_roots)
    if retain_graph is None:
        retain_graph = create_graph
    for i, r in enumerate(roots):
        if not r._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
    seeds = _seed_grads(roots, grads, create_graph)
    seed_ids = {id(g._data) for g in seeds}
    input_list: list[Tensor] = _as_seq(inputs)
    capture_leaf: dict[int, int] = {}
    capture_edge: dict[tuple[int, int], int] = {}
    for k, t in enumerate(input_list):
        if not t._requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors does not require grad")
        if t.grad_fn is None:
            capture_leaf[id(t)] = k
        else:
            capture_edge[(id(t.grad_fn), t._output_nr)] = k
    captured: list[Any] = [None] * len(input_list)
    restrict = bool(input_list)

    # 1. dependency counts (iterative DFS)
    deps: dict[Node, int] = {}
    order: list[Node] = []
    stack: list[Node] = [r.grad_fn for r in roots if r.grad_fn is not None]
    seen: set[int] = set()
    for n in stack:
        seen.add(id(n))
    while stack:
        n = stack.pop()
        order.append(n)
        for e in n.next_edges:
            if e is not None and isinstance(e[0], Node):
                m = e[0]
                deps[m] = deps.get(m, 0) + 1
                if id(m) not in seen:
                    seen.add(id(m))
                    stack.append(m)

    # which nodes must run: all of them for a plain backward; with inputs, those leading to one
    needed: set[int] | None = None
    if restrict:
        needed = set()
        # reverse post-order of a DFS gives children before parents
        post = _postorder(order)
        for n in post:
            for nr, e in enumerate(n.next_edges):
                if e is None:
                    continue
                tgt = e[0]
                if isinstance(tgt, Node):
                    if id(tgt) in needed or (id(tgt), e[1]) in capture_edge:
                        needed.add(id(n))
                        break
                elif id(tgt) in capture_leaf:
                    needed.add(id(n))
                    break

    buffers: dict[Node, list[Any]] = {}
    leaf_sums: dict[int, list[Any]] = {}  # id -> [tensor, grad]

    def add_leaf(t: Tensor, g: Tensor) -> None:
        if restrict and id(t) not in capture_leaf:
            return
        cur = leaf_sums.get(id(t))
        if cur is None:
            leaf_sums[id(t)] = [t, g]
        else:
            cur[1] = cur[1] + g

    ready: list[Node] = []
    for r, g in zip(roots, seeds):
        if r.grad_fn is None:
            add_leaf(r, g)
            continue
        n = r.grad_fn
        buf = buffers.get(n)
        if buf is None:
            buf = buffers[n] = [None] * len(n._out_meta)
        nr = r._output_nr
        buf[nr] = g if buf[nr] is None else buf[nr] + g
    for r in roots:
        n = r.grad_fn
        if n is not None and deps.get(n, 0) == 0 and n not in ready:
            ready.append(n)

    prev = grad_mode._state.enabled
    grad_mode._state.enabled = create_graph
    try:
        while ready:
            n = ready.pop()
            buf = buffers.pop(n, None) or [None] * len(n._out_meta)
            if capture_edge:
                for nr, g in enumerate(buf):
                    k = capture_edge.get((id(n), nr))
                    if k is not None:
                        captured[k] = g
            if needed is not None and id(n) not in needed:
                _release_children(n, deps, ready)
                continue
            grads_in = _call_node(n, buf, retain_graph)
            for e, g in zip(n.next_edges, grads_in):
                if e is None:
                    continue
                tgt, nr = e
                if isinstance(tgt, Node):
                    if g is not None:
                        b = buffers.get(tgt)
                        if b is None:
                            b = buffers[tgt] = [None] * len(tgt._out_meta)
                        b[nr] = g if b[nr] is None else b[nr] + g
                    d = deps[tgt] - 1
                    deps[tgt] = d
                    if d == 0:
                        ready.append(tgt)
                elif g is not None:
                    add_leaf(tgt, g)
            for extra in range(len(n.next_edges), len(grads_in)):
                if grads_in[extra] is not None:
                    raise RuntimeError(
                        f"function {n.name()} returned an incorrect number of gradients "
                        f"(expected {len(n.next_edges)}, got {len(grads_in)})"
                    )
    finally:
        grad_mode._state.enabled = prev

    # 4. leaves: hooks, then accumulate or capture
    for t, g in leaf_sums.values():
        for hook in t._hooks or ():
            res = hook(g)
            if res is not None:
                g = res
        if accumulate:
            _accumulate(t, g, create_graph, seed_ids)
        else:
            captured[capture_leaf[id(t)]] = g
    if not accumulate:
        for k, g in enumerate(captured):
            if g is None and not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
    elif capture_edge:
        for (nid, nr), k in capture_edge.items():
            g = captured[k]
            if g is not None:
                _accumulate(input_list[k], g, create_graph, seed_ids)
    return tuple(captured)


def _postorder(order: list[Node]) -> list[Node]:
    """Nodes ordered so that every node comes after all nodes it has edges to."""
    visited: set[int] = set()
    out: list[Node] = []
    for root in order:
        if id(root) in visited:
            continue
        stack: list[tuple[Node, int]] = [(root, 0)]
        visited.add(id(root))
        while stack:
            n, i = stack.pop()
            edges = n.next_edges
            while i < len(edges):
                e = edges[i]
                i += 1
                if e is not None and isinstance(e[0], Node) and id(e[0]) not in visited:
                    visited.add(id(e[0]))
                    stack.append((n, i))
                    stack.append((e[0], 0))
                    break
            else:
                out.append(n)
    return out


def _release_children(n: Node, deps: dict[Node, int], ready: list[Node]) -> None:
    for e in n.next_edges:
        if e is not None and isinstance(e[0], Node):
            deps[e[0]] -= 1
            if deps[e[0]] == 0:
                ready.append(e[0])


def _call_node(n: Node, buf: list[Any], retain_graph: bool) -> Sequence[Any]:
    from lossgrad._tensor import Tensor

    hooks = n._pre_hooks
    if hooks:
        for nr, fns in hooks.items():
            for fn in list(fns):
                if buf[nr] is not None:
                    res = fn(buf[nr])
                    if res is not None:
                        buf[nr] = res
    if n._retain_hooks:
        for nr, fn in n._retain_hooks.items():
            if buf[nr] is not None:
                fn(buf[nr])
    if n.materialize_grads:
        for i, g in enumerate(buf):
            if g is None:
                shape, dt = n._out_meta[i]
                buf[i] = Tensor._make(np.zeros(shape, dt))
    out = n._forward_cls.backward(n, *buf)
    if not isinstance(out, tuple):
        out = (out,)
    if not retain_graph:
        n._release()
    res = []
    for i, g in enumerate(out):
        if g is not None and i < len(n._in_meta) and n._in_meta[i] is not None:
            if not isinstance(g, Tensor):
                g = Tensor._make(np.asarray(g))
            shape, dt = n._in_meta[i]  # type: ignore[misc]
            if g._data.shape != shape:
                raise RuntimeError(
                    f"Function {n.name()} returned an invalid gradient at index {i} - got "
                    f"{list(g._data.shape)} but expected shape compatible with {list(shape)}"
                )
            if g._data.dtype != dt:
                g = g.to(dt)
        res.append(g)
    if n._hooks:
        for fn in n._hooks:
            fn(tuple(res), tuple(buf))
    return res


def _accumulate(t: Tensor, g: Tensor, create_graph: bool, taken: set[int]) -> None:
    """Add ``g`` into ``t.grad``. ``taken`` holds the ids of arrays that someone else owns (the
    caller's seed gradients, grads already given to another leaf): those are copied, never
    adopted, so that a later in-place accumulation cannot write into them."""
    from lossgrad._tensor import Tensor

    if t._grad is None:
        if not create_graph:
            if g.grad_fn is not None:
                g = g.detach()
            if id(g._data) in taken or g._data.base is not None or not g._data.flags.writeable:
                g = Tensor._make(g._data.copy())
            taken.add(id(g._data))
        t._grad = g
    elif create_graph or t._grad.grad_fn is not None:
        t._grad = t._grad + g
    else:
        np.add(t._grad._data, g._data, out=t._grad._data, casting="unsafe")
