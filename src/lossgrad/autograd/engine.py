"""The backward engine: one iterative walk of the recorded graph.

1. Count, for every node reachable from the roots, how many edges lead into it (explicit stack,
   no recursion, so a 100,000-op chain works).
2. Start from the roots' nodes with their seed gradients; a node runs once all the gradients
   flowing into it have been summed into its buffer (reused nodes accumulate). Of the nodes
   ready to run, the one recorded last runs first, as in torch's engine, so that a gradient
   summed over several paths adds its terms in torch's order.
3. Running a node applies the tensor hooks of its outputs to the summed gradients, then its
   Function's backward under ``set_grad_enabled(create_graph)``; the node is freed unless
   ``retain_graph`` (running a freed node again raises torch's error).
4. Leaf gradients are summed over all paths, passed through the leaf's hooks, then accumulated
   into ``.grad`` (``backward``, then the leaf's post-accumulate hooks) or returned
   (``autograd.grad``).

The same walk (``_walk``) serves both kinds of gradient. With ``create_graph`` they are Tensors
and every node's ``backward`` is recorded, so they can be differentiated again. Without it they
are plain constants, so they flow as NumPy arrays (``_ARRAYS``): a built-in op's
``backward_array`` computes its gradients without wrapping them as Tensors or dispatching
through the ops, sums are NumPy additions; other Functions (and hooks) see Tensors as usual.

The usual ``loss.backward()`` needs little of the bookkeeping: when the graph is a chain of
nodes over leaves (``_plain_chain``), its nodes run in turn (``_backward_chain``), with
the same node runner and the same results as the walk.
"""

from __future__ import annotations

import heapq
import sys
import warnings
from typing import Any

import numpy as np

