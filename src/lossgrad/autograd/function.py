"""The Function protocol: torch's spelling, Chainer's semantics.

A ``Function`` subclass defines ``forward(ctx, *args)`` and ``backward(ctx, *grads)``. Calling
``MyFn.apply(*args)`` runs ``forward`` without recording, wraps its outputs as Tensors and, when
grad mode is on and an input requires grad, records one graph node: ``ctx`` *is* that node (an
instance of the class ``MyFnBackward`` made for each Function, which is what ``grad_fn`` shows).

``backward`` receives Tensors and returns Tensors computed with lossgrad ops. The engine runs it
with grad mode set to ``create_graph``, so second derivatives need no extra code: the same
backward, recorded, is differentiated again.

Two flavours of ``forward``:

* the public ``Function`` hands ``forward`` Tensors, as torch does, so user-defined ops written
  for torch run unchanged;
* ``ArrayFunction`` (used by every built-in op) hands ``forward`` the raw arrays and expects arrays
  back, so a fused kernel pays no wrapping cost. ``ctx.save_for_backward`` takes those same arrays
  and ``ctx.saved_tensors`` gives back the Tensors they came from, graph included.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from numpy import asarray, ndarray

from lossgrad.autograd import grad_mode

if TYPE_CHECKING:
    from lossgrad._tensor import Tensor

_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling backward."
)
_MODIFIED_MSG = (
    "one of the variables needed for gradient computation has been modified by an inplace "
    "operation: [{}] is at version {}; expected version {} instead. Hint: the backtrace further "
    "above can help to find the operation that failed to compute its gradient."
)


class _HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list[Any], hook: Any) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class Node:
    """A recorded operation (torch's ``grad_fn``); also the ``ctx`` its Function sees.

    ``next_edges[i]`` is where the gradient of input ``i`` goes: ``(node, output_nr)`` for a
    non-leaf input, ``(tensor, 0)`` for a leaf that requires grad, ``None`` otherwise.
    """

    _forward_cls: type[Function]

    def __init__(self) -> None:
        self.next_edges: tuple[tuple[Any, int] | None, ...] = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self.materialize_grads = True
        self._to_save: tuple[Any, ...] | None = None
        self._saved: list[Any] | None = None
        self._freed = False
        self._non_differentiable: tuple[Any, ...] = ()
        self._out_meta: list[tuple[tuple[int, ...], Any]] = []
        self._in_meta: list[tuple[tuple[int, ...], Any] | None] = []
        self._pre_hooks: dict[int, list[Any]] | None = None
        self._retain_hooks: dict[int, Any] | None = None
        self._hooks: list[Any] = []

    # -- ctx API ------------------------------------------------------------------------------
    def save_for_backward(self, *items: Any) -> None:
        """Keep inputs or outputs (arrays for ArrayFunction, Tensors for Function) for backward."""
        self._to_save = items

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """Declare outputs (e.g. indices) that never carry a gradient."""
        self._non_differentiable = outputs

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        if self._freed:
            raise RuntimeError(_FREED_MSG)
        if not self._saved:
            return ()
        out = []
        for kind, obj, version in self._saved:
            if kind == "out":  # an output of this node: re-attach it to the graph
                idx, arr, vbox = obj
                if vbox[0] != version:
                    raise RuntimeError(_MODIFIED_MSG.format(_describe(arr), vbox[0], version))
                out.append(_output_tensor(arr, self, idx, vbox))
            elif kind == "in":
                if obj._vbox[0] != version:
                    raise RuntimeError(_MODIFIED_MSG.format(_describe(obj._data), obj._vbox[0], version))
                out.append(obj)
            else:
                out.append(obj)
        return tuple(out)

    # -- introspection ------------------------------------------------------------------------
    def name(self) -> str:
        return type(self).__name__

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        out: list[tuple[Any, int]] = []
        for e in self.next_edges:
            if e is None:
                out.append((None, 0))
            elif isinstance(e[0], Node):
                out.append(e)
            else:
                out.append((AccumulateGrad(e[0]), 0))
        return tuple(out)

    def register_hook(self, fn: Callable[..., Any]) -> _HookHandle:
        """``fn(grad_inputs, grad_outputs)`` runs after this node's backward."""
        self._hooks.append(fn)
        return _HookHandle(self._hooks, fn)

    def _release(self) -> None:
        if self._saved:
            self._freed = True
        self._saved = None

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


class AccumulateGrad:
    """The sink of a leaf tensor's gradient, shown in ``next_functions``."""

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable
        self.next_functions: tuple[()] = ()

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


def _describe(arr: Any) -> str:
    return f"torch.{arr.dtype.name.replace('float', 'Float').replace('int', 'Int')}Tensor {list(arr.shape)}"


def _output_tensor(arr: Any, node: Node, idx: int, vbox: list[int]) -> Tensor:
    from lossgrad._tensor import Tensor

    t = Tensor._make(arr, True, node, idx)
    t._vbox = vbox
    return t


class FunctionMeta(type):
    """Gives every Function subclass its node class ``<Name>Backward`` (torch's naming)."""

    def __init__(cls, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> None:
        super().__init__(name, bases, ns)
        node_name = ns.get("node_name") or f"{name.lstrip('_')}Backward"
        cls._backward_cls = type(node_name, (Node,), {"_forward_cls": cls})


class Function(metaclass=FunctionMeta):
    """Base class of differentiable operations written by users (torch.autograd.Function).

    ``forward(ctx, *args)`` receives Tensors (recording is off inside it); ``backward(ctx,
    *grad_outputs)`` returns one gradient (or None) per forward argument.
    """

    _backward_cls: type[Node]
    _array_io = False
    node_name: str | None = None

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for your custom autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        from lossgrad._tensor import Tensor

        node = cls._backward_cls()
        record = grad_mode._state.enabled
        needs = []
        edges: list[tuple[Any, int] | None] = []
        in_meta: list[tuple[tuple[int, ...], Any] | None] = []
        fargs: list[Any] = []
        array_io = cls._array_io
        for a in args:
            if isinstance(a, Tensor):
                fargs.append(a._data if array_io else a)
                if record and a._requires_grad:
                    needs.append(True)
                    edges.append((a.grad_fn, a._output_nr) if a.grad_fn is not None else (a, 0))
                    in_meta.append((a._data.shape, a._data.dtype))
                    continue
            else:
                fargs.append(a)
            needs.append(False)
            edges.append(None)
            in_meta.append(None)
        node.needs_input_grad = tuple(needs)
        if record:
            grad_mode._state.enabled = False
            try:
                raw = cls.forward(node, *fargs)
            finally:
                grad_mode._state.enabled = True
        else:
            raw = cls.forward(node, *fargs)
        single = not isinstance(raw, tuple)
        outs_raw = (raw,) if single else raw
        track = any(needs)
        outs: list[Any] = []
        non_diff = node._non_differentiable
        for i, o in enumerate(outs_raw):
            if o is None or not (isinstance(o, Tensor) or hasattr(o, "shape")):
                outs.append(o)
                continue
            arr = o._data if isinstance(o, Tensor) else (o if type(o) is ndarray else asarray(o))
            diff = track and not any(o is n for n in non_diff) and arr.dtype.kind == "f"
            if isinstance(o, Tensor) and not any(o is a for a in args):
                t = o
                t._requires_grad, t.grad_fn, t._output_nr = diff, (node if diff else None), i
            else:
                t = Tensor._make(arr, diff, node if diff else None, i)
            outs.append(t)
        if track:
            node.next_edges = tuple(edges)
            node._in_meta = in_meta
            node._out_meta = [
                (o._data.shape, o._data.dtype) if isinstance(o, Tensor) else ((), None) for o in outs
            ]
            if node._to_save is not None:
                node._saved = _resolve_saved(node._to_save, args, fargs, outs_raw, outs)
        node._to_save = None
        return outs[0] if single else tuple(outs)


class ArrayFunction(Function):
    """Base of built-in ops: ``forward`` takes and returns raw arrays (see module docstring)."""

    _array_io = True


def _resolve_saved(
    items: tuple[Any, ...], args: tuple[Any, ...], fargs: list[Any], outs_raw: tuple[Any, ...], outs: list[Any]
) -> list[Any]:
    """Map what forward saved back to the Tensors it came from, with their version numbers."""
    from lossgrad._tensor import Tensor

    saved: list[Any] = []
    for item in items:
        if item is None:
            saved.append(("const", None, 0))
            continue
        for a, fa in zip(args, fargs):
            if item is fa and isinstance(a, Tensor):
                saved.append(("in", a, a._vbox[0]))
                break
        else:
            for j, o in enumerate(outs_raw):
                if item is o:
                    t = outs[j]
                    if t.grad_fn is None:
                        saved.append(("const", t, 0))
                    else:
                        saved.append(("out", (j, t._data, t._vbox), t._vbox[0]))
                    break
            else:  # an intermediate: kept as a constant (its own graph is not recorded)
                saved.append(("const", item if isinstance(item, Tensor) else Tensor._make(item), 0))
    return saved


def once_differentiable(backward: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a backward as first-order only: differentiating its result raises RuntimeError."""

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        from lossgrad._tensor import Tensor

        record = grad_mode._state.enabled
        with grad_mode.no_grad():
            result = backward(ctx, *grads)
        if not record or not any(isinstance(g, Tensor) and g.requires_grad for g in grads):
            return result
        single = not isinstance(result, tuple)
        res = (result,) if single else result
        wrapped = tuple(
            _DelayedError.apply(r, *grads) if isinstance(r, Tensor) else r for r in res
        )
        return wrapped[0] if single else wrapped

    return wrapper


class _DelayedError(ArrayFunction):
    node_name = "DelayedError"

    @staticmethod
    def forward(ctx: Any, x: Any, *grads: Any) -> Any:
        return x.copy()

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")