from lossgrad._tensor import Tensor
from lossgrad.autograd import grad_mode
from lossgrad.autograd.function import (
    _FREED_MSG,
    Node,
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


def _dependencies(roots: list[Tensor], hooked: dict[int, int] | None = None) -> dict[Node, int]:
    """For every node reachable from the roots, the number of edges that lead into it; with
    ``hooked``, also the number of edges into each leaf with post-accumulate-grad hooks, by id
    (its gradient is final once they have all been walked)."""
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
            elif e and hooked is not None and e[0]._post_accumulate_grad_hooks:
                hooked[id(e[0])] = hooked.get(id(e[0]), 0) + 1
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
    if grad_roots is None and inputs is None and accumulate and not create_graph:
        chain = _plain_chain(roots)
        if chain is not None:
            _backward_chain(chain, retain_graph)
            return ()
    roots = _checked_roots(roots)
    seeds = _seed_grads(roots, _as_seq(grad_roots, "gradients"), create_graph)
    targets = _Targets(_as_seq(inputs, "inputs"))
    hooked: dict[int, int] | None = {} if accumulate else None
    deps = _dependencies(roots, hooked)
    needed = _needed(deps, targets.leaves, targets.edges) if targets.inputs else deps
    gradients = _TENSORS if create_graph else _ARRAYS
    leaf_sums = _walk(roots, seeds, deps, needed, targets, gradients, retain_graph, hooked)
    with quiet():  # no NumPy warning from summing into .grad (inf + -inf is NaN, as in torch)
        _finish_leaves(leaf_sums, targets, accumulate, gradients)
    if accumulate:
        if create_graph and (leaf_sums or hooked):  # hooked: accumulated during the walk
            _warn_create_graph()
        return ()
    return targets.results(allow_unused, create_graph)


def _checked_roots(roots: Any) -> list[Tensor]:
    roots = _as_seq(roots, "tensors")
    for i, root in enumerate(roots):
        if not isinstance(root, Tensor):
            raise TypeError(
                f"tensors can be either Tensors or None, but got {type(root).__name__}"
            )
        if not root._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
    return roots


class _Targets:
    """The ``inputs`` of a backward or ``autograd.grad``: leaves by ``id``, non-leaves by the
    edge ``(id(node), output_nr)`` that carries their gradient; ``captured[k]`` receives the
    gradient of ``inputs[k]``."""

    def __init__(self, inputs: list[Tensor]) -> None:
        self.inputs = inputs
        self.leaves: dict[int, int] = {}
        self.edges: dict[tuple[int, int], int] = {}
        for k, tensor in enumerate(inputs):
            if not tensor._requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
            if tensor.grad_fn is None:
                self.leaves[id(tensor)] = k
            else:
                self.edges[(id(tensor.grad_fn), tensor._output_nr)] = k
        self.captured: list[Any] = [None] * len(inputs)

    def capture_outputs(self, node: Node, grads: list[Any]) -> None:
        """Keep the gradients of the node's outputs that are targets."""
        for output_nr, grad in enumerate(grads):
            k = self.edges.get((id(node), output_nr))
            if k is not None:
                self.captured[k] = grad

    def results(self, allow_unused: bool, create_graph: bool) -> tuple[Any, ...]:
        """``autograd.grad``'s answer: the captured gradients, as Tensors."""
        captured = self.captured
        if not allow_unused and any(g is None for g in captured):
            k = next(k for k, g in enumerate(captured) if g is None)
            raise RuntimeError(
                f"The differentiated Tensor at index {k} appears to not have been "
                "used in the graph. Set allow_unused=True if this is the desired behavior."
            )
        if create_graph:
            return tuple(captured)
        return tuple(None if g is None else _make(g) for g in captured)


class _LeafSum:
    """The gradient summed so far for one leaf; ``owned`` once it is an array this walk made
    (then later gradients are added in place)."""

    __slots__ = ("grad", "leaf", "owned")

    def __init__(self, leaf: Tensor, grad: Any) -> None:
        self.leaf, self.grad, self.owned = leaf, grad, False


def _finish_leaves(
    leaf_sums: dict[int, _LeafSum], targets: _Targets, accumulate: bool, gradients: Any
) -> None:
    """Leaf gradients through the leaves' hooks, then into ``.grad`` (and the post-accumulate
    hooks) or, for ``autograd.grad``, into ``targets.captured``."""
    for entry in leaf_sums.values():
        _finish_leaf(entry, targets, accumulate, gradients)
    if accumulate:  # ``backward(inputs=...)`` with non-leaf inputs
        captured = targets.captured
        for k, tensor in enumerate(targets.inputs):
            if captured[k] is not None:
                entry = _LeafSum(tensor, captured[k])
                captured[k] = None
                _accumulate(tensor, entry, gradients is _TENSORS)


def _finish_leaf(entry: _LeafSum, targets: _Targets, accumulate: bool, gradients: Any) -> None:
    """One leaf's summed gradient through its hooks, then into ``.grad`` (and the
    post-accumulate hooks) or, for ``autograd.grad``, into ``targets.captured``."""
    leaf = entry.leaf
    if leaf._hooks:
        entry.grad = gradients.from_tensor(_leaf_hooks(leaf, gradients.to_tensor(entry.grad)))
    if accumulate:
        _accumulate(leaf, entry, gradients is _TENSORS)
    else:
        targets.captured[targets.leaves[id(leaf)]] = entry.grad


def _leaf_hooks(leaf: Tensor, grad: Tensor) -> Tensor:
    for hook in leaf._hooks or ():
        result = hook(grad)
        if result is not None:
            grad = result
    return grad


def _plain_chain(roots: Any) -> list[Node] | None:
    """The nodes from ``roots`` down, when ``roots.backward()`` may skip the walk's bookkeeping:
    the root is one float element, and the graph is a chain of nodes without hooks, each with
    one output, whose inputs are distinct leaves without hooks except at most one, the output
    of the next node (a fused loss of parameters or data, maybe reduced by ``.sum()`` /
    ``.mean()``; a user Function's step of a few scalar parameters: the common cases of a
    training step). None for any other graph."""
    if type(roots) is not Tensor:
        return None
    node = roots.grad_fn
    data = roots._data
    if node is None or roots._output_nr or data.size != 1 or data.dtype.kind != "f":
        return None
    chain: list[Node] = []
    leaves: set[int] = set()
    while node is not None:
        chain.append(node)
        node = _next_in_chain(node, leaves)
        if node is _NOT_A_CHAIN:
            return None
    return chain


_NOT_A_CHAIN: Any = object()


def _next_in_chain(node: Node, leaves: set[int]) -> Any:
    """The one node among the inputs of ``node`` (None if all are leaves), recording its
    leaves in ``leaves``; ``_NOT_A_CHAIN`` when ``node`` has hooks or several outputs, or its
    inputs are two nodes, a leaf seen before or a leaf with hooks."""
    if node._pre_hooks or node._retain_hooks or node._hooks or len(node._out_meta) != 1:
        return _NOT_A_CHAIN
    following = None
    for edge in node.next_edges:
        if not edge:
            continue
        target = edge[0]
        if isinstance(target, Node):
            if following is not None or edge[1]:
                return _NOT_A_CHAIN
            following = target
        elif target._hooks or id(target) in leaves:
            return _NOT_A_CHAIN
        else:
            leaves.add(id(target))
    return following


#: The implicit gradient of a one-element root, per shape and dtype: read-only, shared (a
#: built-in backward never writes into its incoming gradient; one handed on unchanged to a leaf
#: is copied by ``_accumulate``, which takes only writeable arrays). A user Function at the root
#: gets a fresh copy: its backward may write into its ``grad_output``.
_ONE_SEEDS: dict[tuple[tuple[int, ...], np.dtype], np.ndarray] = {}


def _backward_chain(chain: list[Node], retain_graph: bool) -> None:
    """``root.backward()`` for a ``_plain_chain``: its nodes run in turn from an implicit ones
    seed, the gradients of the leaves accumulated into their ``.grad`` at the end, except
    those of leaves with post-accumulate-grad hooks: a chain reaches each leaf once, so they
    are accumulated (and their hooks run) right after the node that computes them."""
    root_meta = chain[0]._out_meta[0]
    grad = _ONE_SEEDS.get(root_meta)
    if grad is None:
        grad = _ONE_SEEDS[root_meta] = np.ones(*root_meta)
        grad.flags.writeable = False
    if chain[0]._backward_array is None:
        grad = grad.copy()
    leaf_sums: list[_LeafSum] = []
    final: list[_LeafSum] = []  # of the leaves of the last node, those with hooks to run now
    state = grad_mode._state
    prev = state.enabled
    with quiet():
        state.enabled = False
        try:
            for node in chain:
                input_grads = _run_with_arrays(node, [grad], retain_graph)
                grad = None
                for edge, input_grad in zip(node.next_edges, input_grads):
                    if not edge or input_grad is None:
                        continue
                    if (
                        type(input_grad) is not _ndarray
                        or input_grad.shape != edge[2]
                        or input_grad.dtype is not edge[3]
                    ):
                        input_grad = _fit_array(node, edge, input_grad)
                    if isinstance(edge[0], Node):
                        grad = input_grad
                    elif edge[0]._post_accumulate_grad_hooks:
                        final.append(_LeafSum(edge[0], input_grad))
                    else:
                        leaf_sums.append(_LeafSum(edge[0], input_grad))
                del input_grads, input_grad
                if final:
                    state.enabled = prev
                    for entry in final:
                        _accumulate(entry.leaf, entry, False)
                    final.clear()
                    state.enabled = False
        finally:
            state.enabled = prev
        for entry in leaf_sums:
            _accumulate(entry.leaf, entry, False)


def _walk(
    roots: list[Tensor],
    seeds: list[Tensor],
    deps: dict[Node, int],
    needed: Any,
    targets: _Targets,
    gradients: Any,
    retain_graph: bool,
    hooked: dict[int, int] | None = None,
) -> dict[int, _LeafSum]:
    """Run every node reachable from the roots that is in ``needed`` (the nodes leading to a
    target; all of them without targets) once all its gradients are in, and pass its input
    gradients on, checked against each input's shape and dtype. ``gradients`` (``_ARRAYS`` or
    ``_TENSORS``) says what a gradient is and how a node runs. Returns the summed gradient of
    each leaf reached (of each target leaf, with targets) that is not finished yet; gradients
    of non-leaf targets go to ``targets.captured``.

    ``hooked`` (a backward's leaves with post-accumulate-grad hooks, by id: the number of edges
    into each) makes the walk accumulate such a leaf's gradient, and run its hooks, as soon as
    its last edge has been walked, as torch's AccumulateGrad node does (DistributedDataParallel
    starts a bucket's all-reduce there, while the rest of the backward runs)."""
    buffers: dict[Node, list[Any]] = {}
    leaf_sums = _LeafSums(targets.leaves if targets.inputs else None, gradients, hooked)
    ready = _seed_buffers(roots, seeds, deps, buffers, leaf_sums, gradients)
    add, run_node, fit, node_cls = gradients.add, gradients.run_node, gradients.fit, Node
    pop, push = heapq.heappop, heapq.heappush
    with quiet():
        state = grad_mode._state
        prev = state.enabled
        state.enabled = gradients.records
        try:
            while ready:
                node = pop(ready)[1]
                grads = buffers.pop(node, None) or [None] * len(node._out_meta)
                if node._pre_hooks or node._retain_hooks:
                    grads = gradients.output_hooks(node, grads)
                if targets.edges:
                    targets.capture_outputs(node, grads)
                if node in needed:
                    input_grads = run_node(node, grads, retain_graph)
                else:
                    input_grads = [None] * len(node.next_edges)
                for edge, grad in zip(node.next_edges, input_grads):
                    if not edge:
                        continue
                    if grad is not None and (  # torch's validate_outputs
                        type(grad) is not _ndarray
                        or grad.shape != edge[2]
                        or grad.dtype is not edge[3]
                    ):
                        grad = fit(node, edge, grad)
                    target = edge[0]
                    if isinstance(target, node_cls):
                        if grad is not None:
                            buffer = buffers.get(target)
                            if buffer is None:
                                buffer = buffers[target] = [None] * len(target._out_meta)
                            held = buffer[edge[1]]
                            buffer[edge[1]] = grad if held is None else add(held, grad)
                        deps[target] -= 1
                        if not deps[target]:
                            push(ready, (-target._sequence_nr, target))
                    else:
                        leaf_sums.arrive(target, grad)
                if leaf_sums.final:  # dropped first: .grad may take a gradient nobody else holds
                    del input_grads, grad
                    state.enabled = prev
                    leaf_sums.finish(targets, gradients)
                    state.enabled = gradients.records
        finally:
            state.enabled = prev
    return leaf_sums.sums


def _seed_buffers(
    roots: list[Tensor],
    seeds: list[Tensor],
    deps: dict[Node, int],
    buffers: dict[Node, list[Any]],
    leaf_sums: _LeafSums,
    gradients: Any,
) -> list[Node]:
    """Put the seed gradients where the walk starts: into the buffers of the roots' nodes (or
    the sums of roots that are leaves); return the nodes ready to run, as a heap of
    ``(-sequence_nr, node)`` (no two nodes share a number): like torch's ready queue, the walk
    runs the node recorded last first."""
    for root, seed in zip(roots, seeds, strict=False):
        grad = gradients.from_tensor(seed)
        node = root.grad_fn
        if node is None:
            leaf_sums.add(root, grad)
            continue
        buffer = buffers.setdefault(node, [None] * len(node._out_meta))
        held = buffer[root._output_nr]
        buffer[root._output_nr] = grad if held is None else gradients.add(held, grad)
    ready = [(-node._sequence_nr, node) for node in buffers if deps[node] == 0]
    heapq.heapify(ready)
    return ready


class _LeafSums:
    """The gradient of each leaf the walk reaches, summed over its paths (only the target
    leaves, when ``targets`` is given). ``hooked``: the number of edges still to come into
    each leaf with post-accumulate-grad hooks, by id; ``final``: those whose last edge came."""

    def __init__(
        self, targets: dict[int, int] | None, gradients: Any, hooked: dict[int, int] | None
    ) -> None:
        self.sums: dict[int, _LeafSum] = {}
        self.targets = targets
        self.add_fn = gradients.add
        self.in_place = gradients.sums_in_place
        self.hooked = hooked
        self.final: list[Tensor] = []

    def arrive(self, leaf: Tensor, grad: Any) -> None:
        """The gradient (or None) of one edge into ``leaf``."""
        if grad is not None:
            self.add(leaf, grad)
        hooked = self.hooked
        if hooked and id(leaf) in hooked:
            hooked[id(leaf)] -= 1
            if not hooked[id(leaf)]:
                self.final.append(leaf)

    def add(self, leaf: Tensor, grad: Any) -> None:
        if self.targets is not None and id(leaf) not in self.targets:
            return
        entry = self.sums.get(id(leaf))
        if entry is None:
            self.sums[id(leaf)] = _LeafSum(leaf, grad)
        elif entry.owned:  # a sum this walk made: add in place
            entry.grad += grad
        else:
            entry.grad = self.add_fn(entry.grad, grad)
            entry.owned = self.in_place

    def finish(self, targets: _Targets, gradients: Any) -> None:
        """Accumulate the gradients of the ``final`` leaves into ``.grad`` now."""
        for leaf in self.final:
            entry = self.sums.pop(id(leaf), None)
            if entry is not None:
                _finish_leaf(entry, targets, True, gradients)
        self.final.clear()


def _materialize(node: Node, grads: list[Any], wrap: Any) -> None:
    """Zeros (wrapped by ``wrap``) for the outputs of ``node`` that received no gradient."""
    for i, (shape, dtype) in enumerate(node._out_meta):
        if grads[i] is None:
            grads[i] = wrap(np.zeros(shape, dtype))


def _no_wrap(array: np.ndarray) -> np.ndarray:
    return array


def _run_with_arrays(node: Node, grads: list[Any], retain_graph: bool) -> Any:
    """Run ``node`` on array gradients (zeros for missing ones unless it opted out); return one
    gradient (or None) per input, still to be fitted to it (``_fit_array``). A built-in op
    runs its ``backward_array``; any other Function its ``backward`` on Tensors. Torch's
    error when the node was freed; frees it unless ``retain_graph``."""
    if node._spent:
        raise RuntimeError(_FREED_MSG)
    if node.materialize_grads and (grads[0] is None or len(grads) > 1):
        _materialize(node, grads, _no_wrap)
    backward_array = node._backward_array
    if backward_array is not None:
        node.last_use = not retain_graph
        out = backward_array(node, *grads)
    else:
        out = backward_via_tensors(node, *grads)
    if not retain_graph:
        node._release()
    if type(out) is not tuple:
        out = (out,)
    edges = node.next_edges
    if len(out) != len(edges) or node._hooks is not None:
        tensor_grads = [None if g is None else _make(g) for g in grads]
        checked = _checked_grads(node, _ARRAYS.to_tensors(out), tensor_grads)
        return _ARRAYS.to_arrays(checked)
    return out


_ndarray = np.ndarray


def _run_recorded(node: Node, grads: list[Any], retain_graph: bool) -> Any:
    """``_run_with_arrays`` on Tensor gradients, its ``backward`` recorded (``create_graph``);
    the gradients are still to be fitted (``_fit_tensor``)."""
    if node._spent:
        raise RuntimeError(_FREED_MSG)
    if node.materialize_grads and (grads[0] is None or len(grads) > 1):
        _materialize(node, grads, _make)
    out = node._forward_cls.backward(node, *grads)
    if not retain_graph:
        node._release()
    if type(out) is not tuple:
        out = (out,)
    if len(out) != len(node.next_edges) or node._hooks is not None:
        return _checked_grads(node, out, grads)
    return out


def _as_array(g: Any) -> np.ndarray:
    """A gradient as an array: a Tensor's data, anything else (NumPy scalar, number) converted."""
    return g._data if isinstance(g, Tensor) else np.asarray(g)


def _warn_create_graph() -> None:
    global _warned_create_graph
    if not _warned_create_graph:
        _warned_create_graph = True
        warnings.warn(_CREATE_GRAPH_MSG, UserWarning, stacklevel=4)


def _output_hooks(node: Node, grads: list[Any]) -> None:
    """Hooks registered on the node's output tensors: replacing ones first, retain_grad last."""
    for output_nr, hooks in (node._pre_hooks or {}).items():
        for hook in list(hooks):
            if grads[output_nr] is not None:
                result = hook(grads[output_nr])
                if result is not None:
                    grads[output_nr] = result
    for output_nr, keep in (node._retain_hooks or {}).items():
        if grads[output_nr] is not None:
            keep(grads[output_nr])


def _fit_array(node: Node, edge: Any, grad: Any) -> np.ndarray:
    """A gradient for the input of ``edge`` as an array of that input's dtype; RuntimeError
    (torch's validate_outputs) when its shape differs."""
    grad = _as_array(grad)
    if grad.shape != edge[2]:
        _bad_shape(node, [x is edge for x in node.next_edges].index(True), grad, edge[2])
    return grad if grad.dtype == edge[3] else grad.astype(edge[3])


def _fit_tensor(node: Node, edge: Any, grad: Any) -> Tensor:
    """``_fit_array`` for a Tensor gradient (the dtype cast is recorded)."""
    if not isinstance(grad, Tensor):
        grad = _make(np.asarray(grad))
    if grad._data.shape != edge[2]:
        _bad_shape(node, [x is edge for x in node.next_edges].index(True), grad._data, edge[2])
    return grad if grad._data.dtype == edge[3] else grad.to(edge[3])


def _bad_shape(n: Node, index: int, data: np.ndarray, shape: tuple[int, ...]) -> None:
    raise RuntimeError(
        f"Function {n.name()} returned an invalid gradient at index {index} - got "
        f"{list(data.shape)} but expected shape compatible with {list(shape)}"
    )


def _checked_grads(node: Node, out: tuple[Any, ...], grads: list[Any]) -> list[Any]:
    """The slow path of a node's result (Tensors): count check, shape and dtype fit, then the
    node's hooks on the checked gradients."""
    edges = node.next_edges
    if len(out) != len(edges):
        _check_count(node, out)
        out = out[: len(edges)]
    checked = [
        None if grad is None or not edge else _fit_tensor(node, edge, grad)
        for edge, grad in zip(edges, out)
    ]
    for hook in node._hooks or ():
        hook(tuple(checked), tuple(grads))
    return checked


def _check_count(n: Node, out: tuple[Any, ...]) -> None:
    """torch accepts extra trailing Nones, but not too few gradients or extra non-None ones."""
    n_in = len(n.next_edges)
    if len(out) < n_in or any(g is not None for g in out[n_in:]):
        raise RuntimeError(
            f"function {n.name()} returned an incorrect number of gradients (expected {n_in}, "
            f"got {len(out)})"
        )


class _ARRAYS:  # noqa: N801 - a namespace, used as a value
    """Gradients as NumPy arrays: the walk without ``create_graph`` (nothing is recorded)."""

    records = False
    sums_in_place = True
    run_node = staticmethod(_run_with_arrays)
    fit = staticmethod(_fit_array)

    @staticmethod
    def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        total = a + b  # a NumPy scalar for 0-d operands
        return total if type(total) is np.ndarray else np.asarray(total)

    @staticmethod
    def from_tensor(grad: Any) -> Any:
        return _as_array(grad)

    @staticmethod
    def to_tensor(grad: np.ndarray) -> Tensor:
        return _make(grad)

    @staticmethod
    def to_tensors(grads: Any) -> tuple[Any, ...]:
        return tuple(None if g is None else _make(_as_array(g)) for g in grads)

    @staticmethod
    def to_arrays(grads: Any) -> tuple[Any, ...]:
        return tuple(None if g is None else g._data for g in grads)

    @staticmethod
    def output_hooks(node: Node, grads: list[Any]) -> list[Any]:
        tensor_grads = [None if g is None else _make(g) for g in grads]
        _output_hooks(node, tensor_grads)
        return [None if g is None else _as_array(g) for g in tensor_grads]


class _TENSORS:  # noqa: N801 - a namespace, used as a value
    """Gradients as Tensors: the walk under ``create_graph``, every backward recorded."""

    records = True
    sums_in_place = False
    run_node = staticmethod(_run_recorded)
    fit = staticmethod(_fit_tensor)

    @staticmethod
    def add(a: Tensor, b: Tensor) -> Tensor:
        return a + b

    @staticmethod
    def from_tensor(grad: Tensor) -> Tensor:
        return grad

    @staticmethod
    def to_tensor(grad: Tensor) -> Tensor:
        return grad

    @staticmethod
    def output_hooks(node: Node, grads: list[Any]) -> list[Any]:
        _output_hooks(node, grads)
        return grads


def _accumulate(t: Tensor, entry: _LeafSum, create_graph: bool) -> None:
    """Add the gradient ``entry.grad`` (an array, a Tensor under create_graph) into ``t.grad``
    as torch's AccumulateGrad does, then run ``t``'s post-accumulate-grad hooks;
    ``entry.grad`` is cleared.

    The first time, ``.grad`` takes the array itself when nothing else can see it (torch's
    use-count test: no user variable, hook, other leaf, Tensor or view holds it), a copy
    otherwise; later gradients are added in place. With create_graph: a recorded clone, then
    recorded sums, so the gradient can be differentiated.
    """
    g = entry.grad
    entry.grad = None
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
    del g
    if t._post_accumulate_grad_hooks:
        _post_accumulate_grad_hooks(t, create_graph)


def _post_accumulate_grad_hooks(t: Tensor, create_graph: bool) -> None:
    """``t``'s post-accumulate-grad hooks, in the order registered, under grad mode
    ``create_graph`` (as torch runs them); torch's errors for a hook that returns something other
    than None or the tensor itself."""
    state = grad_mode._state
    prev = state.enabled
    state.enabled = create_graph
    try:
        for hook in list(t._post_accumulate_grad_hooks or ()):
            result = hook(t)
            if result is None or result is t:  # torch accepts the tensor itself (p.add_(...))
                continue
            if not isinstance(result, Tensor):
                raise TypeError(
                    f"expected Variable, but hook returned '{type(result).__name__}'"
                )
            raise RuntimeError("Tensor post accumulate grad hooks should return None.")
    finally:
        state.enabled = prev


if sys.implementation.name == "cpython":

    def _sole_owner(g: np.ndarray) -> bool:
        """Taken out of its holder by ``_accumulate``, an array nobody else holds has exactly
        two references: that function's variable and this argument."""
        return sys.getrefcount(g) <= 3

else:  # pragma: no cover - no reference counts to consult: always copy

    def _sole_owner(g: np.ndarray) -> bool:
        return False
